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
# # 08 · Gradients by hand: the backward pass of SqueezeBERT
#
# Training needs the gradient of the loss with respect to every one of the 51 million parameters. PyTorch gets it
# from autograd; here every layer has a hand-written backward beside its forward (`functional.py`), as in
# cs231n's `layers.py` and karpathy's llm.c. This lesson derives three of them, checks each by central differences,
# then checks the whole model's gradients against PyTorch's autograd and takes a few steps of gradient descent.
#
# **What you'll do:** derive the LayerNorm, softmax and grouped-conv backward passes and check them numerically;
# compare `model.loss_and_grads` with torch's `loss.backward()` tensor by tensor; check that dropout's masks are
# reused in the backward; train a tiny model for a few steps.
#
# **What you'll learn:** why a gradient check needs float64; how tied weights add up their gradients; why some
# gradients are exactly zero (the key bias); what `model.train()` changes.
#
# **What you'll need:** `squeezebert_np`, `torch` and `transformers` (for the autograd comparison). Synthetic
# weights only: the numbers are checked, not the predictions.

# %%
import numpy as np
import torch
import transformers

import squeezebert_np
from squeezebert_np import functional as F
from squeezebert_np.synthetic import synthetic_state_dict

rng = np.random.default_rng(0)

# %% [markdown]
# cs231n's two helpers: a numerical gradient of `sum(f(x) * dout)` by central differences, one element at a time,
# and the relative error of two arrays.

# %%
def numerical_gradient(f, x, dout, h=1e-5):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = f()
        x[i] = old - h
        minus = f()
        x[i] = old
        grad[i] = np.sum((plus - minus) * dout) / (2 * h)
    return grad


def rel_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))

# %% [markdown]
# ## `SqueezeBertLayerNorm`: the backward in one line
#
# With $\hat x = (x - \mu)/s$, $s = \sqrt{\sigma^2 + \epsilon}$ over the C channels and $y = w \hat x + b$, let
# $g = \partial L/\partial \hat x = w \cdot dy$. Each $x_i$ moves $\hat x$ three ways: directly ($1/s$), through
# the mean ($-1/(Cs)$ for every channel) and through $s$ ($-\hat x_i \hat x_j / (Cs)$). Summing:
#
# $$dx = \frac{1}{s}\left(g - \operatorname{mean}(g) - \hat x \operatorname{mean}(g \hat x)\right)$$
#
# We need float64: in float32 the difference quotient's rounding error (~1e-7 / h) swamps the check.

# %%
x, w, b = rng.standard_normal((3, 8)), rng.standard_normal(8), rng.standard_normal(8)
dy = rng.standard_normal((3, 8))
mean, s = x.mean(-1, keepdims=True), np.sqrt(x.var(-1, keepdims=True) + 1e-12)
xhat, g = (x - mean) / s, dy * w
by_hand = (g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, keepdims=True)) / s
_, cache = F.layer_norm_forward(x, w, b, 1e-12)
dx, dw, db = F.layer_norm_backward(dy, cache)
numeric = numerical_gradient(lambda: F.layer_norm(x, w, b, 1e-12), x, dy)
print(f"by hand vs package {rel_error(by_hand, dx):.1e}, package vs central differences {rel_error(dx, numeric):.1e}")
assert rel_error(by_hand, dx) < 1e-12 and rel_error(dx, numeric) < 1e-7

# %% [markdown]
# ## Softmax inside `SqueezeBertSelfAttention`
#
# For one row $p = \operatorname{softmax}(z)$, $\partial p_j / \partial z_i = p_j(\delta_{ij} - p_i)$, so
# $dz = p \odot (dp - \langle dp, p \rangle)$. Adding a constant to a whole row of scores changes nothing, so
# $\sum_i dz_i = 0$ for every row: that is why the **key bias** gets an exactly zero gradient (it adds
# $q \cdot b_k$ to every score of a query's row), in PyTorch too.

# %%
z, dp = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
p = F.softmax(z)
dz = p * (dp - (dp * p).sum(-1, keepdims=True))
assert rel_error(dz, numerical_gradient(lambda: F.softmax(z), z, dp)) < 1e-7
print("largest row sum of dz:", np.abs(dz.sum(-1)).max())
q, k, v = (rng.standard_normal((2, 6, 4)) for _ in range(3))             # [N, C, W], 2 heads of 3 channels
dctx = rng.standard_normal((2, 6, 4))
_, _, cache = F.attention_forward(q, k, v, None, num_heads=2)
for name, ours, inp in zip(("dq", "dk", "dv"), F.attention_backward(dctx, cache), (q, k, v)):
    err = rel_error(ours, numerical_gradient(lambda: F.attention(q, k, v, None, 2)[0], inp, dctx))
    print(name, f"{err:.1e}")
    assert err < 1e-7

# %% [markdown]
# ## The grouped 1x1 convolution
#
# Group j computes $y_j = W_j x_j + b_j$ at every position. So $dx_j = W_j^\top dy_j$ and
# $dW_j = \sum_{n, w} dy_j x_j^\top$: the weight gradient sums over the batch *and* the sequence, because the same
# weights are used at every position. A loop over the groups says the same thing as the package's batched matmul.

# %%
groups, x, wt = 2, rng.standard_normal((3, 4, 5)), rng.standard_normal((6, 2, 1))   # Cin 4, Cout 6
dy = rng.standard_normal((3, 6, 5))
dx, dW, db = F.grouped_conv1x1_backward(dy, x, wt, groups)
loop = np.zeros_like(wt)
for j in range(groups):
    rows, cols = slice(3 * j, 3 * j + 3), slice(2 * j, 2 * j + 2)
    loop[rows, :, 0] = sum(dy[n, rows] @ x[n, cols].T for n in range(3))
assert np.allclose(loop, dW, rtol=1e-13)
assert rel_error(dW, numerical_gradient(lambda: F.grouped_conv1x1(x, wt, np.zeros(6), groups), wt, dy)) < 1e-7
print("dW by loop == package; db is dy summed over batch and positions:", np.allclose(db, dy.sum((0, 2))))

# %% [markdown]
# ## The whole model against PyTorch's autograd
#
# `loss, grads = model.loss_and_grads(...)` runs the forward keeping a cache, then every backward in reverse.
# `model.astype(np.float64)` makes the comparison exact to ~1e-12. The MLM decoder is tied to the word embeddings:
# its gradient is *added* to theirs, and `grads` lists the tied tensor once, under transformers' name.

# %%
cfg = dict(vocab_size=50, hidden_size=32, embedding_size=32, num_hidden_layers=2, num_attention_heads=4,
           intermediate_size=64, q_groups=2, k_groups=2, v_groups=2, intermediate_groups=4, output_groups=2)
config = squeezebert_np.SqueezeBertConfig(**cfg)
sd = synthetic_state_dict(config, squeezebert_np.SqueezeBertForMaskedLM, seed=1)
ours = squeezebert_np.SqueezeBertForMaskedLM(config, sd).astype(np.float64)
theirs = transformers.SqueezeBertForMaskedLM(transformers.SqueezeBertConfig(**cfg)).eval()
theirs.load_state_dict({key: torch.from_numpy(np.array(v)) for key, v in sd.items()}, strict=False)
theirs.double()
ids, mask = rng.integers(1, 50, (2, 9)), (np.arange(9) < np.array([[9], [6]])).astype(np.int64)
labels = np.where(rng.random((2, 9)) < 0.3, ids, -100)

# %%
loss, grads = ours.loss_and_grads(input_ids=ids, attention_mask=mask, labels=labels)
out = theirs(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), labels=torch.from_numpy(labels))
out.loss.backward()
expected = {name: p.grad.numpy() for name, p in theirs.named_parameters() if p.grad is not None}
assert list(grads) == list(expected)
worst = {name: np.abs(grads[name] - g).max() / np.abs(g).max() for name, g in expected.items()}
print(f"loss {float(loss):.12f} vs torch {out.loss.item():.12f}; {len(grads)} tensors")
for name in sorted(worst, key=worst.get)[-4:]:
    print(f"{name:60s} {worst[name]:.1e}")
assert max(v for k, v in worst.items() if "key.bias" not in k) < 1e-9

# %% [markdown]
# The largest relative differences, if any stand out, are on the key biases, whose exact gradient is zero (see
# above): on both sides their values are rounding noise.

# %%
print({k: float(np.abs(v).max()) for k, v in expected.items() if "key.bias" in k})

# %% [markdown]
# ## Dropout: `model.train()`
#
# In train mode dropout zeroes activations with probability p and scales the rest by 1/(1-p), drawing from
# `model.dropout_rng`. The backward must multiply by the *same* masks. Resetting the generator before each call
# draws the same masks, so the training loss becomes an ordinary function of the weights that we can difference.

# %%
dropout_config = squeezebert_np.SqueezeBertConfig(**cfg, hidden_dropout_prob=0.3, num_labels=2)
model = squeezebert_np.SqueezeBertForSequenceClassification(dropout_config, seed=0).astype(np.float64)
model.train()


def training_loss():
    model.dropout_rng = np.random.default_rng(7)
    return model.loss_and_grads(input_ids=ids, attention_mask=mask, labels=np.array([0, 1]))


_, grads = training_loss()
numeric = numerical_gradient(lambda: training_loss()[0], model.classifier.weight, 1.0)
print(f"classifier.weight vs central differences, dropout on: {rel_error(grads['classifier.weight'], numeric):.1e}")
assert rel_error(grads["classifier.weight"], numeric) < 1e-7

# %% [markdown]
# ## A few steps of gradient descent
#
# With gradients, learning is one line per parameter: $\theta \leftarrow \theta - \eta \nabla_\theta L$. A few
# steps of plain gradient descent on one small batch bring its loss down (AdamW, what people use, only changes the
# step). Dropout is off here (`eval()`), so every step sees the same function.

# %%
model.eval()
params = dict(model.named_parameters())
losses = []
for step in range(8):
    loss, grads = model.loss_and_grads(input_ids=ids, attention_mask=mask, labels=np.array([0, 1]))
    losses.append(float(loss))
    for name, g in grads.items():
        params[name] -= 0.5 * g                      # in place: the model holds these arrays
print(" -> ".join(f"{v:.3f}" for v in losses))
assert losses[-1] < 0.5 * losses[0]
