"""The fast forward: the same encoder as `modeling.py` + `functional.py`, rearranged for speed. On by default.

`functional.py` is the readable reference; this module computes the same numbers (tests/test_fast.py checks it
against the reference path, and the goldens against transformers, at 1e-5) with every change below made for a
measured reason (benchmarks/README.md has the figures):

1. Layout [C, T], T = N*W: the batch's tokens side by side as columns. A grouped 1x1 conv is then g plain GEMMs
   [Cout/g, Cin/g] @ [Cin/g, t] on contiguous row blocks (one np.matmul into a reused buffer, no copies), and a
   batch makes each GEMM wider instead of making more small ones: OpenBLAS gets closer to its peak.
2. Blocks: the layer runs on blocks of whole sequences (about BLOCK_COLUMNS tokens), and everything after the
   attention on tiles of TILE_COLUMNS tokens, with buffers reused from block to block (`Scratch`): no temporary
   of the batch's full size, no fresh pages (page faults) in every layer, and the layer output overwrites its
   input block.
3. Attention reads q, k, v as strided views of [C, t] (np.matmul hands strided-but-unit-stride operands to BLAS
   with a leading dimension, no copy), writes the context straight into [C, t] with `out=`, scales q instead of
   the scores and divides the context instead of the probabilities (the smaller arrays).
4. GELU in float32, in place, in cache-sized chunks (`gelu_`), with an error bound measured by tests/test_fast.py
   instead of the reference float64 erf: the reference GELU was ~80% of a forward.
5. Threads. With several sequences the batch is split into one group of sequences per thread, each run through
   every layer with single-threaded GEMMs (data parallelism: nothing to synchronise); with one sequence the GEMMs
   use OpenBLAS's threads and the elementwise work stays in the calling thread (OpenBLAS's idle threads spin
   between GEMMs). Only when BLAS has one thread, or is not an OpenBLAS we can see, is the elementwise work
   (GELU, LayerNorm, softmax) split over ours (NumPy ufuncs release the GIL but run on one core).

Training (`loss_and_grads`, modeling.py / heads.py) runs modeling.py's layer forward/backward, with three float32
replacements from here: the grouped convs as one GEMM per group over all N*W tokens in the token-major [N*W, C]
layout (`grouped_conv1x1(_backward)`: no per-sample products, no [N, g, Cout/g, Cin/g] temporary for dW); GELU and
GELU' from `gelu_and_grad` (one chunked float32 pass, the same approximation as 4., which replaced a float64 erf
that took ~2/3 of a step); and with several threads, the encoder over groups of sequences in parallel as in 5.
(`encoder_train_forward` / `_backward`), dropout masks unchanged. Inside `loss_and_grads` the large arrays of those
replacements (conv outputs and input gradients, token-major copies, GELU and GELU', dout * GELU') and of the
attention (`attention_forward` / `_backward`: functional.py's operations, written into buffers) are taken from
buffers the model reuses from step to step (`StepBuffers`, `training_step`): no fresh pages at every step.

Switch:  `with squeezebert_np.fast.disable(): model(...)` runs the reference path; `fast.set_enabled(False)` turns
it off for the process; `fast.set_num_threads(n)` sets our threads (default: the CPUs this process may use, as
OpenBLAS does). The batch split of 5. uses at most as many threads as OpenBLAS is set to, so a `threadpoolctl`
limit or OPENBLAS_NUM_THREADS=1 turns it off; it sets OpenBLAS to 1 thread while it runs and restores it after.
Parameters are only read, never written (they may be read-only memory maps).
"""
import contextlib
import math
import os
import sys
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
    if _num_threads == 1 or len(pieces) == 1 or getattr(_state, "inline", False):
        for p in pieces:
            fn(p)
        return
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor      # imported on first use: import time stays low
        _pool = ThreadPoolExecutor(_num_threads, thread_name_prefix="squeezebert_np")
    for f in [_pool.submit(fn, p) for p in pieces]:
        f.result()


def _inline(fn):
    """fn run with `_parallel` inline: for the workers of a data-parallel forward, which already use every core."""
    def run(piece):
        was_inline = getattr(_state, "inline", False)
        _state.inline = True
        try:
            fn(piece)
        finally:
            _state.inline = was_inline
    return run


# OpenBLAS's thread count, read and set through its C API (as threadpoolctl does, without depending on it): the
# data-parallel forward runs one sequence group per core with single-threaded GEMMs. The count is process-wide:
# while such a forward runs, other threads' GEMMs are single-threaded too.
_blas_apis = None        # [(get_num_threads, set_num_threads)] of every OpenBLAS loaded, NumPy's first
_blas_lock = threading.Lock()
_blas_users = 0
_blas_saved = []


def _openblas_apis():
    """(get_num_threads, set_num_threads) of each OpenBLAS in the process, NumPy's own first; [] when there is
    none we can see (not Linux, or another BLAS such as MKL or Accelerate)."""
    global _blas_apis
    if _blas_apis is None:
        apis = []
        try:
            import ctypes
            with open("/proc/self/maps") as maps:
                paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and ".so" in line}
            numpy_dir = os.path.dirname(np.__file__)               # numpy/ and numpy.libs/ of a wheel
            for path in sorted(paths, key=lambda p: not p.startswith(numpy_dir)):
                lib = ctypes.CDLL(path)
                for prefix, suffix in [(p, s) for p in ("scipy_", "") for s in ("64_", "_64", "")]:
                    get = getattr(lib, f"{prefix}openblas_get_num_threads{suffix}", None)
                    set_ = getattr(lib, f"{prefix}openblas_set_num_threads{suffix}", None)
                    if get is not None and set_ is not None:
                        get.restype, get.argtypes = ctypes.c_int, []
                        set_.restype, set_.argtypes = None, [ctypes.c_int]
                        apis.append((get, set_))
                        break
        except (OSError, ValueError):
            pass
        _blas_apis = apis
    return _blas_apis


def blas_threads():
    """OpenBLAS's current thread count (NumPy's OpenBLAS; None if there is none we can read)."""
    apis = _openblas_apis()
    return apis[0][0]() if apis else None


@contextlib.contextmanager
def _single_threaded_blas():
    """Every OpenBLAS at 1 thread inside the block, restored after (nested and concurrent uses share one saved
    value; which of the loaded OpenBLAS libraries NumPy calls is not always visible, so all are set)."""
    global _blas_users, _blas_saved
    apis = _openblas_apis()
    with _blas_lock:
        if _blas_users == 0:
            _blas_saved = [get() for get, _ in apis]
            for _, set_ in apis:
                set_(1)
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0:
                for (_, set_), saved in zip(apis, _blas_saved):
                    set_(saved)


def _after_fork_in_child():
    """A forked child inherits the pool object but not its threads (work sent to it would wait forever) and
    maybe a lock held by another thread: start afresh."""
    global _pool, _blas_lock, _blas_users
    _pool = None
    _blas_lock = threading.Lock()
    _blas_users = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


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
# U is interpolated at import by a degree-7 Chebyshev series on t in [0, 1], computed from math.erfc (no magic
# constants), then evaluated in float32 by Horner's rule in the monomial basis of t. P = 0.425 minimises the
# interpolation error at degree 7 (a scan of P in [0.15, 0.9]); degree 6 could not meet the bound below, degree 8
# costs two more passes over the data for accuracy that float32 rounding then hides.
# Error bound, measured rather than proven: |gelu_fast - gelu_exact| <= 2e-7 + 4e-7 |gelu_exact| for float32 x up to
# 1.7e38 (above, x + |x| overflows; +inf gives NaN, not inf: a model with an infinite activation gives NaN either way,
# at the next LayerNorm). The approximation itself (the float32-rounded coefficients evaluated in float64)
# is within 8e-8 of q on a 2*10^5-point grid of [0, 12]; float32 rounding of the ~25 operations adds the rest.
# tests/test_fast.py checks the bound on a 4e6-point grid of [-12, 12] and on every float32 in [1, 2) and [-2, -1);
# the worst case found is half the bound. For scale: one float32 ulp at 1.0 is 1.2e-7, and
# transformers' own CPU erf (A&S 7.1.26) is accurate to 1.5e-7.

_GELU_P = 0.425
_GELU_DEGREE = 7


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
_GELU_CHUNK = 32768       # elements per in-place step: the 4 live 128 KB chunk buffers stay in L2 (measured:
                          # 16384 is ~20% slower, each NumPy call's fixed cost then shows)
_GELU_INV_P = np.float32(1 / _GELU_P)


def _gelu_chunk(x, a, t, e):  # x: [k] float32, updated in place; a, t, e: [k] scratch
    np.abs(x, out=a)
    np.add(a, _GELU_INV_P, out=t)
    np.divide(_GELU_INV_P, t, out=t)                          # t = 1 / (1 + P a) = (1/P) / (1/P + a)
    c = _GELU_COEFFS_X2
    np.multiply(t, c[-1], out=e)                              # Horner: e = 2 U(t)
    for coef in c[-2:0:-1]:
        e += coef
        e *= t
    e += c[0]
    e *= t                                                    # 2 t U(t)
    e *= a                                                    # 2 a t U(t)
    np.square(a, out=t)
    t *= np.float32(-0.5)
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


_INV_SQRT_2PI = np.float32(1 / math.sqrt(2 * math.pi))


def gelu_and_grad(x):  # [...] float32 -> GELU(x), GELU'(x), both [...] float32
    """The training forward's GELU and its derivative in one float32 pass, from the same approximation as gelu_:
    with a = |x|, r = t U(t) exp(-a^2/2) = Phi(-a) (the normal tail), GELU(x) = max(x, 0) - a r and
    GELU'(x) = Phi(x) + x phi(x), where Phi(x) = r for x < 0 and 1 - r otherwise, phi(x) = exp(-a^2/2) / sqrt(2 pi).
    Measured error of the derivative (tests/test_fast.py): within 3e-7 of the exact one."""
    if x.ndim == 3 and not x.flags.c_contiguous and x.transpose(0, 2, 1).flags.c_contiguous:
        y, grad = gelu_and_grad(x.transpose(0, 2, 1))     # a conv's [N, C, W] view of [N, W, C]: elementwise,
        return y.transpose(0, 2, 1), grad.transpose(0, 2, 1)    # so run in memory order, no copy
    x = np.ascontiguousarray(x, dtype=np.float32)
    y, grad = _empty(x.shape), _empty(x.shape)
    xf, yf, gf = x.reshape(-1), y.reshape(-1), grad.reshape(-1)
    k = _GELU_CHUNK

    def run(span):
        start, stop = span
        a, t, e = (np.empty(k, np.float32) for _ in range(3))
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            for i in range(start, stop, k):
                j = min(i + k, stop)
                xi, yi, gi, ai, ti, ei = xf[i:j], yf[i:j], gf[i:j], a[:j - i], t[:j - i], e[:j - i]
                np.abs(xi, out=ai)
                np.add(ai, _GELU_INV_P, out=ti)
                np.divide(_GELU_INV_P, ti, out=ti)                # t = 1 / (1 + P a)
                np.multiply(ti, _GELU_COEFFS[-1], out=ei)         # Horner: e = U(t)
                for coef in _GELU_COEFFS[-2:0:-1]:
                    ei += coef
                    ei *= ti
                ei += _GELU_COEFFS[0]
                ei *= ti                                          # t U(t)
                np.square(ai, out=ti)
                ti *= np.float32(-0.5)
                np.exp(ti, out=ti)                                # exp(-a^2/2)
                ei *= ti                                          # r = Phi(-a)
                np.multiply(xi, ti, out=gi)
                gi *= _INV_SQRT_2PI                               # x phi(x)
                np.copyto(ti, ei)
                np.subtract(np.float32(1), ei, out=ti, where=xi >= 0)   # Phi(x)
                gi += ti
                np.maximum(xi, np.float32(0), out=yi)
                ei *= ai                                          # a r
                yi -= ei                                          # GELU = max(x, 0) - a Phi(-a)

    _parallel(run, _split(xf.size, min(_num_threads, max(1, xf.size // k)), k))
    return y, grad


# ---------------------------------------------------------------------------------------------------------------
# the training step's buffers, reused from step to step
# ---------------------------------------------------------------------------------------------------------------
# A training step at (32, 128) makes dozens of 50 MB temporaries ([N*W, 3072] float32: the intermediate conv's
# output, GELU and GELU', their gradients). Above glibc's mmap threshold (at most 32 MB) each is fresh memory from
# the kernel, faulted in page by page and returned when freed: measured 83-91 k page faults and 2.6-2.9 s of system
# time in a 14.7 s step. Inside `loss_and_grads` the fast path takes those arrays from the model's `StepBuffers`
# instead: a buffer is handed out again only once nothing references it (so a cache stays intact until its
# backward, and a buffer freed in the backward serves the next temporary of the same size: the peak memory stays
# the one of fresh arrays). Only internal temporaries come from here (the loss, the gradients and the outputs are
# fresh arrays; one kept by someone would never be reused anyway). Between steps the model keeps the buffers of its
# last step (those of other shapes are dropped): the step's peak activation memory, which the next step needs.

class StepBuffers:
    """float32 buffers of one model's training steps. `take` hands out a buffer nothing else references any more
    (CPython's reference count: every NumPy view keeps its base alive, so a buffer whose only references are ours
    is free), else a new one; a buffer still held anywhere (a cache, an array given to the user) is never handed
    out again. `end_step` drops the buffers this step did not use (another batch shape)."""

    def __init__(self):
        self._by_size, self._used, self._lock = {}, set(), threading.Lock()

    def take(self, shape):  # -> a float32 array of `shape` (uninitialised), referenced by nobody else
        size = math.prod(shape)
        with self._lock:
            bufs = self._by_size.setdefault(size, [])
            for buf in bufs:
                if sys.getrefcount(buf) == 3:        # the list, `buf`, getrefcount's argument: free
                    break
            else:
                buf = np.empty(size, np.float32)
                bufs.append(buf)
            self._used.add(id(buf))
            return buf.reshape(shape)               # the view holds it while the caller needs it

    def end_step(self):
        """Keep only the buffers this step used (whether or not they are still referenced)."""
        with self._lock:
            self._by_size = {size: kept for size, bufs in self._by_size.items()
                             if (kept := [b for b in bufs if id(b) in self._used])}
            self._used = set()


_step_buffers = __import__("weakref").WeakKeyDictionary()     # model -> StepBuffers


@contextlib.contextmanager
def training_step(model):
    """Inside the block (one forward + backward of `model` whose caches nobody else keeps), the fast path's
    large temporaries come from the model's StepBuffers; at the end they are free for its next step."""
    if not enabled():
        yield
        return
    buffers = _step_buffers.get(model)
    if buffers is None:
        buffers = _step_buffers[model] = StepBuffers()
    old = getattr(_state, "buffers", None)
    _state.buffers = buffers
    try:
        yield
    finally:
        _state.buffers = old
        buffers.end_step()


def _empty(shape):  # -> float32 [shape]: from the step's buffers inside `training_step`, else fresh
    buffers = getattr(_state, "buffers", None)
    return np.empty(shape, np.float32) if buffers is None else buffers.take(shape)


# ---------------------------------------------------------------------------------------------------------------
# the training path's grouped 1x1 convolutions, token-major
# ---------------------------------------------------------------------------------------------------------------
# functional.grouped_conv1x1(_backward) multiply sample by sample over [N, g] stacks of [Cout/g, Cin/g] @ [Cin/g, W]
# (reshaping a strided input copies it first), and the weight gradient builds an [N, g, Cout/g, Cin/g] temporary
# before summing over N: measured ~2.5x the GEMM floor, ~60% of a training step. Here the T = N*W tokens are rows
# of a [T, C] matrix (memory [N, W, C]: what LayerNorm's output already is, so most inputs come with no copy), and
# group j's channels are the column block [:, j*C/g : (j+1)*C/g], a strided matrix BLAS takes as is (leading
# dimension C). With y = x W^T + b per group (W_j [Cout/g, Cin/g]), each product is ONE GEMM per group over all T:
#     y_j  = x_j W_j^T      [T, Cin/g] @ [Cin/g, Cout/g]          (forward)
#     dx_j = dy_j W_j       [T, Cout/g] @ [Cout/g, Cin/g]         (input gradient)
#     dW_j = dy_j^T x_j     [Cout/g, T] @ [T, Cin/g], K = T        (weight gradient: the sum over N*W inside BLAS)
#     db   = sum over T of dy
# The same sums as functional.py's, in another order: equal within float32 rounding (tests/test_fast.py).
# Results are returned as [N, C, W] views of [N, W, C] memory, so the layer code above them does not change.

def multiply(a, b):  # [N, C, W] x2 -> a * b [N, C, W] (a view of [N, W, C] memory, as the convs' results)
    """The training backward's dout * act'(pre), into a step buffer (50 MB at (32, 128): one of the temporaries
    that were fresh pages at every step)."""
    n, c, w = a.shape
    return np.multiply(a, b, out=_empty((n, w, c)).transpose(0, 2, 1))


def _token_major(x):  # [N, C, W] (any strides) -> [N*W, C], C-contiguous (a view when x's memory is [N, W, C])
    n, c, w = x.shape
    xt = x.transpose(0, 2, 1)
    if xt.flags.c_contiguous and xt.dtype == np.float32:
        return xt.reshape(n * w, c)
    out = _empty((n, w, c))                                    # a copy, into a step buffer inside training_step
    np.copyto(out, xt, casting="unsafe")
    return out.reshape(n * w, c)


def _group_columns(a, groups):  # [T, C] -> [g, T, C/g]: group j's column block, a strided view (no copy)
    t, c = a.shape
    return a.reshape(t, groups, c // groups).transpose(1, 0, 2)


def grouped_conv1x1(x, weight, bias, groups):  # [N, Cin, W], [Cout, Cin/g, 1], [Cout] -> [N, Cout, W]
    """functional.grouped_conv1x1 as one GEMM per group over all N*W tokens; float32; the result is a view of
    [N, W, Cout] memory."""
    n, c_in, w = x.shape
    c_out = weight.shape[0]
    wg = weight.reshape(groups, c_out // groups, c_in // groups)                # [g, Cout/g, Cin/g]
    y = _empty((n * w, c_out))                                                  # [T, Cout]
    np.matmul(_group_columns(_token_major(x), groups), wg.transpose(0, 2, 1), out=_group_columns(y, groups))
    y += bias
    return y.reshape(n, w, c_out).transpose(0, 2, 1)


def grouped_conv1x1_backward(dout, x, weight, groups):  # [N, Cout, W], [N, Cin, W], [Cout, Cin/g, 1]
    """functional.grouped_conv1x1_backward with the GEMMs above: dx [N, Cin, W] (a view of [N, W, Cin] memory),
    dweight [Cout, Cin/g, 1], dbias [Cout]; no per-sample temporaries."""
    n, c_in, w = x.shape
    c_out = weight.shape[0]
    wg = weight.reshape(groups, c_out // groups, c_in // groups)                # [g, Cout/g, Cin/g]
    dy = _token_major(dout)                                                     # [T, Cout]
    dyg = _group_columns(dy, groups)                                            # [g, T, Cout/g]
    dx = _empty((n * w, c_in))                                                  # [T, Cin]
    np.matmul(dyg, wg, out=_group_columns(dx, groups))                          # dx_j = dy_j W_j
    dw = np.matmul(dyg.transpose(0, 2, 1), _group_columns(_token_major(x), groups))   # [g, Cout/g, Cin/g]
    return dx.reshape(n, w, c_in).transpose(0, 2, 1), dw.reshape(weight.shape), dy.sum(axis=0)


# ---------------------------------------------------------------------------------------------------------------
# the training path's attention, into step buffers
# ---------------------------------------------------------------------------------------------------------------
# functional.attention_forward / _backward with the same operations in the same order (the same numbers), each
# [N, h, W, W] or [N, C, W] result written with `out=` into `_empty` buffers: inside `training_step` they are
# reused from step to step instead of fresh memory (25 MB each at (32, 128)). Only the dropout's uniform draw is
# fresh (it comes from the model's generator, or a group's share of it).

def attention_forward(q, k, v, mask, num_heads, dropout_p=0.0, rng=None):  # as F.attention_forward, float32
    n, c, w = q.shape
    h, d = num_heads, c // num_heads
    q4 = _empty((n, h, w, d))
    np.copyto(q4, q.reshape(n, h, d, w).transpose(0, 1, 3, 2))              # [N, h, W, d]
    k4 = k.reshape(n, h, d, w)                                               # [N, h, d, W]
    v4 = _empty((n, h, w, d))
    np.copyto(v4, v.reshape(n, h, d, w).transpose(0, 1, 3, 2))              # [N, h, W, d]
    scores = np.matmul(q4, k4, out=_empty((n, h, w, w)))
    scores /= np.float32(math.sqrt(d))
    if mask is not None:
        scores += mask
    probs = np.subtract(scores, scores.max(axis=-1, keepdims=True), out=_empty((n, h, w, w)))
    np.exp(probs, out=probs)
    probs /= probs.sum(axis=-1, keepdims=True)
    if rng is None or dropout_p == 0:
        dropped, drop_mask = probs, None
    else:
        keep = rng.random(probs.shape, dtype=np.float32) >= dropout_p
        scale = np.float32(1 / (1 - dropout_p)) if dropout_p < 1 else np.float32(0)
        drop_mask = np.multiply(keep, scale, out=_empty((n, h, w, w)), dtype=np.float32)
        dropped = np.multiply(probs, drop_mask, out=_empty((n, h, w, w)))
    ctx = np.matmul(dropped, v4, out=_empty((n, h, w, d)))
    context = _empty((n, c, w))
    np.copyto(context.reshape(n, h, d, w), ctx.transpose(0, 1, 3, 2))      # [N, h, W, d] -> [N, C, W]
    return context, scores, (q4, k4, v4, probs, dropped, drop_mask)


def attention_backward(dcontext, cache):  # as F.attention_backward, float32: [N, C, W] -> dq, dk, dv [N, C, W]
    q, k, v, probs, dropped, drop_mask = cache
    n, h, w, d = q.shape
    dctx = dcontext.reshape(n, h, d, w).transpose(0, 1, 3, 2)             # [N, h, W, d]
    dprobs = np.matmul(dctx, v.transpose(0, 1, 3, 2), out=_empty((n, h, w, w)))
    if drop_mask is not None:
        dprobs *= drop_mask
    dv = np.matmul(dropped.transpose(0, 1, 3, 2), dctx, out=_empty((n, h, w, d)))
    rows = np.multiply(dprobs, probs, out=_empty((n, h, w, w))).sum(axis=-1, keepdims=True)
    dprobs -= rows
    dprobs *= probs                                                          # dscores = P (dP - sum(dP P))
    dq = np.matmul(dprobs, k.transpose(0, 1, 3, 2), out=_empty((n, h, w, d)))
    dq /= np.float32(math.sqrt(d))
    dk = np.matmul(q.transpose(0, 1, 3, 2), dprobs, out=_empty((n, h, d, w)))
    dk /= np.float32(math.sqrt(d))

    def to_ncw(a):  # [N, h, W, d] -> [N, C, W]
        out = _empty((n, h * d, w))
        np.copyto(out.reshape(n, h, d, w), a.transpose(0, 1, 3, 2))
        return out

    return to_ncw(dq), dk.reshape(n, h * d, w), to_ncw(dv)


# ---------------------------------------------------------------------------------------------------------------
# the encoder in the [C, T] layout
# ---------------------------------------------------------------------------------------------------------------

BLOCK_COLUMNS = 512   # tokens per block: whole sequences, about this many columns (one sequence if longer)
TILE_COLUMNS = 512    # tokens per feed-forward tile inside a block: its [3072, tile] GELU input stays in cache


class Scratch:
    """Named float32 buffers reused by every block and layer of one forward: fresh arrays of a few MB each
    would be fresh pages every time (page faults, zeroing), and a tile that is reused stays in cache."""

    def __init__(self):
        self._buffers = {}

    def get(self, name, shape):
        size = math.prod(shape)
        buf = self._buffers.get(name)
        if buf is None or buf.size < size:
            buf = self._buffers[name] = np.empty(size, np.float32)
        return buf[:size].reshape(shape)


def conv_(x, conv1d, out):  # [Cin, t] (a column block: rows may be strided) -> out [Cout, t], bias added
    """A grouped 1x1 conv as g GEMMs over contiguous row blocks (one batched np.matmul into `out`), plus the
    bias in place while the tile is still in cache."""
    g = conv1d.groups
    w = conv1d.weight
    c_out, c_in_g = w.shape[0], w.shape[1]
    t = x.shape[1]
    # out may be a column tile of a wider array: splitting its first axis keeps the reshape a view (a copy
    # would silently receive the result instead)
    np.matmul(w.reshape(g, c_out // g, c_in_g), x.reshape(g, c_in_g, t), out=out.reshape(g, c_out // g, t))
    out += conv1d.bias[:, None]
    return out


def layer_norm_(x, weight, bias, eps, scratch=None):  # [C, t] -> the same array, normalised over C, in place
    """F.layer_norm over the channel axis of [C, t], in place, column blocks split over the threads; `scratch`
    (a [C, t] buffer) holds the squares, else a temporary does."""
    c, t = x.shape
    inv_c = np.float32(1 / c)

    def run(span):
        a, b = span
        xs = x[:, a:b]
        mean = xs.sum(axis=0) * inv_c             # as x.mean: float32 sum, then / C
        xs -= mean
        var = np.square(xs, out=None if scratch is None else scratch[:, a:b]).sum(axis=0) * inv_c
        var += np.float32(eps)
        np.sqrt(var, out=var)
        xs /= var
        xs *= weight[:, None]
        xs += bias[:, None]

    _parallel(run, _split(t, min(_num_threads, max(1, t // 64)), 16))
    return x


def softmax_(s):  # [N, h, W, W] -> the same array, softmax over the last axis, in place
    """The reference softmax in place (exp of the shifted scores, divided by their sum), rows split over the
    threads. The encoder below uses `exp_shifted_` and divides the context instead."""
    exp_shifted_(s, normalise=True)
    return s


def exp_shifted_(s, normalise=False):  # [..., W] -> row sums [...]: s becomes exp(s - max(s)) (divided by the sum)
    """The softmax's numerators in place, row by row (the max subtracted first, as F.softmax, so exp never
    overflows), and their sums; with `normalise`, the softmax itself."""
    if not s.flags.c_contiguous:
        raise ValueError("softmax needs a C-contiguous array")
    rows = s.reshape(-1, s.shape[-1])
    sums = np.empty(rows.shape[0], np.float32)

    def run(span):
        a, b = span
        r = rows[a:b]
        r -= r.max(axis=-1, keepdims=True)
        np.exp(r, out=r)
        r.sum(axis=-1, out=sums[a:b])
        if normalise:
            r /= sums[a:b, None]

    _parallel(run, _split(rows.shape[0], min(_num_threads, max(1, rows.shape[0] // 64))))
    return sums.reshape(s.shape[:-1])


def attention_block(x, att, n, mask, kept, scratch):  # [C, n*W] whole sequences, [n,1,1,W] | None -> [C, n*W]
    """Self-attention over a block of whole sequences. Two rearrangements of F.attention, exact up to rounding:
    q is scaled by 1/sqrt(d) before q k^T (for d = 64 the factor is 1/8 and the result bit-identical), and the
    softmax's division by the row sum is applied to the context [d, W] instead of the probabilities [W, W]."""
    c, t = x.shape
    w = t // n
    h = att.num_attention_heads
    d = c // h
    q = conv_(x, att.query, scratch.get("q", (c, t)))
    q *= np.float32(1 / math.sqrt(d))
    k = conv_(x, att.key, scratch.get("k", (c, t)))
    v = conv_(x, att.value, scratch.get("v", (c, t)))
    q4 = q.reshape(h, d, n, w).transpose(2, 0, 3, 1)            # [n, h, W, d] (strided views of [C, t])
    k4 = k.reshape(h, d, n, w).transpose(2, 0, 1, 3)            # [n, h, d, W]
    v4 = v.reshape(h, d, n, w).transpose(2, 0, 1, 3)            # [n, h, d, W]
    scores = scratch.get("scores", (n, h, w, w))                # C-contiguous (matmul's own output would follow
    np.matmul(q4, k4, out=scores)                               # the strided inputs' axis order)
    if mask is not None:
        scores += mask
    if kept is not None:
        kept[...] = scores
    sums = exp_shifted_(scores)                                 # [n, h, W]; scores now exp(s - max)
    context = scratch.get("context", (h, d, n, w))              # = [C, t]
    np.matmul(v4, scores.transpose(0, 1, 3, 2), out=context.transpose(2, 0, 1, 3))   # context^T = v^T e^T
    context /= sums.transpose(1, 0, 2)[:, None]                 # [h, 1, n, W]: the softmax's denominators
    return context.reshape(c, t)


def feed_forward_(x, context, layer, scratch):  # [C, t] block of the layer input (overwritten), [C, t] -> x
    """Everything after attention works token by token, so it runs over column tiles that stay in cache:
    post-attention conv + residual + LayerNorm, intermediate conv + GELU, output conv + residual + LayerNorm.
    The layer's output overwrites x (each block of x is read only by its own block)."""
    c, t = x.shape
    pa, inter, out = layer.post_attention, layer.intermediate, layer.output
    for a in range(0, t, TILE_COLUMNS):
        b = min(t, a + TILE_COLUMNS)
        xt = x[:, a:b]
        h1 = conv_(context[:, a:b], pa.conv1d, scratch.get("post", (c, b - a)))
        h1 += xt
        layer_norm_(h1, pa.layernorm.weight, pa.layernorm.bias, pa.layernorm.eps, scratch.get("sq", (c, b - a)))
        mid = conv_(h1, inter.conv1d, scratch.get("mid", (inter.conv1d.weight.shape[0], b - a)))
        if inter.act == "gelu":
            gelu_(mid)
        else:
            mid[...] = F.ACTIVATIONS[inter.act](mid)
        conv_(mid, out.conv1d, xt)                              # straight into the layer's output
        xt += h1
        layer_norm_(xt, out.layernorm.weight, out.layernorm.bias, out.layernorm.eps, scratch.get("sq", (c, b - a)))
    return x


def encoder_layer_(x, layer, n, mask, kept, scratch):  # [C, T] -> the same array, now the layer's output
    """One SqueezeBertModule on blocks of whole sequences: attention needs a whole sequence, the rest a token."""
    c, t = x.shape
    w = t // n
    per_block = max(1, BLOCK_COLUMNS // w)
    for first in range(0, n, per_block):
        last = min(n, first + per_block)
        xb = x[:, first * w:last * w]
        context = attention_block(xb, layer.attention, last - first,
                                  None if mask is None else mask[first:last],
                                  None if kept is None else kept[first:last], scratch)
        feed_forward_(xb, context, layer, scratch)
    return x


def _to_nwc(x, n):  # [C, T] -> [N, W, C] (a contiguous copy)
    c, t = x.shape
    return np.ascontiguousarray(x.reshape(c, n, t // n).transpose(1, 2, 0))


def encoder_forward(encoder, hidden, mask, keep_hidden=True, keep_scores=True):
    """SqueezeBertEncoder.__call__ in the [C, T] layout: [N, W, C] -> last, hidden states, scores (lists may be
    empty when not kept; the last hidden state is always returned).

    Sequences never meet, so with several threads and several sequences the batch is split into one group of
    sequences per thread, each taken through every layer with single-threaded GEMMs: no synchronisation at all,
    where OpenBLAS's own threads meet in each of the hundreds of GEMM calls of a forward and the elementwise
    work would have to be split again. With one sequence (or one thread) the GEMMs use OpenBLAS's threads."""
    n, w, c = hidden.shape
    x = np.array(hidden.reshape(n * w, c).T, dtype=np.float32, order="C")    # [C, T], our own copy
    layers = encoder.layers
    h = layers[0].attention.num_attention_heads if layers else 1
    hidden_states = [np.empty((n, w, c), np.float32) for _ in layers] if keep_hidden else []
    all_scores = [np.empty((n, h, w, w), np.float32) for _ in layers] if keep_scores else []

    def run(span):  # sequences [first, last) through every layer, in place in x
        first, last = span
        xb = x[:, first * w:last * w]
        scratch = Scratch()
        for i, layer in enumerate(layers):
            encoder_layer_(xb, layer, last - first, None if mask is None else mask[first:last],
                           all_scores[i][first:last] if keep_scores else None, scratch)
            if keep_hidden:
                hidden_states[i][first:last] = xb.reshape(c, last - first, w).transpose(1, 2, 0)

    blas = blas_threads()
    workers = min(_num_threads, n, blas or 1)
    if workers > 1:
        with _single_threaded_blas():
            _parallel(_inline(run), _split(n, workers))
    elif blas is not None and blas > 1:
        # OpenBLAS's threads spin for a while after each GEMM: elementwise work split over our threads would
        # compete with them for the cores (measured 11-18% slower at (1, 128) and (1, 512) on 2 cores)
        _inline(run)((0, n))
    else:
        run((0, n))
    last = hidden_states[-1] if keep_hidden and layers else _to_nwc(x, n)
    return last, [hidden] + hidden_states, all_scores


# ---------------------------------------------------------------------------------------------------------------
# the training encoder, data parallel
# ---------------------------------------------------------------------------------------------------------------
# A training step's encoder is, as the inference forward (5.), the same computation for every sequence: with
# several threads the batch is split into one group of sequences per thread, each taken forward and then backward
# through every layer with single-threaded GEMMs, and the groups' parameter gradients are summed. Measured reason:
# with OpenBLAS's own threads only the GEMMs used the second core (its idle threads spin meanwhile), and the
# elementwise half of the step ran on one, so 2 threads were 1.5-1.8x torch's step.
# Dropout stays the plain path's, whatever the number of threads: every group asks for the same draws in the same
# order (the layers' order), and draw k is made once from the model's generator for the whole batch, each group
# taking its own sequences' rows (`_SharedDraws`).

def training_parts(n):
    """How many groups of sequences a float32 training step of batch n splits into (1: no split)."""
    return min(_num_threads, n, blas_threads() or 1)


class PartCaches(list):
    """The encoder caches of a data-parallel training forward: [((first, last), per-layer caches)]."""


class _SharedDraws:
    """The model's generator shared by the groups: draw k is made for the whole batch on first request."""

    def __init__(self, rng, parts):
        self.rng, self.parts, self.lock, self.draws = rng, parts, threading.Lock(), {}

    def take(self, k, shape, dtype, first, last):  # shape of the whole batch -> rows [first, last) of draw k
        with self.lock:
            if k not in self.draws:
                self.draws[k] = [self.rng.random(shape, dtype=dtype), self.parts]
            entry = self.draws[k]
            entry[1] -= 1
            if entry[1] == 0:
                del self.draws[k]                  # the last group to take it: forget the whole-batch array
            return entry[0][first:last]


class _GroupRng:
    """What F.dropout sees in one group's thread: `random(shape)` of the group's rows of the next shared draw."""

    def __init__(self, shared, first, last, n):
        self.shared, self.first, self.last, self.n, self.count = shared, first, last, n, 0

    def random(self, shape, dtype=np.float64):
        k, self.count = self.count, self.count + 1
        return self.shared.take(k, (self.n,) + tuple(shape[1:]), dtype, self.first, self.last)


def _over_groups(fn, items):
    """fn(item) for each group, one thread each, every OpenBLAS single-threaded meanwhile."""
    buffers = getattr(_state, "buffers", None)          # the caller's training_step, in every group's thread

    def run(item):
        old = getattr(_state, "buffers", None)
        _state.buffers = buffers
        try:
            fn(item)
        finally:
            _state.buffers = old

    with _single_threaded_blas():
        _parallel(_inline(run), items)


def encoder_train_forward(encoder, hidden, mask, rng):  # [N, W, C] -> last, hidden states, scores, PartCaches
    """SqueezeBertEncoder.forward over groups of sequences in parallel; the lists are joined along the batch."""
    n = hidden.shape[0]
    spans = _split(n, training_parts(n))
    shared = None if rng is None else _SharedDraws(rng, len(spans))
    results = {}

    def run(span):
        first, last = span
        results[span] = encoder.forward_layers(hidden[first:last], None if mask is None else mask[first:last],
                                               None if shared is None else _GroupRng(shared, first, last, n))

    _over_groups(run, spans)
    parts = [results[span] for span in spans]           # each (last, hidden states, scores, caches)
    all_hidden = [hidden] + [np.concatenate(h) for h in list(zip(*(p[1] for p in parts)))[1:]]
    all_scores = [np.concatenate(s) for s in zip(*(p[2] for p in parts))]
    return all_hidden[-1], all_hidden, all_scores, PartCaches(zip(spans, (p[3] for p in parts)))


def encoder_train_backward(encoder, dout, parts):  # [N, W, C], PartCaches -> d hidden [N, W, C], grads
    """SqueezeBertEncoder.backward over the groups of `encoder_train_forward`; parameter gradients summed."""
    dhidden = np.empty(dout.shape, np.float32)
    results = {}

    def run(part):
        (first, last), caches = part
        dx, results[first] = encoder.backward_layers(dout[first:last], caches)
        dhidden[first:last] = dx

    _over_groups(run, list(parts))
    grads = results[parts[0][0][0]]
    for (first, _), _ in parts[1:]:
        for name, g in results[first].items():
            grads[name] += g                        # every gradient is a fresh array of its own
    return dhidden, grads
