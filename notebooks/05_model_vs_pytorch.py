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
# # 05 · The whole model, layer by layer, against PyTorch
#
# Notebooks 03 and 04 built the pieces. Here we assemble the full 12-layer SqueezeBERT by hand, stage by stage in
# the order of transformers' module tree, and compare every intermediate result with what transformers (PyTorch)
# computed for the same weights and inputs.
#
# **Before this:** 01 (inputs), 03 and 04 (the layer's pieces); the LayerNorm formula is restated here. **Time:** about 25
# minutes, 20 for the two exercises. **Leaves for the next lesson:** the encoder's last hidden state and pooled
# output, which every head in 06 starts from.
#
# **What you'll do:** load the golden file `tests/golden/official.npz` (transformers 5.24's outputs for a padded
# batch); rebuild its synthetic weights from the recorded seed; run embeddings, each `SqueezeBertModule` and the
# pooler step by step; print a table of max differences per layer; see what one wrong detail (the tanh GELU) does.
#
# **What you'll learn:** the exact data flow of SqueezeBERT (post-LayerNorm residual blocks over grouped convs);
# how close float32 NumPy and float32 PyTorch get (a few 1e-6); why we compare only the real, non-padded positions.
#
# **What you'll need:** `squeezebert_np`, `matplotlib`, the repository's `tests/golden/` folder. No torch: the
# PyTorch side was computed once and stored. This notebook always uses the **synthetic** weights the goldens were
# made with (official architecture, seed from `meta.json`), whether or not you have the official ones.

# %%
import json
import os

import matplotlib.pyplot as plt
import numpy as np

from squeezebert_np import SqueezeBertConfig, SqueezeBertModel
from squeezebert_np import functional as F
from squeezebert_np.course import repo_path
from squeezebert_np.synthetic import synthetic_state_dict

# %% [markdown]
# ## The golden file
#
# `meta.json` records how the goldens were made: versions, the seed, each config. The weights are not stored; they
# are regenerated from the seed, the same numbers on every machine (NumPy's PCG64 stream is stable).

# %%
golden_dir = repo_path("tests", "golden")          # found from the package, whatever the working directory
meta = json.load(open(os.path.join(golden_dir, "meta.json")))
print({k: meta[k] for k in ("torch", "transformers", "numpy", "seed")})
golden = np.load(os.path.join(golden_dir, "official.npz"))
theirs = {k: golden[f"padded/SqueezeBertModel/base/{k}"] for k in
          ("hidden_states", "attentions", "last_hidden_state", "pooler_output")}
inputs = {k: golden[f"padded/input/{k}"] for k in ("input_ids", "attention_mask", "token_type_ids")}
for k, v in {**inputs, **theirs}.items():
    print(f"  {k:18} {v.shape}")

# %%
config = SqueezeBertConfig(**meta["configs"]["official"])            # the official architecture, 3 labels
model = SqueezeBertModel(config, synthetic_state_dict(config, SqueezeBertModel, seed=meta["seed"]))
ids, attention_mask, token_types = inputs["input_ids"], inputs["attention_mask"], inputs["token_type_ids"]
N, W = ids.shape
valid = attention_mask.astype(bool)                                     # [N, W]: the real tokens
print(f"batch of {N}, {W} positions; padded positions per row: {(~valid).sum(axis=1)}")

# %% [markdown]
# ## The module tree
#
# What we are about to run, drawn from the model object itself by `squeezebert_np.course.architecture`: every module
# under transformers' attribute names, each conv's group count, the shapes for this batch (`[N, C, W]` inside the
# encoder, notebook 04), and parameter counts. Layer 0 stands for all 12. Reading down one layer gives the order of
# this notebook: attention (Q, K, V grouped by 4, 12 heads), the dense post-attention conv + LayerNorm (03 said why it
# stays dense), the grouped feed-forward pair, each with a residual and LayerNorm.

# %%
from squeezebert_np.course import architecture
print(architecture(model, batch=N, length=W))

# %% [markdown]
# We compare only the real positions. Padded positions are computed too (transformers does not zero them) but mean
# nothing, and a test should not depend on them. The tolerance: **1e-5**, for float32 arithmetic done in a different
# order (OpenBLAS vs PyTorch's kernels sum in different orders, and each order rounds differently).

# %%
ATOL = 1e-5
table = []                                                               # (what, max |ours - transformers|)

def compare(what, ours, reference, where=None):
    assert ours.shape == reference.shape and ours.dtype == np.float32, (what, ours.shape, ours.dtype)
    diff = np.abs(ours - reference)
    table.append((what, float(diff[where].max() if where is not None else diff.max())))
    assert table[-1][1] <= ATOL, table[-1]

# %% [markdown]
# ## `SqueezeBertEmbeddings`
#
# Three lookups added together (word, position 0..W-1, token type), then a LayerNorm over the channels with the
# config's `layer_norm_eps`. Output `[N, W, C]`: `hidden_states[0]`.

# %%
emb = model.embeddings
e = emb.word_embeddings.weight[ids] + emb.position_embeddings.weight[np.arange(W)] \
    + emb.token_type_embeddings.weight[token_types]                     # [N, W, C]
mean = e.mean(-1, keepdims=True)
var = ((e - mean) ** 2).mean(-1, keepdims=True)                         # biased variance, as torch
e = (e - mean) / np.sqrt(var + np.float32(config.layer_norm_eps)) * emb.LayerNorm.weight + emb.LayerNorm.bias
compare("embeddings", e, theirs["hidden_states"][0], valid)
print(e.shape, e.dtype, f"max diff {table[-1][1]:.1e}")

# %% [markdown]
# ## One `SqueezeBertModule`, every step by hand
#
# ```
# x ──► SqueezeBertSelfAttention ──► ctx
# a = LayerNorm(conv_post(ctx) + x)       ConvDropoutLayerNorm   (dropout: identity at inference)
# h = GELU(conv_intermediate(a))          ConvActivation
# y = LayerNorm(conv_output(h) + a)       ConvDropoutLayerNorm
# ```
#
# The LayerNorms normalise over channels, so in `[N, C, W]` they transpose to `[N, W, C]` and back
# (`SqueezeBertLayerNorm`), and their eps is **1e-12, hard-coded**: transformers never passes `layer_norm_eps` to
# them. GELU is the exact one, `0.5·x·(1 + erf(x/√2))`.

# %%
def conv_dropout_layernorm(block, h, residual):           # [N, Cin, W], [N, C, W] -> [N, C, W]
    y = F.grouped_conv1x1(h, block.conv1d.weight, block.conv1d.bias, block.conv1d.groups) + residual
    return F.layer_norm(y.transpose(0, 2, 1), block.layernorm.weight, block.layernorm.bias, 1e-12).transpose(0, 2, 1)

def squeezebert_module(layer, x, mask, gelu=F.gelu):      # [N, C, W] -> [N, C, W], scores [N, H, W, W]
    att = layer.attention
    ctx, scores = F.attention(att.query(x), att.key(x), att.value(x), mask, config.num_attention_heads)
    a = conv_dropout_layernorm(layer.post_attention, ctx, x)
    conv = layer.intermediate.conv1d
    h = gelu(F.grouped_conv1x1(a, conv.weight, conv.bias, conv.groups))
    return conv_dropout_layernorm(layer.output, h, a), scores

# %%
mask = F.additive_attention_mask(attention_mask)          # [N, 1, 1, W], finfo.min at padded keys (notebook 04)
x = e.transpose(0, 2, 1)                                   # SqueezeBertEncoder: [N, W, C] -> [N, C, W]
y0, scores0 = squeezebert_module(model.encoder.layers[0], x, mask)
y0_package, scores0_package = model.encoder.layers[0](x, mask)
assert np.array_equal(y0, y0_package) and np.array_equal(scores0, scores0_package)
print("layer 0 by hand == the package's SqueezeBertModule:", y0.shape)

# %% [markdown]
# ## `SqueezeBertEncoder`: all 12 layers against transformers
#
# Each layer's output, transposed back to `[N, W, C]`, is `hidden_states[i + 1]`; its masked pre-softmax scores
# are `attentions[i]` (compared where they are finite, i.e. at real keys).

# %%
finite = np.broadcast_to(valid[:, None, None, :], theirs["attentions"][0].shape)
for i, layer in enumerate(model.encoder.layers):
    x, scores = squeezebert_module(layer, x, mask)
    compare(f"layer {i:2d} attention scores", scores, theirs["attentions"][i], finite)
    compare(f"layer {i:2d} output", x.transpose(0, 2, 1), theirs["hidden_states"][i + 1], valid)
last = x.transpose(0, 2, 1)                                # [N, C, W] -> [N, W, C]
compare("last_hidden_state", last, theirs["last_hidden_state"], valid)

# %% [markdown]
# ## `SqueezeBertPooler`
#
# `tanh(dense(first token))`: the `[CLS]` position of the last layer through one dense layer. The sequence
# classifier (notebook 06) sits on this. Then the package's own `SqueezeBertModel` call, which computes the same
# thing by a route rearranged for speed (notebook 07), checked against transformers the same way.

# %%
pooled = np.tanh(last[:, 0] @ model.pooler.dense.weight.T + model.pooler.dense.bias)    # [N, C]
compare("pooler_output", pooled, theirs["pooler_output"])
out = model(**inputs)                                       # the package's SqueezeBertModel, in one call
compare("package: last_hidden_state", out.last_hidden_state, theirs["last_hidden_state"], valid)
compare("package: pooler_output", out.pooler_output, theirs["pooler_output"])
print(f"package vs our step-by-step run: {np.abs(out.last_hidden_state - last)[valid].max():.1e}")

# %% [markdown]
# ## The table

# %%
print(f"{'what':28} {'max |ours - transformers|':>26}  ok")
for what, diff in table:
    print(f"{what:28} {diff:>26.2e}  {'yes' if diff <= ATOL else 'NO'}")
worst = max(diff for _, diff in table)
print(f"\n{len(table)} comparisons, worst {worst:.1e}, tolerance {ATOL:.0e}")

# %%
layers = range(config.num_hidden_layers)
per_layer = lambda kind: [d for what, d in table if what.startswith("layer") and what.endswith(kind)]
fig, ax = plt.subplots(figsize=(8, 3))
ax.semilogy(layers, per_layer("output"), "o-", label="layer output (hidden state)")
ax.semilogy(layers, per_layer("scores"), "s-", label="attention scores")
ax.axhline(ATOL, color="red", ls="--", label="tolerance 1e-5")
ax.set_xlabel("layer"), ax.set_ylabel("max |ours - transformers|"), ax.set_ylim(1e-8, 1e-4)
ax.legend(fontsize=8)
plt.tight_layout()

# %% [markdown]
# The error does not grow layer after layer: each LayerNorm rescales the activations to unit variance, so rounding
# errors stay at the size of a few float32 ulps of O(1) numbers (float32 has 2⁻²³ ≈ 1.2e-7 relative precision).
#
# ## What one wrong detail does
#
# BERT-style code often uses the tanh approximation of GELU. It is close (within 5e-4 of the exact one), and looks
# harmless. Swap it into our step-by-step model and compare again:

# %%
x_tanh = e.transpose(0, 2, 1)
for layer in model.encoder.layers:
    x_tanh, _ = squeezebert_module(layer, x_tanh, mask, gelu=F.gelu_tanh)
wrong = np.abs(x_tanh.transpose(0, 2, 1) - theirs["last_hidden_state"])[valid].max()
print(f"tanh GELU: max |ours - transformers| = {wrong:.1e}, {wrong / worst:.0f}x the worst difference above")
assert wrong > 10 * ATOL

# %% [markdown]
# Hundreds of times the rounding noise: a golden comparison at 1e-5 catches it at once. The same goes for using the
# config's `layer_norm_eps` in the encoder, forgetting the mask, or mis-ordering the heads' channels.
#
# ## Your turn: LayerNorm and GELU
#
# Two functions every layer above used. `layer_norm` normalises over the **last** axis with the biased variance
# (divide by C, as `torch.nn.LayerNorm`), eps inside the square root, then scales and shifts. `gelu` is the exact
# form `x · ½ (1 + erf(x/√2))` (`math.erf` works on one number; `np.vectorize` makes it work on an array). Both must
# return float32. `check` compares them with float64 references within float32's rounding, and says when your answer
# is the tanh GELU or the unbiased variance. Solutions: `notebooks/solutions/layer_norm.py` and `gelu.py`.

# %%
from squeezebert_np.exercises import check

def layer_norm(x, weight, bias, eps):  # [..., C], [C], [C] -> [..., C]
    raise NotImplementedError("your code here")   # replace this line

def gelu(x):  # [...] -> [...]
    raise NotImplementedError("your code here")   # replace this line

check("layer_norm", layer_norm)
check("gelu", gelu)

# %% [markdown]
# ## What we built
#
# The full forward pass of `SqueezeBertModel`, written out as embeddings → 12 × (attention, conv + LayerNorm,
# conv + GELU, conv + LayerNorm) → pooler, agrees with transformers to a few 1e-6 at every stage.
# `tests/test_golden.py` checks the same files (plus every head) on every commit. Next, **06**: the heads on top.
