# ---
# jupyter:
#   jupytext:
#     formats: py:percent
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
# **What you'll do:** time each stage of one encoder layer; compare SqueezeBERT with BERT-base (the same code with
# every group count set to 1, which is exactly BERT's dense layers) over several sequence lengths; time a single
# convolution as its group count grows.
#
# **What you'll learn:** that the grouped convolutions shrink the matrix products but not the elementwise work
# (GELU, LayerNorm, softmax), so the measured speed-up is smaller than the FLOP ratio; that `g` small matmuls are
# less efficient than one big one; how to time code honestly on a shared machine (warm-up, best of a few runs).
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
# ## SqueezeBERT vs BERT-base over sequence length
#
# One layer at a time (the encoder is 12 identical layers; embeddings and pooler are the same in both models and
# small), for a few lengths, against the ratio of their FLOPs:

# %%
def layer_flops(c, W):                                       # multiply-adds x 2 of one layer (notebook 03)
    h, i = c.hidden_size, c.intermediate_size
    convs = h * h * (1 / c.q_groups + 1 / c.k_groups + 1 / c.v_groups + 1 / c.post_attention_groups) \
        + h * i * (1 / c.intermediate_groups + 1 / c.output_groups)
    return 2 * (W * convs + 2 * W * W * h)

lengths = [32, 64, 128, 256]
latency = {name: [] for name in models}
for W_ in lengths:
    for name, model in models.items():
        x = np.random.default_rng(0).standard_normal((1, 768, W_), dtype=np.float32)
        latency[name].append(12 * best_time(lambda: model.encoder.layers[0](x, None), repeats=2))
flop_ratio = [layer_flops(models["BERT-base"].config, w) / layer_flops(models["SqueezeBERT"].config, w)
              for w in lengths]
assert abs(flop_ratio[lengths.index(128)] - 22.35 / 7.40) < 0.01

# %%
speedup = np.array(latency["BERT-base"]) / np.array(latency["SqueezeBERT"])
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
for name in models:
    ax1.plot(lengths, 1e3 * np.array(latency[name]), "o-", label=name)
ax1.set_xlabel("sequence length W"), ax1.set_ylabel("encoder ms (12 layers, N=1)"), ax1.legend()
ax2.plot(lengths, flop_ratio, "k--", label="FLOP ratio")
ax2.plot(lengths, speedup, "o-", color="C2", label="measured speed-up")
ax2.set_xlabel("sequence length W"), ax2.set_ylabel("BERT-base / SqueezeBERT"), ax2.set_ylim(0, 3.5)
ax2.legend()
plt.tight_layout()
print("measured speed-up:", {w: round(float(r), 2) for w, r in zip(lengths, speedup)},
      " FLOP ratio:", {w: round(r, 2) for w, r in zip(lengths, flop_ratio)})

# %% [markdown]
# The FLOP ratio falls slowly with length (attention's `W²` matmuls are the same in both models and matter more for
# long inputs). The measured speed-up of the readable layers sits far below it, for the reason the stage chart
# showed: the elementwise work, GELU above all, does not shrink. (If the measured curve is erratic or dips below 1,
# the machine was busy: rerun, or use `benchmarks/`.)
#
# ## One convolution, more and more groups
#
# A 768 → 768 1x1 conv at W = 128, with 1 to 16 groups. Ideally the time falls as `1/g`, like the FLOPs:

# %%
group_counts = [1, 2, 4, 8, 16]
x = np.random.default_rng(0).standard_normal((1, 768, 128), dtype=np.float32)
conv_time = []
for g in group_counts:
    weight = np.random.default_rng(g).standard_normal((768, 768 // g, 1), dtype=np.float32)
    bias = np.zeros(768, np.float32)
    conv_time.append(best_time(lambda: F.grouped_conv1x1(x, weight, bias, g), repeats=5))
print({g: f"{1e3 * t:.2f} ms" for g, t in zip(group_counts, conv_time)})
assert conv_time[group_counts.index(4)] < conv_time[0], "4 groups (1/4 of the FLOPs) should beat 1 group"
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(group_counts, 1e3 * np.array(conv_time), "o-", label="measured")
ax.plot(group_counts, [1e3 * conv_time[0] / g for g in group_counts], "k--", label="ideal: 1/g")
ax.set_xscale("log", base=2), ax.set_xticks(group_counts, [str(g) for g in group_counts])
ax.set_xlabel("groups g"), ax.set_ylabel("ms"), ax.set_ylim(0), ax.legend()
plt.tight_layout()

# %% [markdown]
# The measured line flattens: each group is a smaller matrix product (`[768/g, 768/g] @ [768/g, 128]`), and small
# products cannot keep a CPU's vector units as busy as one large one; the fixed cost of each call and of moving the
# data stays. That is the trade SqueezeBERT makes: on the phone CPUs the paper targeted, 4 groups still paid off
# (4.3x over BERT-base on a Pixel 3), and, as this curve suggests, more groups give less and less.
#
# ## The package's default path
#
# `squeezebert_np` computes exactly these numbers (notebook 05), but a model call may take a path rearranged for
# speed (`squeezebert_np/fast.py`): the tokens of whole sequences side by side as one wide matrix, processed in
# blocks with reused buffers (no copies, no fresh memory in every layer), and a float32 GELU that is accurate to a
# few 1e-7 but many times cheaper; with several threads and several sequences, each core takes its own sequences
# through all 12 layers. The whole forward, embeddings to pooler, as a user calls it, against the sum of 12
# readable layers from above:

# %%
ids = np.random.default_rng(0).integers(1000, 30000, (1, 128))
whole = {name: best_time(lambda: model(ids), repeats=2) for name, model in models.items()}
readable = {name: 12 * profile[name]["whole layer"] for name in models}
for name in models:
    print(f"{name:12} model(ids): {1e3 * whole[name]:7.1f} ms;  12 readable layers: {1e3 * readable[name]:7.1f} ms")
print(f"speed-up of the whole forward: {whole['BERT-base'] / whole['SqueezeBERT']:.2f}x; "
      f"of the readable layers: {readable['BERT-base'] / readable['SqueezeBERT']:.2f}x; FLOPs: {22.35 / 7.40:.2f}x")

# %% [markdown]
# Make the elementwise work cheap, and the grouped convolutions' savings show: the faster the rest of the layer,
# the closer the speed-up gets to the FLOP ratio (the paper's 4.3x on a phone also reflects that phone's CPU and
# software).
#
# ## What we measured
#
# - Grouping divides a convolution's FLOPs by `g`, but its time by less than `g`: small matrix products are less
#   efficient.
# - The elementwise stages (GELU, LayerNorm, softmax) and attention's own matmuls are the same in both models, so
#   they take a larger share of SqueezeBERT's time: the measured speed-up is below the 3.0x FLOP ratio, and far
#   below it when, as with the readable float64 GELU, the elementwise work dominates.
# - Timing on a shared machine: warm up, take the best of a few runs, and distrust a single number.
#
# That is the end of the course: tokenizer (01), checkpoint files (02), grouped convolutions (03), attention (04),
# the whole model against PyTorch (05), the heads (06), and speed (07).
