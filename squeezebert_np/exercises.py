"""Exercises for the course in notebooks/: you write a function, `check` runs it against the package's reference on
random inputs and says precisely what is wrong (the shape, the dtype, which element and by how much, and which
common mistake your output matches).

    from squeezebert_np.exercises import check

    def layer_norm(x, weight, bias, eps):  # [..., C], [C], [C] -> [..., C]
        ...

    check("layer_norm", layer_norm)     # prints ✅ or ❌ with the reason; returns a Result, true when correct

The exercises (`EXERCISES` maps each name to its signature and what it asks) and the lesson that poses each:

    01  wordpiece(word, vocab) -> list of str
    03  grouped_conv1x1(x, weight, bias, groups) -> [N, Cout, W]
    04  masked_softmax(scores, attention_mask) -> [N, h, W, W]
    05  layer_norm(x, weight, bias, eps) -> [..., C]      gelu(x) -> [...]
    06  cross_entropy(logits, labels) -> scalar           (label -100 is ignored)
    08  layer_norm_backward(dout, x, weight, eps) -> (dx, dweight, dbias)      gelu_grad(x) -> [...]   (float64)

Solutions live apart, in notebooks/solutions/<name>.py. Tolerances follow from the arithmetic: the expected value is
computed in float64 by the package's own functions (or math.erf), and an element may differ from it by a few units in
the last place of float32 (float64 for 08's gradients) times the number of terms summed into it (the standard
rounding-error bound), nothing more.
"""
import math
from dataclasses import dataclass

import numpy as np

from . import functional as F
from .errors import ExerciseError

EPS32 = float(np.finfo(np.float32).eps)        # 1.19e-7: one unit in the last place of 1.0 in float32


@dataclass
class Result:
    """What `check` found: `ok`, and the message it printed. True when the function is correct."""
    name: str
    ok: bool
    message: str

    def __bool__(self):
        return self.ok

    def __str__(self):
        return self.message


@dataclass
class Case:
    """One random input: the keyword arguments, the expected output and the allowed error."""
    args: dict
    expected: object
    tolerance: object = 0.0                    # per element (array) or a number


# ---------------------------------------------------------------------------------------------------------------
# comparing an answer with the expected one
# ---------------------------------------------------------------------------------------------------------------

def compare_arrays(got, expected, tolerance):
    """None when `got` matches `expected` within `tolerance` (per element), else what differs, in one sentence."""
    if not isinstance(got, (np.ndarray, np.generic)):
        return f"returned {type(got).__name__}, expected a NumPy array (np.ndarray) of shape {expected.shape}"
    if got.shape != expected.shape:
        return f"returned shape {got.shape}, expected {expected.shape}"
    if got.dtype.kind not in "fiu":
        return f"returned dtype {got.dtype}, expected {expected.dtype}"
    got64, exp64 = got.astype(np.float64), expected.astype(np.float64)
    error = np.abs(got64 - exp64)
    with np.errstate(invalid="ignore"):
        bad = ~(error <= tolerance) & ~(np.isnan(got64) & np.isnan(exp64))       # NaN where NaN is expected is fine
    wrong_dtype = got.dtype != expected.dtype
    dtype_note = (f"returned dtype {got.dtype}, expected {expected.dtype} (the package is float32 end to end: a "
                  "float64 constant or np.float64 scalar promotes the whole array)")
    if not bad.any():
        return dtype_note if wrong_dtype else None
    where = np.unravel_index(np.argmax(np.where(bad, np.nan_to_num(error, nan=np.inf), -1.0)), bad.shape)
    allowed = np.broadcast_to(tolerance, bad.shape)[where]
    values = (f"{float(got64[where]):.7g}, expected {float(exp64[where]):.7g} (|difference| {error[where]:.3g}, "
              f"allowed {allowed:.3g})")
    where_text = (f"returned {values}" if bad.size == 1 else f"{int(bad.sum())} of {bad.size} elements are wrong; "
                  f"the worst, [{', '.join(str(int(i)) for i in where)}], is {values}")
    return where_text + (f"; also {dtype_note}" if wrong_dtype else "")


def _same_answer(got, other):
    """Whether `got` is, give or take rounding, the output of a known mistake (lists of tokens: equal)."""
    if isinstance(other, list):
        return got == other
    if isinstance(other, tuple):
        return isinstance(got, tuple) and len(got) == len(other) and all(map(_same_answer, got, other))
    got, other = _as_float64(got), _as_float64(other)
    if not isinstance(got, (np.ndarray, np.generic)) or np.shape(got) != np.shape(other):
        return False
    with np.errstate(invalid="ignore", over="ignore"):
        return bool(np.allclose(got, other, rtol=1e-4, atol=1e-6, equal_nan=True))


def _as_float64(value):
    """A numeric answer in float64, so that matching a known mistake looks at the values, not the dtype."""
    if isinstance(value, (np.ndarray, np.generic, float)):
        return np.float64(value) if np.ndim(value) == 0 else np.asarray(value, np.float64)
    return value


def _describe_args(args):
    parts = []
    for k, v in args.items():
        if isinstance(v, np.ndarray):
            parts.append(f"{k} {list(v.shape)} {v.dtype}")
        elif isinstance(v, (dict, set)) and len(v) > 8:
            parts.append(f"{k} (a vocabulary of {len(v)} pieces)")
        else:
            parts.append(f"{k}={v!r}")
    return ", ".join(parts)


def _copy(args):
    return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in args.items()}


# ---------------------------------------------------------------------------------------------------------------
# the checker
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class Exercise:
    name: str
    signature: str
    task: str
    cases: object                     # rng -> list of Case
    compare: object = compare_arrays  # (got, expected, tolerance) -> None or a sentence
    mistakes: tuple = ()              # (what the mistake is, function of the case's args giving its output)


def run(exercise, fn, seed=0):
    """Run `fn` on every case of `exercise`; the Result says what is wrong with the first case that fails."""
    name = exercise.name
    cases = exercise.cases(np.random.default_rng(seed))
    for i, case in enumerate(cases, 1):
        args = _copy(case.args)
        where = f"on case {i} of {len(cases)} ({_describe_args(case.args)})"
        try:
            got = fn(**args)
        except NotImplementedError:
            return Result(name, False, f"❌ {name}: not written yet (it raises NotImplementedError). Write "
                                       f"{exercise.signature}: {exercise.task}")
        except Exception as e:                                      # the student's bug, reported, not re-raised
            return Result(name, False, f"❌ {name}: raised {type(e).__name__}: {e} {where}")
        changed = [k for k, v in case.args.items() if isinstance(v, np.ndarray)
                   and not np.array_equal(args[k], v, equal_nan=True)]
        if changed:
            return Result(name, False, f"❌ {name}: changed its input {', '.join(changed)} in place {where}; "
                                       "compute into a new array instead")
        problem = exercise.compare(got, case.expected, case.tolerance)
        values_wrong = problem and exercise.compare(_as_float64(got), _as_float64(case.expected), case.tolerance)
        if problem and values_wrong:
            hint = next((f" Hint: that is what {what} gives." for what, mistake in exercise.mistakes
                         if _same_answer(got, mistake(**_copy(case.args)))), "")
            return Result(name, False, f"❌ {name}: {problem} {where}.{hint}")
        if problem:
            return Result(name, False, f"❌ {name}: {problem} {where}.")
    return Result(name, True, f"✅ {name}: correct on {len(cases)} random cases")


def check(name, fn, seed=0):
    """Check your function `fn` for exercise `name` (see EXERCISES); prints the verdict and returns a Result."""
    if name not in EXERCISES:
        raise ExerciseError(f"no exercise named {name!r}; the exercises are {', '.join(EXERCISES)}")
    result = run(EXERCISES[name], fn, seed)
    print(result.message)
    return result


# ---------------------------------------------------------------------------------------------------------------
# 01 WordPiece
# ---------------------------------------------------------------------------------------------------------------

def _vocab():
    from .tokenization_base import default_vocab_file, load_vocab
    return load_vocab(default_vocab_file())


def _wordpiece_cases(rng):
    from .tokenization import WordpieceTokenizer
    vocab = _vocab()
    reference = WordpieceTokenizer(vocab)
    whole = [t for t in vocab if t.isalpha() and t.isascii() and len(t) > 2]
    pieces = [t for t in vocab if t.startswith("##") and t[2:].isalpha() and t.isascii()]
    words = ["unaffable", "playing", "a", "xqzjv", "##", "naïve", "tokenization", "x" * 100, "x" * 101]
    words += ["".join([whole[i] for i in rng.integers(len(whole), size=2)]) for _ in range(10)]
    for i, j in zip(rng.integers(len(whole), size=10), rng.integers(len(pieces), size=10)):
        words.append(whole[i] + pieces[j][2:])
    words += ["".join(rng.choice(list("abcdefghijklmnopqrstuvwxyzé"), size=rng.integers(1, 12))) for _ in range(10)]
    return [Case({"word": w, "vocab": vocab}, reference.tokenize(w)) for w in words]


def _compare_tokens(got, expected, tolerance=None):
    if not isinstance(got, list) or not all(isinstance(t, str) for t in got):
        return f"returned {got!r}, expected a list of strings like {expected!r}"
    if got == expected:
        return None
    first = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
    return f"returned {_short(got)}, expected {_short(expected)} (they differ from piece {first} on)"


def _short(tokens, most=8):
    return str(tokens) if len(tokens) <= most else f"{str(tokens[:most])[:-1]}, ... ({len(tokens)} pieces)]"


def _shortest_match(word, vocab):
    tokens, start = [], 0
    while start < len(word):
        end = next((e for e in range(start + 1, len(word) + 1)
                    if (word[start:e] if start == 0 else "##" + word[start:e]) in vocab), None)
        if end is None:
            return ["[UNK]"]
        tokens.append(word[start:end] if start == 0 else "##" + word[start:end])
        start = end
    return tokens


def _no_length_limit(word, vocab):
    from .tokenization import WordpieceTokenizer
    return WordpieceTokenizer(vocab, max_input_chars_per_word=10**9).tokenize(word)


def _unk_only_the_rest(word, vocab):
    from .tokenization import WordpieceTokenizer
    tokens = WordpieceTokenizer(vocab).tokenize(word)
    if tokens != ["[UNK]"] or len(word) > 100:
        return tokens
    out, start = [], 0                         # keep the pieces found before the failure
    while start < len(word):
        piece = next((p for e in range(len(word), start, -1)
                      for p in [word[start:e] if start == 0 else "##" + word[start:e]] if p in vocab), None)
        if piece is None:
            return out + ["[UNK]"]
        out.append(piece)
        start += len(piece) - (2 if start else 0)
    return out


# ---------------------------------------------------------------------------------------------------------------
# 03 grouped 1x1 convolution
# ---------------------------------------------------------------------------------------------------------------

def _conv_cases(rng):
    cases = []
    for n, cin, cout, w, g in [(1, 4, 4, 3, 1), (2, 8, 8, 5, 2), (2, 8, 12, 4, 4), (1, 12, 6, 7, 3), (3, 16, 16, 2, 16),
                               (2, 24, 48, 6, 4)]:
        x = rng.standard_normal((n, cin, w), dtype=np.float32)
        weight = rng.standard_normal((cout, cin // g, 1), dtype=np.float32)
        bias = rng.standard_normal(cout, dtype=np.float32)
        exact = F.grouped_conv1x1(x.astype(np.float64), weight.astype(np.float64), bias.astype(np.float64), g)
        # |fl(sum) - sum| <= (terms + 1) eps sum|products| (+ the bias): the standard bound for a float32 dot product
        size = F.grouped_conv1x1(np.abs(x.astype(np.float64)), np.abs(weight.astype(np.float64)),
                                 np.abs(bias.astype(np.float64)), g)
        cases.append(Case({"x": x, "weight": weight, "bias": bias, "groups": g}, exact.astype(np.float32),
                          (cin // g + 2) * EPS32 * size))
    return cases


def _conv_interleaved(x, weight, bias, groups):                 # group j reads channels j, j+g, j+2g, ...
    n, cin, w = x.shape
    x = x.reshape(n, cin // groups, groups, w).transpose(0, 2, 1, 3).reshape(n, cin, w)
    return F.grouped_conv1x1(x, weight, bias, groups)


# ---------------------------------------------------------------------------------------------------------------
# 04 masked softmax
# ---------------------------------------------------------------------------------------------------------------

def _softmax_cases(rng):
    cases = []
    for n, h, w in [(1, 1, 4), (2, 3, 5), (2, 2, 7), (3, 4, 9)]:
        scores = (3 * rng.standard_normal((n, h, w, w))).astype(np.float32)
        mask = (rng.random((n, w)) < 0.7).astype(np.int64)
        mask[0, 0], mask[0, -1] = 1, 0                              # something to attend to, something masked
        if n > 2:
            mask[-1] = 0                                            # a fully masked sequence: uniform rows
        exact = _masked_softmax_ref(scores, mask)
        cases.append(Case({"scores": scores, "attention_mask": mask}, exact.astype(np.float32),
                          (w + 4) * EPS32 * exact + 1e-38))
    return cases


def _masked_softmax_ref(scores, attention_mask):
    mask = F.additive_attention_mask(attention_mask)               # finfo(float32).min at masked keys, as transformers
    s = scores.astype(np.float64) + (0 if mask is None else mask)
    return F.softmax(s, axis=-1)


def _softmax_unmasked(scores, attention_mask):
    return F.softmax(scores.astype(np.float64), axis=-1)


def _softmax_mask_on_queries(scores, attention_mask):
    return _masked_softmax_ref(scores.transpose(0, 1, 3, 2), attention_mask).transpose(0, 1, 3, 2)


def _softmax_with_minus_inf(scores, attention_mask):
    keep = attention_mask.astype(bool)[:, None, None, :]
    with np.errstate(invalid="ignore"):
        return F.softmax(np.where(keep, scores.astype(np.float64), -np.inf), axis=-1)


def _softmax_wrong_axis(scores, attention_mask):
    mask = F.additive_attention_mask(attention_mask)
    return F.softmax(scores.astype(np.float64) + (0 if mask is None else mask), axis=-2)


# ---------------------------------------------------------------------------------------------------------------
# 05 LayerNorm and GELU
# ---------------------------------------------------------------------------------------------------------------

def _layer_norm_cases(rng):
    cases = []
    for shape, eps in [((4,), 1e-12), ((3, 8), 1e-5), ((2, 5, 16), 1e-12), ((2, 3, 64), 0.1), ((1, 7, 768), 1e-12)]:
        c = shape[-1]
        x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
        weight = rng.standard_normal(c, dtype=np.float32)
        bias = rng.standard_normal(c, dtype=np.float32)
        exact = F.layer_norm(x.astype(np.float64), weight.astype(np.float64), bias.astype(np.float64), eps)
        normalised = F.layer_norm(x.astype(np.float64), np.ones(c), np.zeros(c), eps)
        # mean and variance each sum C terms: allow (C + 8) ulps of the output's parts
        size = np.abs(normalised) * np.abs(weight) + np.abs(bias)
        cases.append(Case({"x": x, "weight": weight, "bias": bias, "eps": eps}, exact.astype(np.float32),
                          (c + 8) * EPS32 * size))
    return cases


def _layer_norm_unbiased(x, weight, bias, eps):
    x = x.astype(np.float64)
    mean, var = x.mean(-1, keepdims=True), x.var(-1, ddof=1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _layer_norm_eps_outside(x, weight, bias, eps):
    x = x.astype(np.float64)
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / (np.sqrt(var) + eps) * weight + bias


def _layer_norm_no_affine(x, weight, bias, eps):
    c = x.shape[-1]
    return F.layer_norm(x.astype(np.float64), np.ones(c), np.zeros(c), eps)


def _gelu_cases(rng):
    cases = []
    for shape in [(5,), (3, 7), (2, 4, 16)]:
        x = (rng.standard_normal(shape) * 3).astype(np.float32)
        x.flat[0] = 0.0
        cases.append(_gelu_case(x))
    cases.append(_gelu_case(np.array([-10, -5.5, -1, -1e-3, 1e-3, 1, 3.4854276, 5.5, 10], np.float32)))
    return cases


def _gelu_case(x):
    exact = np.array([v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64).ravel()])
    # a few roundings of magnitude |x| (1 + erf cancels for negative x: its error is relative to x, not to gelu(x))
    return Case({"x": x}, exact.reshape(x.shape).astype(np.float32), 8 * EPS32 * np.abs(x.astype(np.float64)))


def _gelu_tanh(x):
    return F.gelu_tanh(x.astype(np.float64))


def _gelu_sigmoid(x):
    x = x.astype(np.float64)
    return x / (1 + np.exp(-1.702 * x))


# ---------------------------------------------------------------------------------------------------------------
# 06 cross-entropy
# ---------------------------------------------------------------------------------------------------------------

def _cross_entropy_cases(rng):
    cases = []
    for m, k, scale in [(1, 2, 1.0), (4, 3, 1.0), (6, 5, 10.0), (8, 30, 3.0), (5, 4, 1000.0)]:
        logits = (scale * rng.standard_normal((m, k))).astype(np.float32)
        labels = rng.integers(k, size=m)
        if m > 3:
            labels[rng.integers(m, size=2)] = -100                  # ignored rows, as transformers marks padding
        exact = _cross_entropy_ref(logits, labels)
        size = float(np.abs(logits).max()) + math.log(k)
        cases.append(Case({"logits": logits, "labels": labels}, exact, (k + m + 8) * EPS32 * size))
    return cases


def _cross_entropy_ref(logits, labels):
    keep = labels != -100
    logp = F.log_softmax(logits[keep].astype(np.float64), axis=-1)[np.arange(keep.sum()), labels[keep]]
    return np.float32(-logp.mean())


def _compare_scalar(got, expected, tolerance):
    if isinstance(got, np.ndarray) and got.shape == ():
        got = got[()]
    if not isinstance(got, np.floating):
        kind = f"an array of shape {got.shape}" if isinstance(got, np.ndarray) else type(got).__name__
        return f"returned {kind}, expected a NumPy float32 scalar (e.g. np.float32(loss))"
    return compare_arrays(np.asarray(got), np.asarray(expected), tolerance)


def _cross_entropy_counting_ignored(logits, labels):
    keep = labels != -100
    logp = F.log_softmax(logits[keep].astype(np.float64), axis=-1)[np.arange(keep.sum()), labels[keep]]
    return np.float32(-logp.sum() / len(labels))


def _cross_entropy_sum(logits, labels):
    keep = labels != -100
    logp = F.log_softmax(logits[keep].astype(np.float64), axis=-1)[np.arange(keep.sum()), labels[keep]]
    return np.float32(-logp.sum())


def _cross_entropy_naive(logits, labels):
    keep = labels != -100
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        p = np.exp(logits[keep]) / np.exp(logits[keep]).sum(-1, keepdims=True)
        return np.float32(-np.log(p[np.arange(keep.sum()), labels[keep]]).mean())


# ---------------------------------------------------------------------------------------------------------------
# 08 backward: LayerNorm and GELU (float64, as gradient checks are done)
# ---------------------------------------------------------------------------------------------------------------

EPS64 = float(np.finfo(np.float64).eps)


def _layer_norm_backward_cases(rng):
    cases = []
    for shape, eps in [((5,), 1e-12), ((3, 8), 1e-5), ((2, 4, 16), 1e-12), ((2, 3, 64), 0.1)]:
        c, m = shape[-1], int(np.prod(shape[:-1]))
        x = rng.standard_normal(shape) * 2 + 1
        weight, dout = rng.standard_normal(c), rng.standard_normal(shape)
        dx, dw, db = _layer_norm_backward_ref(dout, x, weight, eps)
        _, (xhat, s, _) = F.layer_norm_forward(x, weight, np.zeros(c), eps)
        dxhat = np.abs(dout * weight)
        # each element sums O(C) terms: allow (C + 8) ulps of the terms' magnitudes; dweight and dbias sum M rows
        size_dx = (dxhat + dxhat.mean(-1, keepdims=True)
                   + np.abs(xhat) * (dxhat * np.abs(xhat)).mean(-1, keepdims=True)) / s
        axes = tuple(range(len(shape) - 1))
        tolerance = ((c + 8) * EPS64 * size_dx, (m + 8) * EPS64 * np.abs(dout * xhat).sum(axis=axes),
                     (m + 8) * EPS64 * np.abs(dout).sum(axis=axes))
        cases.append(Case({"dout": dout, "x": x, "weight": weight, "eps": eps}, (dx, dw, db), tolerance))
    return cases


def _layer_norm_backward_ref(dout, x, weight, eps):
    _, cache = F.layer_norm_forward(x, weight, np.zeros_like(weight), eps)
    return F.layer_norm_backward(dout, cache)


def _compare_tuple(got, expected, tolerance, names=("dx", "dweight", "dbias")):
    if not isinstance(got, tuple) or len(got) != len(expected):
        return f"returned {type(got).__name__}, expected a tuple ({', '.join(names)})"
    for name, g, e, t in zip(names, got, expected, tolerance):
        problem = compare_arrays(g, e, t)
        if problem:
            return f"{name}: {problem}"
    return None


def _layer_norm_backward_no_mean_terms(dout, x, weight, eps):          # as if mean and s were constants
    _, (xhat, s, _) = F.layer_norm_forward(x, weight, np.zeros_like(weight), eps)
    axes = tuple(range(dout.ndim - 1))
    return dout * weight / s, (dout * xhat).sum(axis=axes), dout.sum(axis=axes)


def _layer_norm_backward_no_variance_term(dout, x, weight, eps):       # the mean's path, not the variance's
    _, (xhat, s, _) = F.layer_norm_forward(x, weight, np.zeros_like(weight), eps)
    dxhat = dout * weight
    axes = tuple(range(dout.ndim - 1))
    return (dxhat - dxhat.mean(-1, keepdims=True)) / s, (dout * xhat).sum(axis=axes), dout.sum(axis=axes)


def _gelu_grad_cases(rng):
    cases = []
    for x in [rng.standard_normal(6) * 3, rng.standard_normal((3, 5)) * 2, np.array([-8.0, -1.0, 0.0, 0.5, 3.0])]:
        phi = np.exp(-x * x / 2) / math.sqrt(2 * math.pi)
        exact = 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2))) + x * phi    # math.erf: within about an ulp
        cases.append(Case({"x": x}, exact, 16 * EPS64 * (1 + np.abs(x) * phi)))
    return cases


# ---------------------------------------------------------------------------------------------------------------
# the list
# ---------------------------------------------------------------------------------------------------------------

EXERCISES = {e.name: e for e in [
    Exercise("wordpiece", "wordpiece(word, vocab) -> list of str",
             "greedy longest-match-first: take the longest prefix in vocab, continue with '##' + the longest piece "
             "of the rest; if nothing matches somewhere, the whole word is ['[UNK]']; a word longer than 100 "
             "characters is ['[UNK]']",
             _wordpiece_cases, _compare_tokens,
             (("the shortest match instead of the longest", _shortest_match),
              ("no 100-character limit", _no_length_limit),
              ("[UNK] for only the part that failed (BERT makes the whole word [UNK])", _unk_only_the_rest))),
    Exercise("grouped_conv1x1", "grouped_conv1x1(x, weight, bias, groups) -> [N, Cout, W]",
             "x [N, Cin, W], weight [Cout, Cin/groups, 1], bias [Cout]; output channel o is in group "
             "j = o // (Cout/groups) and reads only input channels j*Cin/groups ... (j+1)*Cin/groups - 1",
             _conv_cases, compare_arrays,
             (("leaving out the bias", lambda x, weight, bias, groups: F.grouped_conv1x1(x, weight, 0 * bias, groups)),
              ("giving group j the channels j, j+g, j+2g, ... (they are contiguous blocks)", _conv_interleaved))),
    Exercise("masked_softmax", "masked_softmax(scores, attention_mask) -> [N, h, W, W]",
             "softmax over the last axis (the keys) of scores [N, h, W, W] after adding finfo(float32).min at the "
             "keys whose attention_mask [N, W] is 0 (transformers' mask: a fully masked row comes out uniform)",
             _softmax_cases, compare_arrays,
             (("no mask at all", _softmax_unmasked),
              ("masking the queries (rows) instead of the keys (columns)", _softmax_mask_on_queries),
              ("-inf instead of finfo(float32).min (a fully masked row becomes NaN)", _softmax_with_minus_inf),
              ("the softmax over axis -2 instead of -1", _softmax_wrong_axis))),
    Exercise("layer_norm", "layer_norm(x, weight, bias, eps) -> [..., C]",
             "over the last axis: (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance "
             "(divide by C, as torch.nn.LayerNorm)",
             _layer_norm_cases, compare_arrays,
             (("the unbiased variance (dividing by C - 1)", _layer_norm_unbiased),
              ("eps outside the square root, sqrt(var) + eps", _layer_norm_eps_outside),
              ("leaving out weight and bias", _layer_norm_no_affine))),
    Exercise("gelu", "gelu(x) -> same shape",
             "the exact GELU, x * 0.5 * (1 + erf(x / sqrt(2))), as transformers' hidden_act='gelu'",
             _gelu_cases, compare_arrays,
             (("the tanh approximation (transformers' 'gelu_new'), not the exact erf form", _gelu_tanh),
              ("the sigmoid approximation x * sigmoid(1.702 x)", _gelu_sigmoid))),
    Exercise("cross_entropy", "cross_entropy(logits, labels) -> float32 scalar",
             "logits [M, K], labels [M] ints; the mean of -log softmax(logits)[label] over the rows whose label "
             "is not -100 (torch.nn.CrossEntropyLoss); stable for huge logits (log-sum-exp)",
             _cross_entropy_cases, _compare_scalar,
             (("dividing by all rows, ignored ones included", _cross_entropy_counting_ignored),
              ("the sum instead of the mean", _cross_entropy_sum),
              ("exp without subtracting the max first (overflows for large logits)", _cross_entropy_naive))),
    Exercise("layer_norm_backward", "layer_norm_backward(dout, x, weight, eps) -> (dx, dweight, dbias)",
             "the gradients of sum(dout * layer_norm(x, weight, bias, eps)) over the last axis (biased variance), "
             "in float64: dweight and dbias summed over every axis but the last",
             _layer_norm_backward_cases, _compare_tuple,
             (("treating the mean and the standard deviation as constants (dx = dout * weight / s)",
               _layer_norm_backward_no_mean_terms),
              ("leaving out the path through the variance (the xhat * mean(dxhat * xhat) term)",
               _layer_norm_backward_no_variance_term))),
    Exercise("gelu_grad", "gelu_grad(x) -> same shape",
             "d/dx of the exact GELU x * Phi(x): Phi(x) + x * phi(x), Phi the normal CDF and phi its density, "
             "in float64",
             _gelu_grad_cases, compare_arrays,
             (("Phi(x) alone, without the x * phi(x) term",
               lambda x: 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))),
              ("the tanh approximation's derivative", lambda x: F.gelu_tanh_grad(x)))),
]}
