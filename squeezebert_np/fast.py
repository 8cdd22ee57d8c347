"""The fast forward: the same encoder as `modeling.py` + `functional.py`, rearranged for speed. On by default.

`functional.py` is the readable reference; this module computes the same numbers (tests/test_fast.py checks it
against the reference path, and the goldens against transformers, at 1e-5) with every change below made for a
measured reason (benchmarks/README.md has the figures):

1. Layout [C, T], T = N*W: the whole batch's tokens side by side as columns. A grouped 1x1 conv is then g plain
   GEMMs [Cout/g, Cin/g] @ [Cin/g, T] on contiguous blocks (one np.matmul, no copies), and batch 8 makes one GEMM
   8x wider instead of 8 small ones: OpenBLAS gets closer to its peak on wide operands.
2. Attention reads q, k, v as strided views of [C, T] (np.matmul hands strided-but-unit-stride operands to BLAS
   with a leading dimension, no copy) and writes the context straight back into [C, T] with `out=`.
3. GELU in float32, in place, in cache-sized chunks (`gelu_`), with an error bound measured by tests/test_fast.py instead of the reference
   float64 erf: the reference GELU was ~80% of a forward.
4. Elementwise work (GELU, LayerNorm, softmax) is split over a few threads (NumPy ufuncs release the GIL and run
   on one core; BLAS already uses every core, so without this the elementwise share grows with the thread count).
5. In-place updates (bias, residual, LayerNorm, softmax) instead of fresh temporaries: fewer page faults.

Switch:  `with squeezebert_np.fast.disable(): model(...)` runs the reference path; `fast.set_enabled(False)` turns
it off for the process; `fast.set_num_threads(n)` sets the elementwise threads (default: the CPUs this process
may use, as OpenBLAS does). Parameters are only read, never written (they may be read-only memory maps).
"""
import contextlib
import math
import os
import threading

import numpy as np
from numpy.polynomial import chebyshev

from . import functional as F

# ---------------------------------------------------------------------------------------------------------------
# the switch and the thread pool
# ---------------------------------------------------------------------------------------------------------------

_state = threading.local()
_default_enabled = True


def enabled():
    """True when model calls take the fast path (the default)."""
    return getattr(_state, "enabled", _default_enabled)


def set_enabled(flag):
    """Turn the fast path on or off for the whole process (threads that used `disable()` keep their setting)."""
    global _default_enabled
    _default_enabled = bool(flag)


@contextlib.contextmanager
def disable():
    """Run the plain reference path (functional.py) inside this block, in this thread."""
    old = getattr(_state, "enabled", None)
    _state.enabled = False
    try:
        yield
    finally:
        if old is None:
            del _state.enabled
        else:
            _state.enabled = old


def _default_threads():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:        # not Linux
        return max(1, os.cpu_count() or 1)


_num_threads = _default_threads()
_pool = None


def set_num_threads(n):
    """Threads for the elementwise work (GELU, LayerNorm, softmax); 1 runs it all in the calling thread."""
    global _num_threads, _pool
    if n != _num_threads and _pool is not None:
        _pool.shutdown()
        _pool = None
    _num_threads = max(1, int(n))


def get_num_threads():
    return _num_threads


def _parallel(fn, pieces):
    """Run fn(piece) for every piece, over the pool when there is more than one thread."""
    global _pool
    if _num_threads == 1 or len(pieces) == 1:
        for p in pieces:
            fn(p)
        return
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor      # imported on first use: import time stays low
        _pool = ThreadPoolExecutor(_num_threads, thread_name_prefix="squeezebert_np")
    for f in [_pool.submit(fn, p) for p in pieces]:
        f.result()


def _split(n, parts, multiple=1):
    """[(start, stop)] cutting range(n) into `parts` near-equal slices whose bounds are multiples of `multiple`."""
    bounds = sorted({min(n, round(n * i / parts / multiple) * multiple) for i in range(parts)} | {n})
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


# ---------------------------------------------------------------------------------------------------------------
# GELU in float32
# ---------------------------------------------------------------------------------------------------------------
# GELU(x) = x Phi(x) with Phi the normal CDF. Since Phi(x) = 1 - Phi(-x):
#     GELU(x) = max(x, 0) - q(|x|),   q(a) = a Phi(-a) = a/2 erfc(a/sqrt 2)      (one formula for both signs)
# and, with t = 1/(1 + P a) in (0, 1] (Abramowitz & Stegun 7.1.26's change of variable, which maps [0, inf) to a
# bounded interval where erfc(a/sqrt2) exp(a^2/2) is smooth):
#     q(a) = a exp(-a^2/2) t U(t),   U(t) = erfc(a/sqrt2) exp(a^2/2) (1 + P a) / 2,   U(0) = P/sqrt(2 pi)
# U is interpolated at import by a degree-8 Chebyshev series on t in [0, 1], computed from math.erfc (no magic
# constants), then evaluated in float32 by Horner's rule in the monomial basis of t.
# Error bound, measured rather than proven: |gelu_fast - gelu_exact| <= 2e-7 + 4e-7 |gelu_exact| for float32 x up to
# 1.7e38 (above, x + |x| overflows). The approximation itself (the float32-rounded coefficients evaluated in float64)
# is within 2.6e-8 of q on a 10^6-point grid of [0, 12]; float32 rounding of the ~30 operations adds the rest.
# tests/test_fast.py checks the bound on a 4e6-point grid of [-12, 12] and on every float32 in [1, 2) and [-2, -1);
# the worst case found is about a third of the bound. For scale: one float32 ulp at 1.0 is 1.2e-7, and
# transformers' own CPU erf (A&S 7.1.26) is accurate to 1.5e-7.

_GELU_P = 0.35
_GELU_DEGREE = 8


def _gelu_u(t):
    """U(t) in float64 for an array of t in [0, 1] (asymptotic series where exp(a^2/2) would overflow)."""
    out = []
    for ti in t:
        if ti <= 1e-9:
            out.append(_GELU_P / math.sqrt(2 * math.pi))
            continue
        a = (1 / ti - 1) / _GELU_P
        if a < 25:
            scaled = math.erfc(a / math.sqrt(2)) * math.exp(a * a / 2) / 2
        else:                       # erfc(z) exp(z^2) ~ 1/(z sqrt pi) (1 - 1/(2z^2) + 3/(4z^4) - ...)
            scaled = (1 - 1 / a ** 2 + 3 / a ** 4 - 15 / a ** 6) / (a * math.sqrt(2 * math.pi))
        out.append(scaled * (1 + _GELU_P * a))
    return np.array(out)


_GELU_COEFFS = [np.float32(c) for c in chebyshev.cheb2poly(chebyshev.chebinterpolate(
    lambda s: _gelu_u((s + 1) / 2), _GELU_DEGREE)) @ np.array(
    [[math.comb(j, i) * (-1) ** (j - i) * 2 ** i if i <= j else 0 for i in range(_GELU_DEGREE + 1)]
     for j in range(_GELU_DEGREE + 1)])]                   # Chebyshev on s in [-1, 1] -> monomials in t = (s+1)/2

_GELU_COEFFS_X2 = [np.float32(2 * c) for c in _GELU_COEFFS]   # doubling is exact: 2 q(a) in the same roundings
_GELU_CHUNK = 16384       # elements per in-place step: the ~4 live chunk buffers stay in L2


def _gelu_chunk(x, a, t, e):  # x: [k] float32, updated in place; a, t, e: [k] scratch
    np.abs(x, out=a)
    np.multiply(a, np.float32(_GELU_P), out=t)
    t += np.float32(1)
    np.divide(np.float32(1), t, out=t)                        # t = 1 / (1 + P a)
    c = _GELU_COEFFS_X2
    np.multiply(t, c[-1], out=e)                              # Horner: e = 2 U(t)
    for coef in c[-2:0:-1]:
        e += coef
        e *= t
    e += c[0]
    e *= t                                                    # 2 t U(t)
    e *= a                                                    # 2 a t U(t)
    np.multiply(a, np.float32(-0.5), out=t)
    t *= a
    np.exp(t, out=t)                                          # exp(-a^2/2)
    e *= t                                                    # 2 q(|x|)
    x += a                                                    # 2 max(x, 0), exactly (np.maximum is 4x slower)
    x -= e
    x *= np.float32(0.5)                                      # GELU = max(x, 0) - q(|x|), halving exactly


def gelu_(x):  # [...] float32, C-contiguous, writable -> the same array, overwritten with GELU(x)
    """GELU in place, in float32, within 2e-7 + 4e-7 |GELU(x)| of the exact one (see the derivation above)."""
    if x.dtype != np.float32 or not x.flags.c_contiguous or not x.flags.writeable:
        raise ValueError("gelu_ needs a writable C-contiguous float32 array (use fast.gelu for a copy)")
    flat = x.reshape(-1)
    k = _GELU_CHUNK

    def run(span):
        start, stop = span
        a, t, e = (np.empty(k, np.float32) for _ in range(3))
        with np.errstate(over="ignore", under="ignore"):
            for i in range(start, stop, k):
                j = min(i + k, stop)
                _gelu_chunk(flat[i:j], a[:j - i], t[:j - i], e[:j - i])

    _parallel(run, _split(flat.size, min(_num_threads, max(1, flat.size // k)), k))
    return x


def gelu(x):  # [...] -> [...] float32
    """Out-of-place fast GELU (a float32 copy of x, then gelu_)."""
    return gelu_(np.array(x, dtype=np.float32, order="C", copy=True))


# ---------------------------------------------------------------------------------------------------------------
# the encoder in the [C, T] layout
# ---------------------------------------------------------------------------------------------------------------

def conv(x, conv1d):  # [Cin, T] -> [Cout, T]
    """A grouped 1x1 conv as g GEMMs over contiguous row blocks (one batched np.matmul), plus the bias in place."""
    g = conv1d.groups
    w = conv1d.weight
    c_out, c_in_g = w.shape[0], w.shape[1]
    t = x.shape[1]
    y = np.matmul(w.reshape(g, c_out // g, c_in_g), x.reshape(g, c_in_g, t))   # [g, Cout/g, T]
    y = y.reshape(c_out, t)
    y += conv1d.bias[:, None]
    return y


def layer_norm_(x, weight, bias, eps):  # [C, T] -> the same array, normalised over C (axis 0), in place
    """F.layer_norm over the channel axis of [C, T], in place, column blocks split over the threads."""
    c, t = x.shape
    inv_c = np.float32(1 / c)

    def run(span):
        a, b = span
        xs = x[:, a:b]
        mean = xs.sum(axis=0) * inv_c             # as x.mean: float32 pairwise sum, then / C
        xs -= mean
        var = np.square(xs).sum(axis=0) * inv_c
        var += np.float32(eps)
        np.sqrt(var, out=var)
        xs /= var
        xs *= weight[:, None]
        xs += bias[:, None]

    _parallel(run, _split(t, min(_num_threads, max(1, t // 64)), 16))
    return x


def softmax_(s):  # [N, h, W, W] -> the same array, softmax over the last axis, in place
    if not s.flags.c_contiguous:
        raise ValueError("softmax_ needs a C-contiguous array")
    rows = s.reshape(-1, s.shape[-1])

    def run(span):
        a, b = span
        r = rows[a:b]
        r -= r.max(axis=-1, keepdims=True)
        np.exp(r, out=r)
        r /= r.sum(axis=-1, keepdims=True)

    _parallel(run, _split(rows.shape[0], min(_num_threads, max(1, rows.shape[0] // 64))))
    return s


def attention(x, layer, n, mask, keep_scores):  # [C, T], ..., [N, 1, 1, W] | None -> [C, T], [N, h, W, W] | None
    att = layer.attention
    c, t = x.shape
    w = t // n
    h = att.num_attention_heads
    d = c // h
    q, k, v = conv(x, att.query), conv(x, att.key), conv(x, att.value)
    q4 = q.reshape(h, d, n, w).transpose(2, 0, 3, 1)            # [N, h, W, d] (strided view)
    k4 = k.reshape(h, d, n, w).transpose(2, 0, 1, 3)            # [N, h, d, W]
    v4 = v.reshape(h, d, n, w).transpose(2, 0, 1, 3)            # [N, h, d, W]
    scores = np.empty((n, h, w, w), np.float32)                 # C-contiguous (matmul's own output would follow
    np.matmul(q4, k4, out=scores)                               # the strided inputs' axis order)
    scores /= np.float32(math.sqrt(d))
    if mask is not None:
        scores += mask
    kept = scores.copy() if keep_scores else None
    probs = softmax_(scores)
    context = np.empty((h, d, n, w), np.float32)               # = [C, T]
    np.matmul(v4, probs.transpose(0, 1, 3, 2), out=context.transpose(2, 0, 1, 3))   # context^T = v^T probs^T
    return context.reshape(c, t), kept


def encoder_layer(x, layer, n, mask, keep_scores):  # [C, T] -> [C, T], scores | None
    context, scores = attention(x, layer, n, mask, keep_scores)
    pa = layer.post_attention
    a = conv(context, pa.conv1d)
    a += x
    layer_norm_(a, pa.layernorm.weight, pa.layernorm.bias, pa.layernorm.eps)
    inter = layer.intermediate
    hmid = conv(a, inter.conv1d)
    if inter.act == "gelu":
        gelu_(hmid)
    else:
        hmid = F.ACTIVATIONS[inter.act](hmid)
    out = layer.output
    y = conv(hmid, out.conv1d)
    y += a
    layer_norm_(y, out.layernorm.weight, out.layernorm.bias, out.layernorm.eps)
    return y, scores


def _to_nwc(x, n):  # [C, T] -> [N, W, C] (a contiguous copy)
    c, t = x.shape
    return np.ascontiguousarray(x.reshape(c, n, t // n).transpose(1, 2, 0))


def encoder_forward(encoder, hidden, mask, keep_hidden=True, keep_scores=True):
    """SqueezeBertEncoder.__call__ in the [C, T] layout: [N, W, C] -> last, hidden states, scores (lists may be
    empty when not kept; the last hidden state is always returned)."""
    n, w, c = hidden.shape
    x = np.ascontiguousarray(hidden.reshape(n * w, c).T, dtype=np.float32)    # [C, T]
    all_hidden, all_scores = [hidden], []
    for layer in encoder.layers:
        x, scores = encoder_layer(x, layer, n, mask, keep_scores)
        if keep_hidden:
            all_hidden.append(_to_nwc(x, n))
        if keep_scores:
            all_scores.append(scores)
    last = all_hidden[-1] if keep_hidden else _to_nwc(x, n)
    return last, all_hidden, all_scores
