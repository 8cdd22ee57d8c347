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
# # 04 · Self-attention in the [N, C, W] layout, the mask, and what `output_attentions` really returns
#
# Between its grouped convolutions, SqueezeBERT runs ordinary multi-head self-attention, BERT's, only with the
# activations stored channels-first. This notebook computes it by hand, checks it three ways, and then looks at two
# details that trip people up: how padding is masked, and what transformers hands back as "attentions".
#
# **Before this:** 03 (the Q, K, V convs); softmax. **Time:** about 30 minutes, 15 for the exercise. **Leaves for the
# next lesson:** one `SqueezeBertSelfAttention`, which 05 puts in each of the 12 layers.
#
# **What you'll do:** run the query/key/value convs of a real-size layer; split heads in the `[N, C, W]` layout;
# compute scores, mask, softmax and context; check against `squeezebert_np` and a naive loop; build the padding
# mask; plot attention maps.
#
# **What you'll learn:** why the keys need no transpose in this layout; why the mask uses `finfo(float32).min`
# rather than `-inf` (a fully masked row becomes uniform, not NaN); that SqueezeBERT's `output_attentions` are
# **pre-softmax scores**, not probabilities, so they must be softmaxed before you plot them.
#
# **What you'll need:** `squeezebert_np`, `matplotlib`. Optional: the official `squeezebert-uncased` folder in
# `$SQUEEZEBERT_DIR` (default `weights/` at the repository root); without it the notebook uses deterministic
# synthetic weights, whose attention maps are noise (the arithmetic is the same).

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

from squeezebert_np import SqueezeBertConfig, SqueezeBertModel
from squeezebert_np import functional as F
from squeezebert_np.course import official, repo_path
from squeezebert_np.synthetic import synthetic_state_dict
from squeezebert_np.tokenization_fast import SqueezeBertTokenizerFast

# %%
weights = official("squeezebert-uncased")          # $SQUEEZEBERT_DIR or weights/ at the repository root
if weights:
    model = SqueezeBertModel.from_pretrained(weights)      # logs that the MLM head's weights go unused: no head here
    print("using the official weights from", weights)
else:
    config = SqueezeBertConfig(vocab_size=30528)            # the official architecture
    model = SqueezeBertModel(config, synthetic_state_dict(config, SqueezeBertModel, seed=0))
    print("no official weights found: using SYNTHETIC weights (seed 0). The arithmetic below is checked all the "
          "same, but the attention maps are noise, not language.")
config = model.config

# %% [markdown]
# Two sentences in one batch: the second is shorter, so it is padded on the right and its `attention_mask` has zeros.

# %%
tokenizer = SqueezeBertTokenizerFast()
texts = ["The cat sat on the mat because it was tired.", "Where is the cat?"]
batch = tokenizer(texts, padding=True, return_tensors="np")
tokens = [tokenizer.convert_ids_to_tokens(row) for row in batch["input_ids"]]
print(batch["attention_mask"])
N, W = batch["input_ids"].shape
C, H = config.hidden_size, config.num_attention_heads
D = C // H                                                   # 64 channels per head
print(f"N={N} sequences, W={W} positions, C={C} channels, H={H} heads of D={D}")

# %% [markdown]
# ## `SqueezeBertEncoder`: from [N, W, C] to [N, C, W]
#
# ```
#   embeddings, BERT, the outside world:  [N, W, C]   token w is a row      x[n, w, :]
#   inside SqueezeBERT's encoder:         [N, C, W]   token w is a column   x[n, :, w]
# ```
#
# Conv1d wants channels before positions, so the encoder transposes once on the way in and once on the way out.
# Everything in this notebook happens in between.

# %%
e = model.embeddings(batch["input_ids"], batch["token_type_ids"], np.broadcast_to(np.arange(W), (N, W)))
x = e.transpose(0, 2, 1)                                     # [N, W, C] -> [N, C, W]
attention = model.encoder.layers[0].attention                # SqueezeBertSelfAttention of layer 0
q, k, v = attention.query(x), attention.key(x), attention.value(x)
print("embeddings", e.shape, "-> x", x.shape, "-> q, k, v", q.shape, q.dtype)
assert q.shape == k.shape == v.shape == (N, C, W) and q.dtype == np.float32

# %% [markdown]
# ## `SqueezeBertSelfAttention`, by hand
#
# Channel `c` belongs to head `c // D` (the same split as BERT's). Reshaping `[N, C, W]` to `[N, H, D, W]` gives,
# for each head, a `D × W` matrix whose columns are the positions. For the queries we want `W × D` (transpose); for
# the keys, `D × W` is *already* `Kᵀ`, so `Q @ K` is the `W × W` matrix of scores with no transpose at all.
# transformers names these `transpose_for_scores` and `transpose_key_for_scores` (the latter only reshapes).

# %%
Q = q.reshape(N, H, D, W).transpose(0, 1, 3, 2)            # [N, H, W, D]
K = k.reshape(N, H, D, W)                                    # [N, H, D, W]: already K transposed
V = v.reshape(N, H, D, W).transpose(0, 1, 3, 2)            # [N, H, W, D]
scores = (Q @ K) / np.float32(math.sqrt(D))                 # [N, H, W, W]; divided after the matmul, as HF
print("scores", scores.shape, scores.dtype)

# %% [markdown]
# ## The padding mask
#
# A padded key must get zero attention. Adding a very negative number to its score before the softmax does that,
# since `exp` of it underflows to exactly 0. transformers v5 adds `finfo(float32).min` (−3.4·10³⁸) at the masked
# keys, broadcast over heads and query positions, and adds nothing at all when there is no padding.

# %%
keep = batch["attention_mask"].astype(bool)                                      # [N, W]
mask = np.where(keep, 0.0, np.finfo(np.float32).min).astype(np.float32)[:, None, None, :]   # [N, 1, 1, W]
assert np.array_equal(mask, F.additive_attention_mask(batch["attention_mask"]))
assert F.additive_attention_mask(np.ones((N, W))) is None                        # no padding: no mask
masked = scores + mask                                                           # still finite everywhere
probs = np.exp(masked - masked.max(-1, keepdims=True))
probs /= probs.sum(-1, keepdims=True)
context = (probs @ V).transpose(0, 1, 3, 2).reshape(N, C, W)                    # [N, H, W, D] -> [N, C, W]
print("padded keys get probability", probs[1, :, :, ~keep[1]].max(), "; context", context.shape)
assert np.isfinite(masked).all() and (probs[1, :, :, ~keep[1]] == 0).all()

# %% [markdown]
# Check against the package (`functional.attention`, which the model calls) and against a naive reference that
# computes each head and each query position with explicit dot products and sums:

# %%
ctx_package, scores_package = F.attention(q, k, v, mask, H)
assert np.allclose(context, ctx_package, atol=1e-5) and np.allclose(masked, scores_package, atol=1e-4)
naive = np.zeros((N, C, W), np.float64)
for n in range(N):
    for h in range(H):
        heads = slice(h * D, (h + 1) * D)
        for i in range(W):
            s = [np.dot(q[n, heads, i], k[n, heads, j]) / math.sqrt(D) if keep[n, j] else -np.inf for j in range(W)]
            p = np.exp(np.array(s) - max(s)) / np.exp(np.array(s) - max(s)).sum()
            naive[n, heads, i] = sum(p[j] * v[n, heads, j] for j in range(W))
print(f"max |by hand - naive| = {np.abs(context - naive).max():.1e}")
assert np.allclose(context, naive, atol=1e-5)

# %% [markdown]
# The naive reference used `-inf` for masked keys, which is fine while at least one key is visible. Why does
# transformers use `finfo.min` instead? Because of rows where **every** key is masked (say, an all-padding sequence
# in a batch). With `-inf`, `max` is `-inf` and `-inf - (-inf)` is NaN, which then spreads through every later layer.
# With `finfo.min`, every masked score rounds to the same number (`-3.4e38 + 5.0 == -3.4e38` in float32), so the row
# is a row of equal values, and its softmax is **uniform**: finite garbage, confined to that row.

# %%
row = scores[0, 0, 0]                                        # some real scores, [W]
all_masked = row + np.float32(np.finfo(np.float32).min)
print("scores + finfo.min, all equal?", np.unique(all_masked))
print("softmax:", F.softmax(all_masked)[:4], "...")
with np.errstate(invalid="ignore"):                         # -inf - -inf: NumPy warns, then gives NaN
    with_inf = F.softmax(row + np.float32(-np.inf))
print("with -inf:", with_inf[:4], "...")
assert np.allclose(F.softmax(all_masked), 1 / W) and np.isnan(with_inf).all()

# %% [markdown]
# ## What `output_attentions=True` returns
#
# For BERT, `outputs.attentions` holds the attention **probabilities**. For SqueezeBERT, transformers returns
# `attention_score`: the masked, scaled scores **before the softmax** (`modeling_squeezebert.py` returns the
# scores, not the probabilities), and `squeezebert_np` returns the same thing, for parity. So the rows do not sum
# to 1, and padded keys hold −3.4·10³⁸:

# %%
out = model(**batch, output_attentions=True)
assert len(out.attentions) == config.num_hidden_layers and out.attentions[0].shape == (N, H, W, W)
assert np.allclose(out.attentions[0], masked, atol=1e-4)         # layer 0: exactly our `masked` scores
row_sums = out.attentions[0][0].sum(-1)
print("row sums of attentions[0] for sequence 0:", row_sums[0, :5], "...")
print("smallest value for the padded sequence:", out.attentions[0][1].min())
as_probs = [F.softmax(a, axis=-1) for a in out.attentions]     # what you want to plot
assert np.allclose(as_probs[0], probs, atol=1e-6) and np.allclose(as_probs[5].sum(-1), 1, atol=1e-5)

# %% [markdown]
# transformers' own outputs say the same. The golden file `tests/golden/official.npz` holds what transformers 5.24
# returned for a padded batch (synthetic weights, notebook 05 compares every number); its "attentions" are not
# probabilities either:

# %%
golden = np.load(repo_path("tests", "golden", "official.npz"))
hf_attentions = golden["padded/SqueezeBertModel/base/attentions"]     # [layers, N, H, W, W]
hf_keep = golden["padded/input/attention_mask"].astype(bool)
print("transformers' attentions:", hf_attentions.shape, "row sums e.g.", hf_attentions[0, 0, 0, 0].sum())
print("at padded keys:", np.unique(hf_attentions[:, 1][..., ~hf_keep[1]]))
assert not np.allclose(hf_attentions[0, 0].sum(-1), 1)
assert (hf_attentions[:, 1][..., ~hf_keep[1]] <= np.finfo(np.float32).min / 2).all()

# %% [markdown]
# ## The trap, in a picture
#
# Plotting `outputs.attentions` directly gives the left panel: one colour for the padding columns (−3.4·10³⁸) and
# another for everything else, which is all the colour map can show. The right panel is the softmax of the same
# array: what the head actually attends to. (The `[PAD]` *query* rows are not zero: padded positions still compute
# something, which nobody should use. transformers does the same.)

# %%
layer, head, n = 3, 0, 1
words = tokens[n]
fig, axes = plt.subplots(1, 2, figsize=(11, 5))
panels = [(out.attentions[layer][n, head], "outputs.attentions\n(pre-softmax scores)"),
          (as_probs[layer][n, head], "softmax(outputs.attentions)\n(probabilities)")]
for ax, (matrix, title) in zip(axes, panels):
    im = ax.imshow(matrix, cmap="viridis")
    ax.set_title(f"layer {layer}, head {head}: {title}", fontsize=9)
    ax.set_xticks(range(W), words, rotation=90, fontsize=7)
    ax.set_yticks(range(W), words, fontsize=7)
    fig.colorbar(im, ax=ax, fraction=0.046)
axes[0].set_xlabel("key"), axes[0].set_ylabel("query")
plt.tight_layout()

# %% [markdown]
# ## A few heads of the first sentence
#
# Probabilities for four heads of three layers, first sentence (no padding), all on **one colour scale** with its
# colorbar: white is 0, the darkest blue the largest probability in any panel, and the bar marks `1/W`, what a head
# that attends uniformly gives. (A scale per panel would stretch an almost uniform map to full contrast and make it
# look as sharp as a head that attends to one token.)

# %%
show_layers, show_heads = [0, 5, 11], [0, 3, 6, 9]
shown = np.stack([as_probs[l][0, h] for l in show_layers for h in show_heads])      # [12, W, W]
fig, axes = plt.subplots(len(show_layers), len(show_heads), figsize=(12, 9.5))
for k, ax in enumerate(axes.flat):
    l, h = show_layers[k // len(show_heads)], show_heads[k % len(show_heads)]
    im = ax.imshow(shown[k], cmap="Blues", vmin=0, vmax=shown.max())
    ax.set_title(f"layer {l}, head {h}: {shown[k].min():.3f}-{shown[k].max():.3f}", fontsize=8)
    ax.set_xticks(range(W), tokens[0], rotation=90, fontsize=6)
    ax.set_yticks(range(W), tokens[0] if k % len(show_heads) == 0 else [], fontsize=6)
bar = fig.colorbar(im, ax=axes, fraction=0.025, label="probability (one scale for all panels)")
bar.ax.axhline(1 / W, color="red"), bar.ax.text(1.5, 1 / W, f"1/W = {1 / W:.3f}", color="red", fontsize=7)
print(f"the 12 panels span {shown.min():.3f}-{shown.max():.3f}; uniform attention would be {1 / W:.3f}")

# %% [markdown]
# What this picture can show depends on the weights, and the printed line says which ones ran. With the
# **official** weights you can find heads that look at the previous or next token, at `[SEP]`, or from "it" back to
# its noun. With **synthetic** weights (the notebook says so at the top; that is what CI runs) layer 0 shows a
# random pattern of a few strong cells, which means nothing, and the deeper layers come closer and closer to uniform:
# in layer 11 every probability is within a few thousandths of `1/W` (the panel titles give each one's range), and
# on the shared scale those panels are a flat pale blue, as they should be. Synthetic weights check the *mechanics*
# (each row sums to 1, padded keys get 0, the shapes, the agreement with transformers above); they cannot show what
# a trained head attends to.

# ## Your turn: the masked softmax
#
# Write the step between the scores and the context: `scores` `[N, H, W, W]` (queries × keys) and the tokenizer's
# `attention_mask` `[N, W]` (1 = a real token, 0 = padding) give the probabilities `[N, H, W, W]`. Masked **keys**
# get `finfo(float32).min` before the softmax over the last axis, as transformers does, so a sequence that is all
# padding comes out uniform rather than NaN. `check` tries four batches, one of them fully masked, and names the usual
# mistakes if your output matches one. A solution is in `notebooks/solutions/masked_softmax.py`.

# %%
from squeezebert_np.exercises import check

def masked_softmax(scores, attention_mask):  # [N, H, W, W], [N, W] -> [N, H, W, W]
    raise NotImplementedError("your code here")   # replace this line

check("masked_softmax", masked_softmax)

# %% [markdown]
# ## What we built
#
# | step | shape | note |
# |---|---|---|
# | `query/key/value` convs | `[N, C, W]` | grouped 1x1 convs (notebook 03) |
# | split heads | Q `[N, H, W, D]`, K `[N, H, D, W]`, V `[N, H, W, D]` | keys need no transpose in NCW |
# | scores | `[N, H, W, W]` | `Q @ K / sqrt(D)`, then `+ mask` (`finfo.min` at padded keys) |
# | softmax, context | `[N, H, W, D]` → `[N, C, W]` | a fully masked row becomes uniform, never NaN |
# | `output_attentions` | `[N, H, W, W]` per layer | **scores before softmax**: `softmax(axis=-1)` them to plot |
#
# Next, **05** runs the whole model layer by layer against PyTorch.
