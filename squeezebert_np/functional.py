"""The math of SqueezeBERT as small pure functions over NumPy arrays.

Every function here is one idea from the paper (Iandola et al., 2020, "SqueezeBERT: What can computer vision teach
NLP about efficient neural networks?") or one behaviour of transformers' `modeling_squeezebert.py` that we
reproduce to about 1e-5 in float32. Nothing here holds state; `modeling.py` composes these functions.

Layout legend (HF: "Data inside the encoder is in [batch, hidden_size, sequence_length] format"):
    N = batch, C = channels (hidden size), W = sequence length (width), g = groups, h = heads, d = C/h.
"""
import math

import numpy as np
from numpy.polynomial import chebyshev

# ---------------------------------------------------------------------------------------------------------------
# erf and GELU
# ---------------------------------------------------------------------------------------------------------------
# NumPy has no erf, and the tanh approximation of GELU is off by up to 4.7e-4 from the exact one transformers uses.
# We build erf from two Chebyshev interpolants whose coefficients are computed here, at import, from the standard
# library's own math.erf / math.erfc (no magic constants to trust):
#   |x| <= 2:  erf(x) = x * A(x^2)                 A(u) = erf(sqrt u)/sqrt u, smooth on u in [0, 4]
#   2 < |x| < 6:  erf(x) = 1 - exp(-x^2) * B(|x|)   B(x) = erfc(x) exp(x^2) ("erfcx"), smooth on [2, 6]
#   |x| >= 6:  erf(x) = +-1 (1 - erf(6) = 2e-17)
# Degree 12 for each gives |error| < 2e-11 in float64, far below float32's resolution.

def _chebyshev_fit(f, lo, hi, degree):
    """Chebyshev coefficients of f on [lo, hi], interpolated at Chebyshev points of the first kind."""
    return chebyshev.chebinterpolate(lambda t: np.array([f(lo + (ti + 1) * (hi - lo) / 2) for ti in t]), degree)


_ERF_A = _chebyshev_fit(lambda u: math.erf(math.sqrt(u)) / math.sqrt(u) if u > 0 else 2 / math.sqrt(math.pi),
                        0.0, 4.0, 12)
_ERF_B = _chebyshev_fit(lambda x: math.erfc(x) * math.exp(x * x), 2.0, 6.0, 12)


def erf(x):  # [...] -> [...], same dtype as x
    """The error function, accurate to ~1e-11 (computed in float64, returned in x's dtype).

    Example: erf(np.float32([0, 0.5, 3])) -> [0., 0.5204999, 0.99997791]
    """
    x = np.asarray(x)
    a = np.abs(x.astype(np.float64))
    s = np.minimum(a, 2.0)                     # each branch is evaluated on its own interval only (no overflow)
    small = s * chebyshev.chebval(s * s / 2 - 1, _ERF_A)             # valid for a <= 2; u = a^2 mapped to [-1, 1]
    b = np.clip(a, 2.0, 6.0)
    large = 1 - np.exp(-b * b) * chebyshev.chebval(b / 2 - 2, _ERF_B)  # valid for 2 < a < 6; b mapped to [-1, 1]
    y = np.where(a <= 2, small, np.where(a < 6, large, 1.0))
    return (np.sign(x) * y).astype(x.dtype if x.dtype.kind == "f" else np.float64)


def gelu(x):  # [...] -> [...]
    """Exact GELU, 0.5 x (1 + erf(x / sqrt 2)) (Hendrycks & Gimpel), as transformers' `hidden_act="gelu"`."""
    return (0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))).astype(x.dtype)


def gelu_tanh(x):  # [...] -> [...]
    """The tanh approximation of GELU (transformers' "gelu_new" / "gelu_pytorch_tanh")."""
    c = math.sqrt(2.0 / math.pi)               # Python floats take the array's dtype (NEP 50)
    return 0.5 * x * (1.0 + np.tanh(c * (x + 0.044715 * x ** 3)))


def relu(x):
    return np.maximum(x, 0).astype(x.dtype)


def silu(x):
    """x * sigmoid(x) (transformers' "silu" / "swish")."""
    return x / (1 + np.exp(-x))


# the values of `hidden_act` we support, as transformers' ACT2FN names them
ACTIVATIONS = {"gelu": gelu, "gelu_new": gelu_tanh, "gelu_pytorch_tanh": gelu_tanh,
               "relu": relu, "silu": silu, "swish": silu, "tanh": np.tanh}


# their derivatives, as functions of the activation's input x (the backward is dx = dy * act'(x))

def gelu_grad(x):  # [...] -> [...]
    """d/dx [x Phi(x)] = Phi(x) + x phi(x): Phi the normal CDF, phi = exp(-x^2/2) / sqrt(2 pi) its density."""
    cdf = 0.5 * (1.0 + erf(x / math.sqrt(2.0)))
    return (cdf + x * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)).astype(x.dtype)


def gelu_tanh_grad(x):  # [...] -> [...]
    """y = x/2 (1 + t), t = tanh(u), u = c (x + a x^3):  dy/dx = (1 + t)/2 + x/2 (1 - t^2) c (1 + 3 a x^2)."""
    c, a = math.sqrt(2.0 / math.pi), 0.044715
    t = np.tanh(c * (x + a * x ** 3))
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * a * x * x)


def relu_grad(x):
    """1 where x > 0, else 0 (torch's choice at x = 0)."""
    return (x > 0).astype(x.dtype)


def silu_grad(x):
    """d/dx [x s(x)] = s + x s (1 - s), s = sigmoid(x)."""
    s = 1 / (1 + np.exp(-x))
    return s * (1 + x * (1 - s))


def tanh_grad(x):
    return 1 - np.square(np.tanh(x))


ACTIVATION_GRADS = {"gelu": gelu_grad, "gelu_new": gelu_tanh_grad, "gelu_pytorch_tanh": gelu_tanh_grad,
                    "relu": relu_grad, "silu": silu_grad, "swish": silu_grad, "tanh": tanh_grad}


# ---------------------------------------------------------------------------------------------------------------
# dropout (training only)
# ---------------------------------------------------------------------------------------------------------------

def dropout(x, p, rng):  # [...] -> [...], mask [...] | None
    """Inverted dropout, as torch.nn.Dropout in training: zero each element with probability p and scale the kept
    ones by 1/(1-p), so eval (the identity) needs no rescaling. `rng` None (eval mode) or p == 0: the identity.
    Returns the output and the scaled mask the backward multiplies by (None for the identity)."""
    if rng is None or p == 0:
        return x, None
    keep = rng.random(x.shape, dtype=np.float32 if x.dtype == np.float32 else np.float64) >= p
    mask = keep.astype(x.dtype) * (x.dtype.type(1 / (1 - p)) if p < 1 else x.dtype.type(0))
    return x * mask, mask


def dropout_backward(dout, mask):  # [...], [...] | None -> [...]
    """y = x * mask, so dx = dout * mask (the same mask the forward drew)."""
    return dout if mask is None else dout * mask


# ---------------------------------------------------------------------------------------------------------------
# normalisation, softmax, dense layers
# ---------------------------------------------------------------------------------------------------------------

def layer_norm(x, weight, bias, eps):  # [..., C], [C], [C] -> [..., C]
    """LayerNorm over the last axis with the biased variance, as torch.nn.LayerNorm: (x - mean) / sqrt(var + eps) * w + b."""
    mean = x.mean(axis=-1, keepdims=True)
    var = np.square(x - mean).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def layer_norm_forward(x, weight, bias, eps):  # [..., C], [C], [C] -> [..., C], cache
    """layer_norm, keeping what the backward needs: xhat = (x - mean) / s and s = sqrt(var + eps)."""
    mean = x.mean(axis=-1, keepdims=True)
    s = np.sqrt(np.square(x - mean).mean(axis=-1, keepdims=True) + eps)   # [..., 1]
    xhat = (x - mean) / s
    return xhat * weight + bias, (xhat, s, weight)


def layer_norm_backward(dout, cache):  # [..., C] -> dx [..., C], dweight [C], dbias [C]
    """With dxhat = dout * w, and mean() over C:  dx = (dxhat - mean(dxhat) - xhat mean(dxhat xhat)) / s
    (xhat depends on x directly, through the mean, and through s); dw = sum(dout xhat), db = sum(dout) over the rest."""
    xhat, s, weight = cache
    dxhat = dout * weight
    dx = (dxhat - dxhat.mean(axis=-1, keepdims=True) - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True)) / s
    axes = tuple(range(dout.ndim - 1))
    return dx, (dout * xhat).sum(axis=axes), dout.sum(axis=axes)


def softmax(x, axis=-1):  # [...] -> [...]
    """Softmax, subtracting the max first so exp never overflows (a row of equal huge negatives becomes uniform)."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def linear(x, weight, bias):  # [..., Cin], [Cout, Cin], [Cout] -> [..., Cout]
    """torch.nn.Linear: x W^T + b (the weight is stored [out, in])."""
    return x @ weight.T + bias


def linear_backward(dout, x, weight):  # [..., Cout], [..., Cin], [Cout, Cin] -> dx, dweight, dbias
    """y = x W^T + b:  dx = dout W,  dW = dout^T x (summed over every row),  db = sum of dout over the rows."""
    d2, x2 = dout.reshape(-1, dout.shape[-1]), x.reshape(-1, x.shape[-1])   # [M, Cout], [M, Cin]
    return dout @ weight, d2.T @ x2, d2.sum(axis=0)


def grouped_conv1x1(x, weight, bias, groups):  # [N, Cin, W], [Cout, Cin/g, 1], [Cout] -> [N, Cout, W]
    """A grouped 1x1 Conv1d: the paper's replacement for BERT's dense layers (SqueezeBERT §3).

    Output channel o belongs to group j = o // (Cout/g) and reads only the input channels of group j:
        y[n, o, w] = b[o] + sum_c weight[o, c, 0] * x[n, j*Cin/g + c, w]
    so a grouped conv is a dense layer whose weight is block-diagonal with g blocks, and costs 1/g of its FLOPs.
    We compute it as one batched matmul over the groups. Example: groups=1 gives y = weight[:, :, 0] @ x + b[:, None].
    """
    n, c_in, w = x.shape
    c_out = weight.shape[0]
    wg = weight.reshape(groups, c_out // groups, c_in // groups)   # [g, Cout/g, Cin/g] (drops the kernel axis)
    xg = x.reshape(n, groups, c_in // groups, w)                    # [N, g, Cin/g, W]
    y = (wg @ xg).reshape(n, c_out, w)                               # [N, g, Cout/g, W] -> [N, Cout, W]
    return y + bias[:, None]


def grouped_conv1x1_backward(dout, x, weight, groups):  # [N, Cout, W], [N, Cin, W], [Cout, Cin/g, 1]
    """Per group, y_g = W_g x_g + b:  dx_g = W_g^T dy_g,  dW_g = sum over batch and width of dy_g x_g^T,
    db = sum of dy over batch and width. Returns dx [N, Cin, W], dweight [Cout, Cin/g, 1], dbias [Cout]."""
    n, c_in, w = x.shape
    c_out = weight.shape[0]
    wg = weight.reshape(groups, c_out // groups, c_in // groups)          # [g, Cout/g, Cin/g]
    dyg = dout.reshape(n, groups, c_out // groups, w)                      # [N, g, Cout/g, W]
    xg = x.reshape(n, groups, c_in // groups, w)                           # [N, g, Cin/g, W]
    dx = (wg.transpose(0, 2, 1) @ dyg).reshape(n, c_in, w)                # [N, g, Cin/g, W] -> [N, Cin, W]
    dw = (dyg @ xg.transpose(0, 1, 3, 2)).sum(axis=0)                      # [N, g, Cout/g, Cin/g] -> [g, ...]
    return dx, dw.reshape(weight.shape), dout.sum(axis=(0, 2))


def embedding(weight, ids):  # [V, E], [N, W] ints -> [N, W, E]
    """torch.nn.Embedding: a row lookup."""
    return weight[ids]


def embedding_backward(dout, ids, num_embeddings, padding_idx=None):  # [N, W, E], [N, W] -> [V, E]
    """Each looked-up row receives the sum of the gradients at the positions that read it (a scatter-add); the
    `padding_idx` row receives none, as torch.nn.Embedding(padding_idx=...) (its value never changes in training)."""
    dweight = np.zeros((num_embeddings, dout.shape[-1]), dout.dtype)
    flat, rows = ids.reshape(-1), dout.reshape(-1, dout.shape[-1])        # [N*W], [N*W, E]
    order = np.argsort(flat, kind="stable")                               # equal ids side by side, then one sum
    first = np.flatnonzero(np.r_[True, flat[order][1:] != flat[order][:-1]])   # per id (np.add.at is slow)
    dweight[flat[order][first]] = np.add.reduceat(rows[order], first, axis=0)
    if padding_idx is not None:
        dweight[padding_idx] = 0
    return dweight


# ---------------------------------------------------------------------------------------------------------------
# attention
# ---------------------------------------------------------------------------------------------------------------

def additive_attention_mask(attention_mask, dtype=np.float32):  # [N, W] -> [N, 1, 1, W] or None
    """transformers v5's mask: non-zero means attend (cast to bool), masked keys get finfo(dtype).min, added to scores.

    finfo.min rather than -inf: a fully masked row then holds equal (huge negative) scores and its softmax is
    uniform instead of NaN. When nothing is masked, v5 adds no mask at all; we return None likewise.
    """
    keep = np.asarray(attention_mask).astype(bool)
    if keep.all():
        return None
    return np.where(keep, 0.0, np.finfo(dtype).min).astype(dtype)[:, None, None, :]


def attention(q, k, v, mask, num_heads):  # [N, C, W] x3, [N, 1, 1, W] | None -> [N, C, W], [N, h, W, W]
    """Scaled dot-product self-attention in the [N, C, W] layout (SqueezeBertSelfAttention).

    Returns the context and the masked, scaled scores *before* the softmax, which is what transformers'
    `output_attentions` gives for SqueezeBERT (other BERTs return the probabilities).
    Channel c belongs to head c // d, as in BERT's split of the hidden vector.
    """
    context, scores, _ = attention_forward(q, k, v, mask, num_heads)
    return context, scores


def attention_forward(q, k, v, mask, num_heads, dropout_p=0.0, rng=None):  # -> context, scores, cache
    """`attention`, with dropout on the probabilities in training ("drops entire tokens to attend to", before
    probs @ v, as transformers), keeping what the backward needs."""
    n, c, w = q.shape
    d = c // num_heads
    # np.matmul runs strided (non-contiguous) operands through a slow non-BLAS loop: make q and v contiguous
    q = np.ascontiguousarray(q.reshape(n, num_heads, d, w).transpose(0, 1, 3, 2))   # [N, C, W] -> [N, h, W, d]
    k = k.reshape(n, num_heads, d, w)                         # [N, C, W] -> [N, h, d, W] (already "transposed")
    v = np.ascontiguousarray(v.reshape(n, num_heads, d, w).transpose(0, 1, 3, 2))   # [N, C, W] -> [N, h, W, d]
    scores = (q @ k) / math.sqrt(d)                           # [N, h, W, W]; divide after the matmul, as HF does
    if mask is not None:
        scores = scores + mask                                # broadcast over heads and query positions
    probs = softmax(scores, axis=-1)
    dropped, drop_mask = dropout(probs, dropout_p, rng)
    context = (dropped @ v).transpose(0, 1, 3, 2).reshape(n, c, w)   # [N, h, W, d] -> [N, h, d, W] -> [N, C, W]
    return context, scores, (q, k, v, probs, dropped, drop_mask)


def attention_backward(dcontext, cache):  # [N, C, W] -> dq, dk, dv, each [N, C, W]
    """Back through context = dropout(softmax(q k / sqrt d + mask)) v, one matmul at a time:
    dP' = dctx v^T and dv = P'^T dctx (P' the dropped probabilities); dP = dropout_backward(dP');
    softmax rows: dS = P * (dP - sum(dP * P)); then dq = dS k^T / sqrt d and dk = q^T dS / sqrt d.
    The additive mask is a constant: its gradient is not needed (masked keys have P = 0, so dS = 0 there)."""
    q, k, v, probs, dropped, drop_mask = cache                # [N, h, W, d], [N, h, d, W], [N, h, W, d], ...
    n, h, w, d = q.shape
    dctx = dcontext.reshape(n, h, d, w).transpose(0, 1, 3, 2)          # [N, C, W] -> [N, h, W, d]
    dprobs = dropout_backward(dctx @ v.transpose(0, 1, 3, 2), drop_mask)   # [N, h, W, W]
    dv = dropped.transpose(0, 1, 3, 2) @ dctx                           # [N, h, W, d]
    dscores = probs * (dprobs - (dprobs * probs).sum(axis=-1, keepdims=True))   # [N, h, W, W]
    dq = (dscores @ k.transpose(0, 1, 3, 2)) / math.sqrt(d)              # [N, h, W, d]; the 1/sqrt d of the
    dk = (q.transpose(0, 1, 3, 2) @ dscores) / math.sqrt(d)              # [N, h, d, W]  scores, on smaller arrays
    to_ncw = lambda a: a.transpose(0, 1, 3, 2).reshape(n, h * d, w)     # [N, h, W, d] -> [N, C, W]
    return to_ncw(dq), dk.reshape(n, h * d, w), to_ncw(dv)


# ---------------------------------------------------------------------------------------------------------------
# losses, as torch.nn's CrossEntropyLoss, MSELoss and BCEWithLogitsLoss with mean reduction
# ---------------------------------------------------------------------------------------------------------------

def log_softmax(x, axis=-1):  # [...] -> [...]
    """log(softmax(x)) by log-sum-exp: x - max - log(sum(exp(x - max))), finite even for huge logits."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def cross_entropy(logits, labels, ignore_index=-100):  # [M, K], [M] ints -> []
    """Mean of -log p(label) over the rows whose label is not `ignore_index` (NaN if every row is ignored, as torch)."""
    return cross_entropy_forward(logits, labels, ignore_index)[0]


def cross_entropy_forward(logits, labels, ignore_index=-100):  # [M, K], [M] ints -> [], cache
    keep = labels != ignore_index
    logp = log_softmax(logits[keep], axis=-1)                  # [kept, K]
    picked = logp[np.arange(keep.sum()), labels[keep]]
    with np.errstate(invalid="ignore"):
        loss = logits.dtype.type(-picked.sum() / keep.sum()) if keep.any() else logits.dtype.type(np.nan)
    return loss, (logp, keep, labels, logits.shape)


def cross_entropy_backward(dloss, cache):  # [], cache -> dlogits [M, K]
    """dlogits = (softmax - onehot(label)) / n_kept on the kept rows, 0 on ignored ones (all ignored: all 0, as
    torch, whose loss is then NaN)."""
    logp, keep, labels, shape = cache
    dlogits = np.zeros(shape, logp.dtype)
    d = np.exp(logp)                                           # softmax of the kept rows
    d[np.arange(len(d)), labels[keep]] -= 1
    dlogits[keep] = d * (dloss / max(len(d), 1))
    return dlogits


def mse_loss(predictions, targets):  # [...], [...] -> []
    return predictions.dtype.type(np.mean(np.square(predictions - targets)))


def mse_loss_backward(dloss, predictions, targets):  # -> dpredictions [...]
    """d/dp mean((p - t)^2) = 2 (p - t) / numel."""
    return (2 * dloss / predictions.size) * (predictions - targets)


def bce_with_logits(logits, targets):  # [...], [...] in [0, 1] -> []
    """Binary cross-entropy on logits, stable form: max(x, 0) - x*y + log(1 + exp(-|x|))."""
    x, y = logits, targets.astype(logits.dtype)
    return x.dtype.type(np.mean(np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))))


def bce_with_logits_backward(dloss, logits, targets):  # -> dlogits [...]
    """d/dx mean(softplus(x) - x y) = (sigmoid(x) - y) / numel."""
    sigmoid = 0.5 * (1 + np.tanh(0.5 * logits))                 # = 1 / (1 + exp(-x)), without overflow
    return (dloss / logits.size) * (sigmoid - targets.astype(logits.dtype))
