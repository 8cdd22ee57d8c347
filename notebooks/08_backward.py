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
# # 08 · The backward pass of a SqueezeBERT layer, piece by piece
#
# Lessons 03 to 05 ran the layer forward. To train it we need the gradient of a loss with respect to every input
# and weight. The package writes each backward by hand, beside its forward (`functional.py`: `grouped_conv1x1` and
# `grouped_conv1x1_backward`, `layer_norm_forward` and `layer_norm_backward`, ...), with no autograd engine. Here we
# derive each one, write it in a few lines, and check it twice: against **central differences** (the definition of
# a derivative, computed numerically) and against **PyTorch's autograd** on transformers' own layer.
#
# **Before this:** 03, 04 and 05 (the layer's forward); the chain rule. **Time:** about 40 minutes, 25 for the two
# exercises. **Leaves for the next lesson:** `model.loss_and_grads`, every gradient of a whole model, which 09 feeds
# to an optimizer.
#
# **What you'll do:** write a numerical gradient checker; derive and check the backward of a grouped conv, of GELU,
# of the softmax inside attention; check LayerNorm's; assemble one `SqueezeBertModule`'s backward and compare every
# parameter gradient with transformers + torch autograd.
#
# **What you'll learn:** the vector-Jacobian product (what "backward" computes); why gradient checks run in float64;
# how a residual connection and a tensor used twice add gradients; why a grouped conv's weight gradient is
# block-diagonal too.
#
# **What you'll need:** `squeezebert_np`. Optional: `torch` and `transformers` for the autograd comparison (skipped
# with a message without them). No weights: everything runs on a small random layer.

# %%
import math

import numpy as np

from squeezebert_np import SqueezeBertConfig, SqueezeBertModel
from squeezebert_np import functional as F

try:
    import torch
    import transformers
except ImportError:
    torch = transformers = None
print("torch:", torch.__version__ if torch else "not installed (the autograd comparisons are skipped)")

# %% [markdown]
# ## What a backward computes, and how to check one
#
# For `y = f(x)` and a scalar loss `L` that depends on `y`, the backward receives `dout = ∂L/∂y` (same shape as `y`)
# and returns `∂L/∂x = Jᵀ dout`, the vector-Jacobian product, without ever forming the Jacobian `J`. To check it we
# need no loss at all: take `L = sum(f(x) * dout)` for a random `dout`, and its derivative in each element of `x`
# is, by definition, the limit of `(L(x + h e_i) - L(x - h e_i)) / 2h`. With `h = 1e-6` in **float64** the error of
# this estimate is around 1e-10 relative; in float32 the rounding of `L` alone (1e-7 relative, divided by `h`) would
# swamp it, which is why gradient checks are done in float64.

# %%
def numerical_grad(f, x, dout, h=1e-6):  # d/dx of sum(f(x) * dout), one element at a time
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + h
        plus = np.sum(f(x) * dout)
        x[i] = old - h
        minus = np.sum(f(x) * dout)
        x[i] = old
        grad[i] = (plus - minus) / (2 * h)
    return grad

def rel_error(a, b):  # the largest difference relative to the largest magnitude
    return float(np.abs(a - b).max() / max(1e-30, np.abs(a).max() + np.abs(b).max()))

# %% [markdown]
# ## The grouped 1x1 convolution
#
# Per group `j`, `y_j = W_j x_j + b` at every position (lesson 03), a matrix product. Its backward is that of a
# matrix product: `dx_j = W_jᵀ dy_j`, `dW_j = Σ dy_j x_jᵀ` summed over the batch and the positions, and `db = Σ dy`.
# Groups never mix, so `dx` of group `j` comes from `dy` of group `j` alone, and `dW` has the same block structure
# as `W`.

# %%
def grouped_conv1x1_backward(dy, x, weight, groups):  # [N, Cout, W], [N, Cin, W], [Cout, Cin/g, 1]
    i, o = x.shape[1] // groups, dy.shape[1] // groups
    dx, dweight = np.zeros_like(x), np.zeros_like(weight)
    for j in range(groups):
        w_j, dy_j, x_j = weight[j * o:(j + 1) * o, :, 0], dy[:, j * o:(j + 1) * o], x[:, j * i:(j + 1) * i]
        dx[:, j * i:(j + 1) * i] = w_j.T @ dy_j                              # [i, o] @ [N, o, W]
        dweight[j * o:(j + 1) * o, :, 0] = np.einsum("now,niw->oi", dy_j, x_j)  # sum over batch and width
    return dx, dweight, dy.sum(axis=(0, 2))

# %%
rng = np.random.default_rng(0)
x, weight, bias = rng.standard_normal((2, 8, 5)), rng.standard_normal((12, 4, 1)), rng.standard_normal(12)
dy = rng.standard_normal((2, 12, 5))
dx, dweight, dbias = grouped_conv1x1_backward(dy, x, weight, groups=2)
checks = {"dx": rel_error(dx, numerical_grad(lambda x_: F.grouped_conv1x1(x_, weight, bias, 2), x, dy)),
          "dweight": rel_error(dweight, numerical_grad(lambda w_: F.grouped_conv1x1(x, w_, bias, 2), weight, dy)),
          "dbias": rel_error(dbias, numerical_grad(lambda b_: F.grouped_conv1x1(x, weight, b_, 2), bias, dy))}
print({k: f"{v:.1e}" for k, v in checks.items()})
assert max(checks.values()) < 1e-8
package = F.grouped_conv1x1_backward(dy, x, weight, 2)
assert all(np.allclose(a, b, rtol=1e-12, atol=1e-12) for a, b in zip(package, (dx, dweight, dbias)))

# %% [markdown]
# ## GELU
#
# `gelu(x) = x Φ(x)` with `Φ` the normal CDF; by the product rule `gelu'(x) = Φ(x) + x φ(x)`, `φ` the normal density.
# An elementwise function's backward is `dout * f'(x)`: its Jacobian is diagonal.

# %%
x = np.linspace(-5, 5, 41)
by_hand = 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2))) + x * np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
dout = np.ones_like(x)
print(f"vs central differences: {rel_error(by_hand, numerical_grad(F.gelu, x.copy(), dout)):.1e}, "
      f"vs the package's gelu_grad: {rel_error(by_hand, F.gelu_grad(x)):.1e}")
assert rel_error(by_hand, numerical_grad(F.gelu, x.copy(), dout)) < 1e-8
assert rel_error(by_hand, F.gelu_grad(x)) < 1e-9        # the package's erf is a fit accurate to ~1e-11

# %% [markdown]
# ## The softmax inside attention
#
# Each row of probabilities is `P = softmax(S)`. Its Jacobian is `diag(P) - P Pᵀ`, so `dS = P * (dP - Σ dP * P)`,
# with the sum over the row. Masked keys have `P = 0` and so receive no gradient: the mask itself, a constant,
# needs none. Then `S = Q Kᵀ / √d` is two matrix products, and the three convs before it are lesson 03's backward.

# %%
def softmax_backward(dP, P):  # [..., W], [..., W] -> [..., W]
    return P * (dP - (dP * P).sum(axis=-1, keepdims=True))

S = rng.standard_normal((2, 3, 4, 4))
S[0, :, :, -1] += np.finfo(np.float32).min                 # a masked key in the first sequence
dP = rng.standard_normal(S.shape)
by_hand = softmax_backward(dP, F.softmax(S))
print(f"softmax backward vs central differences: {rel_error(by_hand, numerical_grad(F.softmax, S, dP)):.1e}; "
      f"gradient at the masked key: {np.abs(by_hand[0, :, :, -1]).max()}")
assert rel_error(by_hand, numerical_grad(F.softmax, S, dP)) < 1e-8 and not by_hand[0, :, :, -1].any()

# %% [markdown]
# ## LayerNorm
#
# `y = x̂ w + b` with `x̂ = (x - μ) / s`, `s = √(var + ε)`, over the channels. `dŵ = Σ dout x̂` and `db = Σ dout`.
# For `dx`, `x` reaches `x̂` three ways: directly, through the mean `μ`, and through `s`. With `dx̂ = dout * w` and
# `mean` over the channels, the three paths add up to
#
# &nbsp;&nbsp;&nbsp;&nbsp;`dx = (dx̂ - mean(dx̂) - x̂ · mean(dx̂ · x̂)) / s`.
#
# (The middle term is the mean's path, the last the variance's; deriving it is a good half hour with paper.) The
# exercise at the end asks you to write it; here we check the package's version.

# %%
x, w, b = rng.standard_normal((2, 5, 16)) * 2 + 1, rng.standard_normal(16), rng.standard_normal(16)
dout = rng.standard_normal(x.shape)
_, cache = F.layer_norm_forward(x, w, b, 1e-12)
dx, dw, db = F.layer_norm_backward(dout, cache)
errors = [rel_error(dx, numerical_grad(lambda x_: F.layer_norm(x_, w, b, 1e-12), x, dout)),
          rel_error(dw, numerical_grad(lambda w_: F.layer_norm(x, w_, b, 1e-12), w, dout)),
          rel_error(db, numerical_grad(lambda b_: F.layer_norm(x, w, b_, 1e-12), b, dout))]
print("dx, dweight, dbias vs central differences:", [f"{e:.1e}" for e in errors])
assert max(errors) < 1e-8

# %% [markdown]
# ## The whole `SqueezeBertModule`
#
# The layer's backward (`modeling.py`) is its forward read backwards: output block, intermediate, post-attention
# block, attention. Two tensors are used twice, the layer input `x` (the attention convs and the first residual)
# and the post-attention output `a` (the feed-forward and the second residual), so their gradients are sums of
# two. A small layer in float64, its input gradient against central differences:

# %%
config = SqueezeBertConfig(vocab_size=50, hidden_size=32, embedding_size=32, num_hidden_layers=1,
                           num_attention_heads=4, intermediate_size=64, q_groups=2, k_groups=2, v_groups=2,
                           intermediate_groups=4, output_groups=4, hidden_dropout_prob=0.0,
                           attention_probs_dropout_prob=0.0)
layer = SqueezeBertModel(config, seed=0).astype(np.float64).encoder.layers[0]
x, dout = rng.standard_normal((2, 32, 6)), rng.standard_normal((2, 32, 6))
mask = F.additive_attention_mask(np.array([[1] * 6, [1] * 4 + [0] * 2]))    # the second sequence is padded
y, _, cache = layer.forward(x, mask, rng=None)
dx, grads = layer.backward(dout, cache)
numeric = numerical_grad(lambda x_: layer(x_, mask)[0], x, dout)
print(f"layer dx vs central differences: {rel_error(dx, numeric):.1e};  {len(grads)} parameter gradients")
assert rel_error(dx, numeric) < 1e-7

# %% [markdown]
# And every one of the 16 parameter gradients against transformers' `SqueezeBertModule` with the same weights, run
# by torch's autograd in float64:

# %%
if torch is not None:
    hf_layer = transformers.models.squeezebert.modeling_squeezebert.SqueezeBertModule
    hf = hf_layer(transformers.SqueezeBertConfig(**config.to_dict())).double()
    hf.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in layer.state_dict().items()})
    xt = torch.from_numpy(x).requires_grad_()
    out = hf(xt, torch.from_numpy(mask), output_attentions=False)["feature_map"]
    (out * torch.from_numpy(dout)).sum().backward()
    theirs = {name: p.grad.numpy() for name, p in hf.named_parameters()} | {"input": xt.grad.numpy()}
    scale = max(np.abs(g).max() for g in theirs.values())              # differences relative to the largest
    worst = {name: np.abs(g - (dx if name == "input" else grads[name])).max() / scale for name, g in theirs.items()}
    key_bias = [f"{np.abs(g['attention.key.bias']).max():.0e}" for g in (grads, theirs)]
    print(f"{len(worst)} gradients, largest difference {max(worst.values()):.1e}; |d key.bias| {key_bias}")
    assert set(worst) - {"input"} == set(grads) and max(worst.values()) < 1e-12
else:
    print("torch is not installed: the autograd comparison is skipped")

# %% [markdown]
# Rounding-level agreement: both sides compute the same derivatives in a different order. One gradient is
# special: `attention.key.bias` is **zero** in exact arithmetic. Adding one vector `b` to every key adds `q · b` to
# a whole row of scores, and a softmax ignores what is added to a whole row, so the loss cannot depend on `b`. Both
# sides return rounding noise there (the printed magnitudes, ours then torch's), which is why we compare differences with the
# largest gradient and not element by element: a relative error of noise against noise is meaningless. `tests/` checks the same
# for the whole model and all five heads (`model.loss_and_grads`), in float64 and in float32.
#
# ## Your turn: LayerNorm's backward, and GELU's derivative
#
# Write `layer_norm_backward(dout, x, weight, eps)` returning `(dx, dweight, dbias)`: recompute the mean, `s` and
# `x̂` from `x`, then the three gradients above (`dweight` and `dbias` summed over every axis but the channels).
# And `gelu_grad(x)`. Both in float64, as gradient code is checked. `check` compares them with the package's
# derivation within float64 rounding, and names the usual slips (a missing path through the mean or the variance,
# `Φ(x)` without `x φ(x)`). Solutions: `notebooks/solutions/layer_norm_backward.py` and `gelu_grad.py`.

# %%
from squeezebert_np.exercises import check

def layer_norm_backward(dout, x, weight, eps):  # [..., C], [..., C], [C] -> dx [..., C], dweight [C], dbias [C]
    raise NotImplementedError("your code here")   # replace this line

def gelu_grad(x):  # [...] -> [...]
    raise NotImplementedError("your code here")   # replace this line

check("layer_norm_backward", layer_norm_backward)
check("gelu_grad", gelu_grad)

# %% [markdown]
# ## What we built
#
# | forward | backward | check |
# |---|---|---|
# | grouped conv `y_j = W_j x_j + b` | `dx_j = W_jᵀ dy_j`, `dW_j = Σ dy_j x_jᵀ`, `db = Σ dy` | central differences, the package |
# | GELU `x Φ(x)` | `dout (Φ(x) + x φ(x))` | central differences, the package |
# | softmax | `P (dP - Σ dP P)` (masked keys get 0) | central differences |
# | LayerNorm | `(dx̂ - mean dx̂ - x̂ mean(dx̂ x̂)) / s`, `Σ dout x̂`, `Σ dout` | central differences (your exercise) |
# | one `SqueezeBertModule` | the above in reverse; a tensor used twice sums its gradients | central differences, torch autograd |
#
# Next, **09**: these gradients, for a whole model, drive an optimizer, and a small SqueezeBERT learns a task.
