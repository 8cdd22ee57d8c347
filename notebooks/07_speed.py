# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 07 · Speed: where the time goes, and SqueezeBERT vs BERT-base in NumPy
#
# Notebook 03 counted 7.40 GFLOP for SqueezeBERT against 22.35 for BERT-base, a factor of 3. The paper measured
# 4.3x on a Pixel 3 phone. Here we measure what the factor is on this machine, in NumPy, and take a forward pass
# apart to see why it is what it is.
#
# **Before this:** 03 (FLOP counts) and 05 (the layer's stages). **Time:** about 25 minutes; no exercise (the timings
# take about half a minute). **Leaves for the next lesson:** the inference side complete; 08 turns to training.
#
# **What you'll do:** time each stage of one encoder layer; compare SqueezeBERT with BERT-base (the same code with
# every group count set to 1, which is exactly BERT's dense layers) over several sequence lengths; time a single
# convolution as its group count grows.
#
# **What you'll learn:** that the grouped convolutions shrink the matrix products but not the elementwise work
# (GELU, LayerNorm, softmax), so the measured speed-up is smaller than the FLOP ratio; why a speed-up can also be
# larger than the FLOP ratio (the paper's 4.3x against 3x); that a grouped conv's time falls nearly as `1/g`; how to
# time code honestly on a shared machine (warm-up, best of a few runs, medians of paired ratios).
#
# **What you'll need:** `squeezebert_np`, `matplotlib`. No weights: random weights run exactly as fast as trained
# ones. The repeats are kept small so the notebook runs in seconds; the numbers are noisy, and on a busy machine
# they can be very noisy. `benchmarks/` in the repository measures the same things more carefully.

# %%
import os
import time

import matplotlib.pyplot as plt
import numpy as np

from squeezebert_np import SqueezeBertConfig, SqueezeBertModel
from squeezebert_np import functional as F

threads = {k: os.environ.get(k, "unset") for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, {threads}")

# %% [markdown]
# With the thread counts unset, OpenBLAS uses every core. The tests run this notebook with `OPENBLAS_NUM_THREADS=1`:
# one thread per matrix product gives much steadier numbers on a machine that is busy with other work (BLAS threads
# that have to wait for a core are slow to synchronise). To do the same in Jupyter, start it with that variable set.

# %%
def best_time(fn, repeats=3):
    """Seconds for one call of fn: the best of a few runs after a warm-up. The minimum is the run least
    disturbed by everything else the machine was doing; the first call pays for page faults and caches."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)

# %% [markdown]
# ## The two models
#
# SqueezeBERT's official configuration, and BERT-base written as a SqueezeBERT whose six convolutions all have one
# group (notebook 03 showed that this is BERT-base, parameter for parameter and FLOP for FLOP). Weights are
# transformers-style random initialisations: speed does not depend on their values.

# %%
dense_groups = dict(q_groups=1, k_groups=1, v_groups=1, post_attention_groups=1, intermediate_groups=1,
                    output_groups=1)
models = {"SqueezeBERT": SqueezeBertModel(SqueezeBertConfig(vocab_size=30528), seed=0),
          "BERT-base": SqueezeBertModel(SqueezeBertConfig(vocab_size=30522, **dense_groups), seed=0)}
for name, model in models.items():
    c = model.config
    print(f"{name:12} groups q/k/v/post/intermediate/output = {c.q_groups}/{c.k_groups}/{c.v_groups}/"
          f"{c.post_attention_groups}/{c.intermediate_groups}/{c.output_groups}")

# %% [markdown]
# ## Where the time goes in one `SqueezeBertModule`
#
# We run layer 0 once to get every intermediate tensor, then time each stage on its own inputs, using the package's
# readable functions. One sequence (`N = 1`) of `W = 128` tokens, the length the paper's FLOPs are quoted for.

# %%
def stage_inputs(model, W):
    layer = model.encoder.layers[0]
    x = np.random.default_rng(0).standard_normal((1, model.config.hidden_size, W), dtype=np.float32)
    att = layer.attention
    q, k, v = att.query(x), att.key(x), att.value(x)
    ctx, _ = F.attention(q, k, v, None, att.num_attention_heads)
    post = layer.post_attention(ctx, x)
    before_gelu = layer.intermediate.conv1d(post)
    h = F.gelu(before_gelu)
    y = layer.output(h, post)
    assert np.allclose(y, layer(x, None)[0], atol=1e-5)          # the stages make up the whole layer
    return layer, dict(x=x, q=q, k=k, v=v, ctx=ctx, post=post, before_gelu=before_gelu, h=h)

# %% [markdown]
# The stages, in two kinds: matrix products (the convolutions and attention's two matmuls, which BLAS runs) and
# elementwise work (softmax inside attention, the residual adds and LayerNorms, GELU).

# %%
def stages(layer, t):
    att, ln = layer.attention, layer.post_attention.layernorm
    residual_ln = lambda y: F.layer_norm((y + t["x"]).transpose(0, 2, 1), ln.weight, ln.bias, 1e-12)
    conv_out = layer.post_attention.conv1d(t["ctx"])
    return {"Q, K, V convs": lambda: (att.query(t["x"]), att.key(t["x"]), att.value(t["x"])),
            "attention (QK, softmax, PV)": lambda: F.attention(t["q"], t["k"], t["v"], None, att.num_attention_heads),
            "post-attention conv": lambda: layer.post_attention.conv1d(t["ctx"]),
            "intermediate conv": lambda: layer.intermediate.conv1d(t["post"]),
            "GELU": lambda: F.gelu(t["before_gelu"]),
            "output conv": lambda: layer.output.conv1d(t["h"]),
            "2 x (residual + LayerNorm)": lambda: (residual_ln(conv_out), residual_ln(conv_out))}

# %%
W = 128
profile = {}
for name, model in models.items():
    layer, tensors = stage_inputs(model, W)
    profile[name] = {stage: best_time(fn, repeats=5) for stage, fn in stages(layer, tensors).items()}
    profile[name]["whole layer"] = best_time(lambda: layer(tensors["x"], None))
print(f"{'ms per layer (share)':30} {'SqueezeBERT':>16} {'BERT-base':>16}")
for stage in profile["SqueezeBERT"]:
    cells = [f"{1e3 * p[stage]:8.2f} ({p[stage] / p['whole layer']:4.0%})" for p in profile.values()]
    print(f"{stage:30} {cells[0]:>16} {cells[1]:>16}")

# %%
fig, ax = plt.subplots(figsize=(9, 3.6))
names = [s for s in profile["SqueezeBERT"] if s != "whole layer"]
y = np.arange(len(names))
for offset, (name, color) in zip([-0.2, 0.2], [("SqueezeBERT", "C0"), ("BERT-base", "C1")]):
    ax.barh(y + offset, [1e3 * profile[name][s] for s in names], height=0.4, color=color, label=name)
ax.set_yticks(y, names)
ax.invert_yaxis()
ax.set_xlabel(f"ms per layer (N=1, W={W}; x12 layers for the encoder)")
ax.legend()
plt.tight_layout()

# %% [markdown]
# Read the chart as two groups. The **convolutions** follow their FLOPs: each grouped one (Q, K, V, intermediate,
# output) takes a fraction of its dense twin's time, though rarely exactly a quarter, and the post-attention conv,
# dense in both models, costs the same. Everything else is **the same size in both models** and costs the same:
# attention's matmuls and softmax, the residual adds and LayerNorms, and GELU over `3072 × W` values. GELU is the
# surprise (look at its share in the table): the package's readable `functional.gelu` computes an exact `erf` in
# float64, one NumPy pass after another over 393,216 values, and that typically costs more than all the matrix
# products of the layer together. By Amdahl's law, shrinking the matmuls by 4 then hardly changes the total.
#
# ## SqueezeBERT vs BERT-base, the whole forward as a user calls it
#
# The readable layers above spend most of their time in the float64 GELU, which would hide what grouping does.
# A model call takes the package's fast path (`squeezebert_np/fast.py`), which computes the same numbers
# (notebook 05 and the tests check it) with the elementwise work made cheap: a float32 GELU accurate to a few 1e-7,
# the tokens of whole sequences side by side as one wide matrix, reused buffers. We time `model(ids)`, embeddings
# to pooler, for a few lengths. On a shared machine single timings are unreliable, so the two models run in
# alternation and we take the **median of the per-pair ratios**: a burst of other work slows both runs of a pair.

# %%
def once(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start

lengths, pairs = [32, 64, 128, 256], 5
latency, speedup = {name: [] for name in models}, []
for W_ in lengths:
    ids = np.random.default_rng(0).integers(1000, 30000, (1, W_))
    runs = np.array([[once(lambda: m(ids)) for m in models.values()] for _ in range(pairs + 1)])[1:]  # 1st: warm-up
    for name, column in zip(models, runs.T):
        latency[name].append(np.median(column))
    speedup.append(float(np.median(runs[:, 1] / runs[:, 0])))      # BERT-base / SqueezeBERT, pair by pair

# %% [markdown]
# Against the ratio of their FLOPs (notebook 03's count: convolutions plus attention's two matmuls):

# %%
def layer_flops(c, W):                                       # multiply-adds x 2 of one layer (notebook 03)
    h, i = c.hidden_size, c.intermediate_size
    convs = h * h * (1 / c.q_groups + 1 / c.k_groups + 1 / c.v_groups + 1 / c.post_attention_groups) \
        + h * i * (1 / c.intermediate_groups + 1 / c.output_groups)
    return 2 * (W * convs + 2 * W * W * h)

flop_ratio = [layer_flops(models["BERT-base"].config, w) / layer_flops(models["SqueezeBERT"].config, w)
              for w in lengths]
assert abs(flop_ratio[lengths.index(128)] - 22.35 / 7.40) < 0.01
readable = profile["BERT-base"]["whole layer"] / profile["SqueezeBERT"]["whole layer"]
print("speed-up, model(ids):", {w: round(r, 2) for w, r in zip(lengths, speedup)})
print("FLOP ratio:          ", {w: round(r, 2) for w, r in zip(lengths, flop_ratio)})
print(f"speed-up of one readable layer (float64 GELU) at W={W}: {readable:.2f}")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
for name in models:
    ax1.plot(lengths, 1e3 * np.array(latency[name]), "o-", label=name)
ax1.set_xlabel("sequence length W"), ax1.set_ylabel("model(ids) ms, N=1 (median)"), ax1.legend()
ax2.plot(lengths, flop_ratio, "k--", label="FLOP ratio")
ax2.plot(lengths, speedup, "o-", color="C2", label="measured speed-up (median of pairs)")
ax2.axhline(readable, color="C3", lw=1, label=f"readable layer, W={W}")
ax2.set_xlabel("sequence length W"), ax2.set_ylabel("BERT-base / SqueezeBERT"), ax2.set_ylim(0, 4.6)
ax2.axhline(4.3, color="grey", lw=1, ls=":", label="paper, Pixel 3, W=128")
ax2.legend(fontsize=8)
plt.tight_layout()

# %% [markdown]
# ## 3x the FLOPs, less than 3x here, 4.3x in the paper
#
# Time is FLOPs divided by the rate at which they run, so
#
# &nbsp;&nbsp;&nbsp;&nbsp;speed-up = FLOP ratio × (SqueezeBERT's FLOP rate / BERT-base's FLOP rate).
#
# The speed-up equals the FLOP ratio only if both models run their FLOPs equally fast. They need not, either way:

# %%
i = lengths.index(128)
efficiency = speedup[i] / flop_ratio[i]
untouched = (1 / speedup[i] - 1 / flop_ratio[i]) / (1 - 1 / flop_ratio[i])
print(f"here, W=128: {speedup[i]:.2f}x = {flop_ratio[i]:.2f} (FLOPs) x {efficiency:.2f} (rate ratio)")
print(f"paper, Pixel 3, W=128: 4.3x = {22.35 / 7.40:.2f} (FLOPs) x {4.3 / (22.35 / 7.40):.2f} (rate ratio)")
print(f"Amdahl: a speed-up of {speedup[i]:.2f} means that about {untouched:.0%} of BERT-base's time goes to "
      "work that grouping does not shrink")

# %% [markdown]
# **Below the FLOP ratio (here).** Grouping shrinks only the six convolutions. Everything else is the same size in
# both models: attention's `W²` matmuls and softmax, the residual adds and LayerNorms, GELU, the embeddings, the
# pooler. If a fraction `f` of BERT-base's time goes to that untouched work, Amdahl's law gives a speed-up of
# `1 / (f + (1 - f) / 3)`; the line above solves it for `f` from the measurement. The untouched work is a bigger
# share of SqueezeBERT's time, so its FLOPs run at a lower average rate, and the rate ratio is below 1. The readable
# layers show the extreme case: there the float64 GELU alone takes most of the time and the speed-up nearly vanishes.
#
# **Above the FLOP ratio (the paper).** Iandola et al. measured 4.3x on a Pixel 3 phone at 128 tokens, with their
# PyTorch implementation. For that, SqueezeBERT must have run its FLOPs about 1.4x *faster* than BERT-base did on
# that phone: the dense BERT layers (`nn.Linear`) and SqueezeBERT's grouped convolutions went through different
# kernels on a different CPU, and anything that makes the big dense products slower per FLOP there (the software's
# kernels, caches, memory traffic: BERT-base has twice the weights to stream) moves the ratio up. Neither this
# machine nor this notebook can measure that phone; what the arithmetic shows is that a FLOP ratio is a count of
# work, and a speed-up is a property of the work *and* of the machine and library running it.
#
# ## One convolution, more and more groups
#
# A 768 → 768 1x1 conv at W = 128, with 1 to 16 groups, against the ideal `1/g` that the FLOPs predict:

# %%
group_counts = [1, 2, 4, 8, 16]
x = np.random.default_rng(0).standard_normal((1, 768, 128), dtype=np.float32)
conv_time = []
for g in group_counts:
    weight = np.random.default_rng(g).standard_normal((768, 768 // g, 1), dtype=np.float32)
    bias = np.zeros(768, np.float32)
    conv_time.append(best_time(lambda: F.grouped_conv1x1(x, weight, bias, g), repeats=5))
print({g: f"{1e3 * t:.2f} ms" for g, t in zip(group_counts, conv_time)})
print("time x g / time at g=1 (1.0 = exactly 1/g):", [round(t * g / conv_time[0], 2) for g, t in
                                                       zip(group_counts, conv_time)])
assert conv_time[group_counts.index(4)] < conv_time[0], "4 groups (1/4 of the FLOPs) should beat 1 group"

# %%
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(group_counts, 1e3 * np.array(conv_time), "o-", label="measured")
ax.plot(group_counts, [1e3 * conv_time[0] / g for g in group_counts], "k--", label="ideal: 1/g")
ax.set_xscale("log", base=2), ax.set_yscale("log")
ax.set_xticks(group_counts, [str(g) for g in group_counts])
ax.set_xlabel("groups g"), ax.set_ylabel("ms (log scale)"), ax.legend()
plt.tight_layout()

# %% [markdown]
# On a quiet machine the measured times sit close to the ideal line, within a small factor even at 16 groups
# (the second printed row: 1.0 would be exactly `1/g`; a busy machine scatters it). The package computes a grouped
# conv as **one** batched matmul, `[g, 768/g, 768/g] @ [g, 768/g, 128]`, so there is no per-group call overhead,
# and even 16 groups leave 48 × 48 blocks times 128 columns, big enough for BLAS to run at much the same rate.
# Grouping a convolution does buy its FLOPs back as time. What limits SqueezeBERT's whole-model speed-up is the
# other work, above, not the grouped products. And what stops SqueezeBERT from using more groups is accuracy, not
# speed: with `g` groups each output channel sees only `1/g` of the input channels (notebook 03).
#
# ## What we measured
#
# - Grouping divides a convolution's FLOPs by `g`, and at these sizes its time by nearly `g` too.
# - The elementwise stages (GELU, LayerNorm, softmax), attention's own matmuls, the embeddings and the pooler are
#   the same in both models, so they take a larger share of SqueezeBERT's time: on the fast path the measured
#   speed-up is below the 3.0x FLOP ratio, and on the readable path, whose float64 GELU dominates, far below it.
# - A speed-up is the FLOP ratio times the ratio of FLOP rates: below 1 here, about 1.4 on the paper's phone (4.3x).
# - Timing on a shared machine: warm up, take the best of a few runs, and distrust a single number.
#
# That completes inference: tokenizer (01), checkpoint files (02), grouped convolutions (03), attention (04), the
# whole model against PyTorch (05), the heads (06), and speed (07). Next, **08**: the backward pass, for training.
