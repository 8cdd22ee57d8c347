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
    return (0.5 * x * (1.0 + erf(x / np.float32(math.sqrt(2.0))))).astype(x.dtype)


def gelu_tanh(x):  # [...] -> [...]
    """The tanh approximation of GELU (transformers' "gelu_new" / "gelu_pytorch_tanh")."""
    c = np.float32(math.sqrt(2.0 / math.pi))
    return 0.5 * x * (1.0 + np.tanh(c * (x + np.float32(0.044715) * x ** 3)))


def relu(x):
    return np.maximum(x, 0).astype(x.dtype)


def silu(x):
    """x * sigmoid(x) (transformers' "silu" / "swish")."""
    return x / (1 + np.exp(-x))


# the values of `hidden_act` we support, as transformers' ACT2FN names them
ACTIVATIONS = {"gelu": gelu, "gelu_new": gelu_tanh, "gelu_pytorch_tanh": gelu_tanh,
               "relu": relu, "silu": silu, "swish": silu, "tanh": np.tanh}


# ---------------------------------------------------------------------------------------------------------------
# normalisation, softmax, dense layers
# ---------------------------------------------------------------------------------------------------------------

def layer_norm(x, weight, bias, eps):  # [..., C], [C], [C] -> [..., C]
    """LayerNorm over the last axis with the biased variance, as torch.nn.LayerNorm: (x - mean) / sqrt(var + eps) * w + b."""
    mean = x.mean(axis=-1, keepdims=True)
    var = np.square(x - mean).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + np.float32(eps)) * weight + bias


def softmax(x, axis=-1):  # [...] -> [...]
    """Softmax, subtracting the max first so exp never overflows (a row of equal huge negatives becomes uniform)."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def linear(x, weight, bias):  # [..., Cin], [Cout, Cin], [Cout] -> [..., Cout]
    """torch.nn.Linear: x W^T + b (the weight is stored [out, in])."""
    return x @ weight.T + bias


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
    n, c, w = q.shape
    d = c // num_heads
    # np.matmul runs strided (non-contiguous) operands through a slow non-BLAS loop: make q and v contiguous
    q = np.ascontiguousarray(q.reshape(n, num_heads, d, w).transpose(0, 1, 3, 2))   # [N, C, W] -> [N, h, W, d]
    k = k.reshape(n, num_heads, d, w)                         # [N, C, W] -> [N, h, d, W] (already "transposed")
    v = np.ascontiguousarray(v.reshape(n, num_heads, d, w).transpose(0, 1, 3, 2))   # [N, C, W] -> [N, h, W, d]
    scores = (q @ k) / np.float32(math.sqrt(d))               # [N, h, W, W]; divide after the matmul, as HF does
    if mask is not None:
        scores = scores + mask                                # broadcast over heads and query positions
    probs = softmax(scores, axis=-1)
    context = (probs @ v).transpose(0, 1, 3, 2).reshape(n, c, w)   # [N, h, W, d] -> [N, h, d, W] -> [N, C, W]
    return context, scores


# ---------------------------------------------------------------------------------------------------------------
# losses, as torch.nn's CrossEntropyLoss, MSELoss and BCEWithLogitsLoss with mean reduction
# ---------------------------------------------------------------------------------------------------------------

def log_softmax(x, axis=-1):  # [...] -> [...]
    """log(softmax(x)) by log-sum-exp: x - max - log(sum(exp(x - max))), finite even for huge logits."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def cross_entropy(logits, labels, ignore_index=-100):  # [M, K], [M] ints -> []
    """Mean of -log p(label) over the rows whose label is not `ignore_index` (NaN if every row is ignored, as torch)."""
    keep = labels != ignore_index
    picked = log_softmax(logits[keep], axis=-1)[np.arange(keep.sum()), labels[keep]]
    with np.errstate(invalid="ignore"):
        return np.float32(-picked.sum() / keep.sum()) if keep.any() else np.float32(np.nan)


def mse_loss(predictions, targets):  # [...], [...] -> []
    return np.float32(np.mean(np.square(predictions - targets)))


def bce_with_logits(logits, targets):  # [...], [...] in [0, 1] -> []
    """Binary cross-entropy on logits, stable form: max(x, 0) - x*y + log(1 + exp(-|x|))."""
    x, y = logits, targets.astype(np.float32)
    return np.float32(np.mean(np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))))
