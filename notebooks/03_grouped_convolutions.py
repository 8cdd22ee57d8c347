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
# # 03 · Grouped 1x1 convolutions: SqueezeBERT's one idea
#
# BERT's encoder is made of position-wise dense layers: the same matrix applied to every token's vector. SqueezeBERT
# (Iandola et al., 2020) writes each of them as a 1x1 convolution over the sequence, and then, borrowing from
# computer vision, makes most of them **grouped**: the channels are split into `g` groups and each output group
# only sees its own input group. That cuts parameters and FLOPs of the layer by `g`.
#
# **Before this:** NumPy matmul and reshapes; what a dense (fully connected) layer computes. **Time:** about 25
# minutes, 15 for the exercise. **Leaves for the next lesson:** the grouped convs that build Q, K and V in 04, and the
# FLOP counts that 07 measures.
#
# **What you'll do:** compute a grouped 1x1 `Conv1d` three ways (a loop, a block-diagonal matrix, a
# reshape-and-matmul) and check them against `squeezebert_np` and PyTorch; draw the block-diagonal weights of a
# real-size layer; count the parameters and FLOPs of SqueezeBERT and BERT-base from their configs.
#
# **What you'll learn:** that a grouped 1x1 conv *is* a dense layer with a block-diagonal weight; where
# SqueezeBERT's 51.1M parameters (vs 109M) and 7.40 GFLOP per 128-token sequence (vs 22.35) come from.
#
# **What you'll need:** `squeezebert_np`, `matplotlib`. Optional: `torch` and `transformers`, for PyTorch's own
# convolution, parameter counts and FLOP counter (skipped with a message without them). No weights.

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np

from squeezebert_np import SqueezeBertConfig, SqueezeBertModel
from squeezebert_np import functional as F
from squeezebert_np.synthetic import synthetic_value

rng = np.random.default_rng(0)

# %% [markdown]
# ## `nn.Conv1d(cin, cout, kernel_size=1, groups=g)`
#
# Inside SqueezeBERT's encoder the activations are laid out **[N, C, W]**: batch, channels (hidden size), width
# (sequence length). A 1x1 convolution mixes channels at each position separately, like BERT's `nn.Linear` applied
# to every token. Its weight is `[Cout, Cin / g, 1]`: output channel `o` belongs to group `j = o // (Cout / g)` and
# reads only the `Cin / g` input channels of group `j`. First, literally that, one output channel at a time:

# %%
def conv_loop(x, weight, bias, groups):             # [N, Cin, W], [Cout, Cin/g, 1], [Cout] -> [N, Cout, W]
    n, c_in, w = x.shape
    c_out = weight.shape[0]
    y = np.empty((n, c_out, w), np.float32)
    for o in range(c_out):
        j = o // (c_out // groups)                                   # the group of output channel o
        inputs = x[:, j * c_in // groups:(j + 1) * c_in // groups]   # [N, Cin/g, W]: all it may read
        y[:, o] = (weight[o, :, 0, None] * inputs).sum(axis=1) + bias[o]
    return y

# %% [markdown]
# ## The same layer as a block-diagonal matrix
#
# Put each group's `[Cout/g, Cin/g]` slice of the weight on the diagonal of a `[Cout, Cin]` matrix of zeros: the
# grouped conv is then an ordinary dense layer, `y = W_dense @ x + b` at every position. With `g = 1` the block *is*
# the whole matrix, which is why SqueezeBERT with every group count set to 1 is exactly BERT.

# %%
def block_diagonal(weight, groups):                 # [Cout, Cin/g, 1] -> [Cout, Cin]
    c_out, c_in_g, _ = weight.shape
    dense = np.zeros((c_out, c_in_g * groups), weight.dtype)
    for j in range(groups):
        rows = slice(j * c_out // groups, (j + 1) * c_out // groups)
        dense[rows, j * c_in_g:(j + 1) * c_in_g] = weight[rows, :, 0]
    return dense

# %% [markdown]
# ## ... and as a reshape and one batched matmul
#
# Nobody needs to multiply by all those zeros. Split the channel axis into `(g, C/g)`, do `g` small matmuls at once
# (NumPy's `@` broadcasts over the leading axes), and merge the axes back. This is how `squeezebert_np` computes it.

# %%
def conv_reshape(x, weight, bias, groups):          # [N, Cin, W], [Cout, Cin/g, 1], [Cout] -> [N, Cout, W]
    n, c_in, w = x.shape
    c_out = weight.shape[0]
    wg = weight.reshape(groups, c_out // groups, c_in // groups)     # [g, Cout/g, Cin/g]
    xg = x.reshape(n, groups, c_in // groups, w)                     # [N, g, Cin/g, W]
    return (wg @ xg).reshape(n, c_out, w) + bias[:, None]            # [N, g, Cout/g, W] -> [N, Cout, W]

# %% [markdown]
# All three against the package's `functional.grouped_conv1x1`, for a few shapes and group counts, including the
# intermediate layer's shape (768 → 3072 channels in 4 groups) at 128 tokens. (Note the `np.float32(np.sqrt(...))`:
# `np.sqrt` of a Python int is a float64 scalar, and dividing a float32 array by it would silently make the whole
# computation float64. The package is float32 end to end, as PyTorch is, and we assert it.)

# %%
for n, c_in, c_out, w, g in [(2, 12, 12, 5, 1), (2, 12, 12, 5, 4), (3, 12, 24, 7, 3), (1, 768, 3072, 128, 4)]:
    x = rng.standard_normal((n, c_in, w), dtype=np.float32)
    weight = rng.standard_normal((c_out, c_in // g, 1), dtype=np.float32) / np.float32(np.sqrt(c_in // g))
    bias = rng.standard_normal(c_out, dtype=np.float32)
    package = F.grouped_conv1x1(x, weight, bias, g)
    assert package.shape == (n, c_out, w) and package.dtype == np.float32
    for name, y in [("loop", conv_loop(x, weight, bias, g)), ("reshape", conv_reshape(x, weight, bias, g)),
                    ("block-diagonal", block_diagonal(weight, g) @ x + bias[:, None])]:
        assert np.allclose(y, package, atol=1e-4), name
    print(f"x {x.shape} -> y {package.shape}, groups={g}: loop, block-diagonal and reshape all agree")

# %% [markdown]
# And against PyTorch's own grouped convolution, the operation transformers' `modeling_squeezebert.py` calls:

# %%
try:
    import torch
except ImportError:
    torch = None
    print("torch is not installed: skipping the comparison with torch.nn.functional.conv1d")
if torch is not None:
    x = rng.standard_normal((2, 768, 16), dtype=np.float32)
    weight = rng.standard_normal((768, 192, 1), dtype=np.float32) / np.float32(np.sqrt(192))
    bias = rng.standard_normal(768, dtype=np.float32)
    theirs = torch.nn.functional.conv1d(torch.from_numpy(x), torch.from_numpy(weight), torch.from_numpy(bias),
                                        groups=4).numpy()
    diff = np.abs(F.grouped_conv1x1(x, weight, bias, 4) - theirs).max()
    print(f"max |numpy - torch| = {diff:.1e}")
    assert diff < 1e-5

# %% [markdown]
# ## What the weights look like
#
# The three kinds of 1x1 conv in one official-size SqueezeBERT layer, drawn as their dense `[Cout, Cin]` matrices
# (synthetic values, each pixel the mean |weight| of a 16x16 tile; the pattern of zeros is the architecture, the same
# for the trained weights). Q, K and V and the two feed-forward convs use 4 groups; the convolution after attention
# is dense (`post_attention_groups=1`).

# %%
layer = "encoder.layers.0."
convs = [("attention.query", 768, 768, 4), ("post_attention.conv1d", 768, 768, 1),
         ("intermediate.conv1d", 768, 3072, 4)]
fig, axes = plt.subplots(1, 3, figsize=(12, 4.5), gridspec_kw={"width_ratios": [1, 1, 1]})
for ax, (name, c_in, c_out, g) in zip(axes, convs):
    weight = synthetic_value(layer + name + ".weight", (c_out, c_in // g, 1), seed=0)
    dense = block_diagonal(weight, g)
    tiles = np.abs(dense).reshape(c_out // 16, 16, c_in // 16, 16).mean(axis=(1, 3))   # mean |w| per 16x16 tile
    ax.imshow(tiles, cmap="Greys", vmin=0, aspect="auto", interpolation="nearest", extent=(0, c_in, c_out, 0))
    ax.set_title(f"{name}\n[{c_out}, {c_in}], groups={g}: {np.count_nonzero(dense) / dense.size:.0%} non-zero")
    ax.set_xlabel("input channel")
axes[0].set_ylabel("output channel")
plt.tight_layout()

# %% [markdown]
# ## Parameters: 51.1M vs 109M
#
# Count them from a config. A conv `Cin → Cout` in `g` groups has `Cout · Cin / g` weights and `Cout` biases; each
# LayerNorm has a gain and a bias per channel; the embeddings are three tables plus a LayerNorm; the pooler is one
# dense `C → C` layer.

# %%
def count_parameters(c):                            # SqueezeBertConfig -> {part: number of parameters}
    h, i = c.hidden_size, c.intermediate_size
    conv = lambda c_in, c_out, g: c_out * c_in // g + c_out
    layer = (conv(h, h, c.q_groups) + conv(h, h, c.k_groups) + conv(h, h, c.v_groups)
             + conv(h, h, c.post_attention_groups) + conv(h, i, c.intermediate_groups)
             + conv(i, h, c.output_groups) + 2 * 2 * h)                  # + two LayerNorms
    embeddings = (c.vocab_size + c.max_position_embeddings + c.type_vocab_size) * h + 2 * h
    return {"embeddings": embeddings, "encoder": c.num_hidden_layers * layer, "pooler": h * h + h}

# %% [markdown]
# SqueezeBERT's official `config.json` is the class defaults with `vocab_size=30528` (30,522 rounded up to a
# multiple of 8). BERT-base is the same network with every group count set to 1 and BERT's 30,522-row vocabulary.

# %%
squeezebert = SqueezeBertConfig(vocab_size=30528)
dense_groups = dict(q_groups=1, k_groups=1, v_groups=1, post_attention_groups=1, intermediate_groups=1,
                    output_groups=1)
bert_base = SqueezeBertConfig(vocab_size=30522, **dense_groups)
for name, c in [("SqueezeBERT", squeezebert), ("BERT-base", bert_base)]:
    parts = count_parameters(c)
    built = SqueezeBertModel(c, state_dict=SqueezeBertModel.BUILD_ONLY).state_dict()   # shapes only
    assert sum(parts.values()) == sum(a.size for a in built.values())
    print(f"{name:12} {sum(parts.values()):>12,} = " + " + ".join(f"{v:,} {k}" for k, v in parts.items()))
params_sq, params_bert = sum(count_parameters(squeezebert).values()), sum(count_parameters(bert_base).values())
assert round(params_sq / 1e6, 1) == 51.1 and round(params_bert / 1e6) == 109

# %% [markdown]
# Almost half of SqueezeBERT's parameters are the embedding tables, which cost no FLOPs (a lookup). The encoder
# shrinks from 85M to 27M. The same counts from transformers' own classes, built on PyTorch's `meta` device (shapes,
# no memory):

# %%
try:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")             # transformers' progress bars want ipywidgets; we don't
        import transformers
except ImportError:
    transformers = None
    print("transformers is not installed: skipping the parameter counts of its models")
if torch is not None and transformers is not None:
    with torch.device("meta"):
        hf_squeezebert = transformers.SqueezeBertModel(transformers.SqueezeBertConfig(vocab_size=30528))
        hf_bert = transformers.BertModel(transformers.BertConfig())         # bert-base-uncased's config
    n_sq, n_bert = (sum(p.numel() for p in m.parameters()) for m in (hf_squeezebert, hf_bert))
    print(f"transformers: SqueezeBertModel {n_sq:,}, BertModel {n_bert:,}")
    assert (n_sq, n_bert) == (params_sq, params_bert)

# %% [markdown]
# ## FLOPs per 128-token sequence: 7.40 vs 22.35 GFLOP
#
# Count multiply-adds (× 2 for FLOPs) of everything that is a matrix product, per layer: the six convs, each
# `W · Cin · Cout / g`, and attention's two matmuls, `Q Kᵀ` and `P V`, each `W · W · C` over all heads together.
# LayerNorm, softmax, GELU and the pooler are O(W · C) and left out (the pooler is 1.2 MFLOP; we check that below).

# %%
def forward_flops(c, w=128):                        # -> {part: FLOPs} for one sequence of w tokens
    h, i, layers = c.hidden_size, c.intermediate_size, c.num_hidden_layers
    macs = {"Q, K, V convs": w * h * h * (1 / c.q_groups + 1 / c.k_groups + 1 / c.v_groups),
            "post-attention conv": w * h * h / c.post_attention_groups,
            "feed-forward convs": w * h * i * (1 / c.intermediate_groups + 1 / c.output_groups),
            "attention matmuls": 2 * w * w * h}
    return {part: 2 * layers * m for part, m in macs.items()}

for name, c in [("SqueezeBERT", squeezebert), ("BERT-base", bert_base)]:
    flops = forward_flops(c)
    print(f"{name:12} {sum(flops.values()) / 1e9:6.2f} GFLOP = "
          + " + ".join(f"{v / 1e9:.2f} {k}" for k, v in flops.items()))
flops_sq, flops_bert = sum(forward_flops(squeezebert).values()), sum(forward_flops(bert_base).values())
assert (round(flops_sq / 1e9, 2), round(flops_bert / 1e9, 2)) == (7.40, 22.35)
print(f"BERT-base / SqueezeBERT = {flops_bert / flops_sq:.2f}x the FLOPs")

# %% [markdown]
# Check the counting against PyTorch's `FlopCounterMode`, which counts every matmul and convolution that runs, on
# one transformers layer of each kind (`SqueezeBertModule`, and for BERT-base transformers' own `BertLayer`, not
# our groups=1 stand-in) times 12 layers:

# %%
if torch is not None and transformers is not None:
    from torch.utils.flop_counter import FlopCounterMode
    from transformers.models.bert.modeling_bert import BertLayer
    from transformers.models.squeezebert.modeling_squeezebert import SqueezeBertModule
    bert_config = transformers.BertConfig(attn_implementation="eager")
    layers = [(SqueezeBertModule(transformers.SqueezeBertConfig()), lambda m: m(torch.zeros(1, 768, 128), None, False)),
              (BertLayer(bert_config), lambda m: m(torch.zeros(1, 128, 768)))]
    counted = []
    for module, run in layers:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            run(module.eval())
        counted.append(12 * counter.get_total_flops())
    print(f"FlopCounterMode: SqueezeBERT {counted[0] / 1e9:.4f}, BERT-base {counted[1] / 1e9:.4f} GFLOP")
    assert counted == [flops_sq, flops_bert]

# %% [markdown]
# Exactly our numbers. Where the FLOPs go, as a picture:

# %%
fig, ax = plt.subplots(figsize=(9, 2.4))
for row, (name, c) in enumerate([("BERT-base", bert_base), ("SqueezeBERT", squeezebert)]):
    left = 0
    for k, (part, value) in enumerate(forward_flops(c).items()):
        ax.barh(row, value / 1e9, left=left, color=f"C{k}", label=part if row == 0 else None)
        left += value / 1e9
    ax.text(left + 0.2, row, f"{left:.2f}", va="center")
ax.set_yticks([0, 1], ["BERT-base", "SqueezeBERT"])
ax.set_xlim(0, 25)
ax.set_xlabel("GFLOP per 128-token sequence")
ax.legend(ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8, frameon=False)
plt.tight_layout()

# %% [markdown]
# ## Why grouping does not wreck accuracy, and why one conv stays dense
#
# With 4 groups, each output channel of a conv sees only a quarter of the input channels. Follow the channels
# through a layer, split into 4 blocks of 192: Q, K and V of block `j` are computed from input block `j` only; the
# 12 heads are 64 channels each, so each head lies inside one block (3 heads per block) and its queries, keys and
# values all come from the same quarter of the hidden vector. Attention mixes *positions*, not channels, and the
# residual adds keep each block where it is; the grouped feed-forward pair maps block `j` to block `j` again. Were
# every conv grouped, the 4 blocks would never exchange anything but LayerNorm's mean and variance: four narrow
# networks side by side. The **post-attention conv** is the one place where every channel meets every other, once
# per layer, so information flows between the blocks, and SqueezeBERT keeps it dense on purpose. That costs:

# %%
post = forward_flops(squeezebert)["post-attention conv"]
print(f"the dense post-attention conv: {post / 1e9:.2f} of SqueezeBERT's {flops_sq / 1e9:.2f} GFLOP "
      f"({post / flops_sq:.0%}); grouped by 4 it would save {0.75 * post / 1e9:.2f}")
assert round(post / 1e9, 2) == 1.81

# %% [markdown]
# A quarter of the model's arithmetic for the mixing that keeps it one network. What it buys, the paper measures on
# GLUE: fine-tuned directly on each task, SqueezeBERT scores 82.0 / 81.1 on the MNLI test sets (matched /
# mismatched), against 84.6 / 83.4 reported for BERT-base: 2.6 and 2.3 points lower, for a third of the
# FLOPs; the paper also fine-tunes with distillation from a larger teacher, which narrows the gap. (Those are the
# papers' numbers, not measured here: this course has no GLUE data and runs offline.)

# %% [markdown]
# ## Your turn: a grouped 1x1 convolution
#
# Write `grouped_conv1x1` from the definition, any way you like (a loop over groups is fine): `x` is `[N, Cin, W]`,
# `weight` is `[Cout, Cin/g, 1]` as torch stores it, `bias` is `[Cout]`; output channel `o` is in group
# `j = o // (Cout/g)` and reads only the input channels of block `j`. `check` compares it with the package on six
# shapes (including `g = Cin`, one channel per group) with float32's rounding allowed and nothing more, and says
# which element is off and by how much. A solution is in `notebooks/solutions/grouped_conv1x1.py`.

# %%
from squeezebert_np.exercises import check

def grouped_conv1x1(x, weight, bias, groups):  # [N, Cin, W], [Cout, Cin/g, 1], [Cout] -> [N, Cout, W]
    raise NotImplementedError("your code here")   # replace this line

check("grouped_conv1x1", grouped_conv1x1)

# %% [markdown]
# ## What we built
#
# - A grouped 1x1 conv = a dense layer whose weight is block-diagonal with `g` blocks; computed as `g` small
#   matmuls after a reshape. Parameters and FLOPs of the layer drop by `g`.
# - SqueezeBERT groups Q, K, V and both feed-forward convs by 4 and keeps the post-attention conv dense:
#   **51.1M parameters and 7.40 GFLOP** per 128-token sequence, against BERT-base's **109M and 22.35 GFLOP**
#   (3.0x). Attention's own matmuls (0.6 GFLOP) are the same in both.
#
# Whether 3x fewer FLOPs means 3x faster is a different question: notebook **07** measures it. Next, **04**:
# the attention between those convs.
