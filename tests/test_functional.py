"""Each function of functional.py against a naive reference: explicit Python loops, the math module, or torch."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import squeezebert_np.functional as F

from numerics import elementwise_bound

rng = np.random.default_rng(0)
floats32 = st.floats(-1e4, 1e4, allow_nan=False, width=32)


# ---- erf and GELU ----

def test_erf_matches_math_erf_over_float32():
    """The issue's bound: max |erf(x) - math.erf(x)| <= 1e-7 over float32 inputs (a dense sweep + every exponent)."""
    dense = np.linspace(-8, 8, 400_001, dtype=np.float32)
    exponents = np.float32(2.0) ** np.arange(-126, 8, dtype=np.float32)
    x = np.concatenate([dense, exponents, -exponents, np.nextafter(np.float32([2, 6]), np.float32(0)),
                        np.float32([0, 2, 6, 1e30, -1e30, np.finfo(np.float32).max])])
    ours = F.erf(x)
    ref = np.array([math.erf(float(v)) for v in x])
    assert ours.dtype == np.float32
    assert np.max(np.abs(ours - ref)) <= 1e-7


@given(hnp.arrays(np.float32, st.integers(1, 50), elements=floats32))
def test_erf_hypothesis(x):
    ref = np.array([math.erf(float(v)) for v in x])
    assert np.max(np.abs(F.erf(x) - ref)) <= 1e-7


def test_erf_is_odd_and_float64_accurate():
    x = np.linspace(0, 7, 10_001)
    assert np.array_equal(F.erf(-x), -F.erf(x))
    ref = np.array([math.erf(v) for v in x])
    assert np.max(np.abs(F.erf(x) - ref)) < 1e-10      # float64 in, float64 accuracy out


def test_gelu_exact_not_tanh():
    x = np.linspace(-10, 10, 20_001, dtype=np.float32)
    ref = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64)])
    assert F.gelu(x).dtype == np.float32
    assert np.max(np.abs(F.gelu(x) - ref)) <= 2e-6          # float32 rounding of x and of the product
    assert np.max(np.abs(F.gelu_tanh(x) - ref)) > 1e-4      # the approximation transformers does not use here


def test_gelu_against_torch():
    """Both compute x/2 (1 + erf(x/sqrt2)) in float32, torch with its own vectorised erf (several ulps on some CPUs:
    at x = 3.4854276 torch gives 3.4845724, exact 3.48457133): each within a few roundings of max(1, |x|) of the
    exact value (tests/numerics.py), so within the sum of both of each other."""
    torch = pytest.importorskip("torch")
    x = (rng.standard_normal(100_000) * 4).astype(np.float32)
    x64 = x.astype(np.float64)
    exact = 0.5 * x64 * (1 + np.array([math.erf(v / math.sqrt(2)) for v in x64]))
    theirs = torch.nn.functional.gelu(torch.from_numpy(x)).numpy()
    assert np.all(np.abs(F.gelu(x) - exact) <= elementwise_bound(x, 4))
    assert np.all(np.abs(theirs - exact) <= elementwise_bound(x, 16))   # erf to a few ulps, then 4 roundings
    assert np.all(np.abs(F.gelu(x) - theirs) <= elementwise_bound(x, 20))
    tanh_theirs = torch.nn.functional.gelu(torch.from_numpy(x), approximate="tanh").numpy()
    assert np.all(np.abs(F.gelu_tanh(x) - tanh_theirs) <= elementwise_bound(x, 24))   # 6 more roundings, tanh


# ---- layer norm, softmax, linear, grouped conv ----

def naive_layer_norm(x, w, b, eps):
    out = np.empty_like(x, dtype=np.float64)
    for idx in np.ndindex(x.shape[:-1]):
        row = x[idx].astype(np.float64)
        mean = sum(row) / len(row)
        var = sum((v - mean) ** 2 for v in row) / len(row)
        out[idx] = [(v - mean) / math.sqrt(var + eps) * wi + bi for v, wi, bi in zip(row, w, b)]
    return out


@pytest.mark.parametrize("eps", [1e-12, 1e-5])
def test_layer_norm(eps):
    x = (rng.standard_normal((3, 5, 16)) * 3 + 1).astype(np.float32)
    w, b = rng.standard_normal(16).astype(np.float32), rng.standard_normal(16).astype(np.float32)
    ours = F.layer_norm(x, w, b, eps)
    assert ours.dtype == np.float32
    assert np.max(np.abs(ours - naive_layer_norm(x, w, b, eps))) < 1e-5


def test_softmax_and_fully_masked_row():
    x = rng.standard_normal((4, 7)).astype(np.float32)
    naive = np.array([[math.exp(v) / sum(math.exp(u) for u in row) for v in row] for row in x.astype(np.float64)])
    assert np.max(np.abs(F.softmax(x) - naive)) < 1e-6
    huge = np.full((1, 5), np.finfo(np.float32).min, np.float32)   # a fully masked row: uniform, not NaN
    assert np.allclose(F.softmax(huge), 0.2)
    assert np.all(np.isfinite(F.softmax(np.float32([[1e30, -1e30, 0]]))))


def test_linear():
    x, w, b = rng.standard_normal((2, 3, 5)), rng.standard_normal((4, 5)), rng.standard_normal(4)
    naive = np.array([[[sum(x[i, j, k] * w[o, k] for k in range(5)) + b[o] for o in range(4)]
                       for j in range(3)] for i in range(2)])
    assert np.allclose(F.linear(x, w, b), naive)


def naive_grouped_conv(x, w, b, groups):
    n, c_in, width = x.shape
    c_out = w.shape[0]
    cin_g, cout_g = c_in // groups, c_out // groups
    y = np.zeros((n, c_out, width))
    for i in range(n):
        for o in range(c_out):
            g = o // cout_g
            for s in range(width):
                y[i, o, s] = b[o] + sum(w[o, c, 0] * x[i, g * cin_g + c, s] for c in range(cin_g))
    return y


@pytest.mark.parametrize("c_in,c_out,groups", [(8, 8, 1), (8, 16, 4), (12, 6, 3), (16, 4, 2), (6, 6, 6)])
def test_grouped_conv1x1_against_loops(c_in, c_out, groups):
    x = rng.standard_normal((2, c_in, 5)).astype(np.float32)
    w = rng.standard_normal((c_out, c_in // groups, 1)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    ours = F.grouped_conv1x1(x, w, b, groups)
    assert ours.dtype == np.float32 and ours.shape == (2, c_out, 5)
    assert np.max(np.abs(ours - naive_grouped_conv(x, w, b, groups))) < 1e-5


def test_grouped_conv1x1_is_block_diagonal_dense():
    """The paper's point: a grouped 1x1 conv is a dense layer with a block-diagonal weight."""
    x = rng.standard_normal((1, 12, 4)).astype(np.float32)
    w = rng.standard_normal((6, 4, 1)).astype(np.float32)
    dense = np.zeros((6, 12), np.float32)
    for g in range(3):
        dense[2 * g:2 * g + 2, 4 * g:4 * g + 4] = w[2 * g:2 * g + 2, :, 0]
    assert np.allclose(F.grouped_conv1x1(x, w, np.zeros(6, np.float32), 3), dense @ x[0], atol=1e-5)


def test_grouped_conv1x1_against_torch():
    torch = pytest.importorskip("torch")
    conv = torch.nn.Conv1d(768, 3072, 1, groups=4)
    x = rng.standard_normal((2, 768, 9)).astype(np.float32)
    with torch.no_grad():
        ref = conv(torch.from_numpy(x)).numpy()
    ours = F.grouped_conv1x1(x, conv.weight.detach().numpy(), conv.bias.detach().numpy(), 4)
    assert np.max(np.abs(ours - ref)) < 1e-5


# ---- attention ----

def naive_attention(q, k, v, keep, heads):
    """Loops over batch, head, query and key; keep[n, j] False means key j is masked (finfo.min added)."""
    n, c, w = q.shape
    d = c // heads
    ctx = np.zeros((n, c, w))
    scores = np.zeros((n, heads, w, w))
    for b in range(n):
        for h in range(heads):
            for i in range(w):
                row = []
                for j in range(w):
                    s = sum(q[b, h * d + t, i] * k[b, h * d + t, j] for t in range(d)) / math.sqrt(d)
                    row.append(s if keep is None or keep[b, j] else float(np.finfo(np.float32).min))
                scores[b, h, i] = row
                top = max(row)
                e = [math.exp(s - top) for s in row]
                p = [x / sum(e) for x in e]
                for t in range(d):
                    ctx[b, h * d + t, i] = sum(p[j] * v[b, h * d + t, j] for j in range(w))
    return ctx, scores


def test_attention_against_loops_with_a_fully_masked_row():
    n, c, w, heads = 3, 8, 5, 2
    q, k, v = (rng.standard_normal((n, c, w)).astype(np.float32) for _ in range(3))
    keep = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0]])   # the last sample fully masked
    ctx, scores = F.attention(q, k, v, F.additive_attention_mask(keep), heads)
    ref_ctx, ref_scores = naive_attention(q, k, v, keep.astype(bool), heads)
    assert ctx.dtype == np.float32 and scores.shape == (n, heads, w, w)
    assert np.max(np.abs(ctx - ref_ctx)) < 1e-5
    finite = keep.astype(bool)[:, None, None, :].repeat(heads, 1).repeat(w, 2)
    assert np.max(np.abs(scores[finite] - ref_scores[finite])) < 1e-5
    # fully masked: uniform attention over all keys, i.e. the mean of v, and finite
    assert np.allclose(ctx[2], v[2].mean(axis=1, keepdims=True).repeat(w, 1), atol=1e-5)


def test_additive_mask_semantics():
    """transformers v5: nothing masked -> no mask; any non-zero value means attend (cast to bool)."""
    assert F.additive_attention_mask(np.ones((2, 3))) is None
    m = F.additive_attention_mask(np.array([[1, 0, 2], [0.5, 1, 1]]))
    assert m.shape == (2, 1, 1, 3) and m.dtype == np.float32
    assert m[0, 0, 0, 1] == np.finfo(np.float32).min and m[0, 0, 0, 2] == 0 and m[1, 0, 0, 0] == 0


# ---- losses ----

def naive_cross_entropy(logits, labels, ignore=-100):
    total, count = 0.0, 0
    for row, y in zip(logits.astype(np.float64), labels):
        if y == ignore:
            continue
        total += -(row[y] - math.log(sum(math.exp(v) for v in row)))
        count += 1
    return total / count


def test_cross_entropy_with_ignore():
    logits = rng.standard_normal((9, 6)).astype(np.float32) * 3
    labels = np.array([0, 5, -100, 2, 2, -100, 1, 4, 3])
    assert abs(F.cross_entropy(logits, labels) - naive_cross_entropy(logits, labels)) < 1e-5
    assert np.isnan(F.cross_entropy(logits, np.full(9, -100)))      # every row ignored: NaN, like torch


def test_cross_entropy_stable_for_huge_logits():
    logits = np.float32([[1e4, 0, -1e4], [0, 1e4, 0]])
    loss = F.cross_entropy(logits, np.array([1, 1]))
    assert np.isfinite(loss) and abs(loss - 1e4 / 2) < 1e-2


def test_mse_and_bce_against_naive():
    x = rng.standard_normal((4, 3)).astype(np.float32) * 5
    y = (rng.random((4, 3)) < 0.5).astype(np.float32)
    naive_bce = np.mean([-(t * math.log(1 / (1 + math.exp(-v))) + (1 - t) * math.log(1 - 1 / (1 + math.exp(-v))))
                         for v, t in zip(x.ravel().astype(np.float64), y.ravel())])
    assert abs(F.bce_with_logits(x, y) - naive_bce) < 1e-5
    assert abs(F.mse_loss(x, y) - np.mean([(a - b) ** 2 for a, b in zip(x.ravel(), y.ravel())])) < 1e-5
    assert np.isfinite(F.bce_with_logits(np.float32([1e4, -1e4]), np.float32([0, 1])))


def test_losses_against_torch():
    torch = pytest.importorskip("torch")
    logits = rng.standard_normal((7, 5)).astype(np.float32)
    labels = np.array([0, 4, -100, 1, 2, 3, -100])
    t = torch.from_numpy
    assert abs(F.cross_entropy(logits, labels) - torch.nn.functional.cross_entropy(t(logits), t(labels)).item()) < 1e-6
    y = rng.random((7, 5)).astype(np.float32)
    assert abs(F.bce_with_logits(logits, y)
               - torch.nn.functional.binary_cross_entropy_with_logits(t(logits), t(y)).item()) < 1e-6
    assert abs(F.mse_loss(logits, y) - torch.nn.functional.mse_loss(t(logits), t(y)).item()) < 1e-6


# ---- embeddings ----

def test_embeddings_against_loops():
    from squeezebert_np.config import SqueezeBertConfig
    from squeezebert_np.modeling import SqueezeBertEmbeddings
    config = SqueezeBertConfig(vocab_size=11, hidden_size=8, embedding_size=8, num_attention_heads=2,
                               intermediate_size=16, max_position_embeddings=10, type_vocab_size=3,
                               q_groups=1, k_groups=1, v_groups=1, intermediate_groups=1, output_groups=1,
                               layer_norm_eps=1e-5)
    emb = SqueezeBertEmbeddings(config)
    for module in (emb.word_embeddings, emb.position_embeddings, emb.token_type_embeddings):
        module.init_weights(rng, 1.0)
    ids, types = np.array([[1, 5, 10], [0, 0, 3]]), np.array([[0, 1, 2], [2, 2, 0]])
    pos = np.array([[0, 1, 2], [4, 5, 9]])
    ours = emb(ids, types, pos)
    naive = np.zeros((2, 3, 8))
    for i in range(2):
        for j in range(3):
            e = emb.word_embeddings.weight[ids[i, j]] + emb.position_embeddings.weight[pos[i, j]] \
                + emb.token_type_embeddings.weight[types[i, j]]
            naive[i, j] = naive_layer_norm(e[None], emb.LayerNorm.weight, emb.LayerNorm.bias, 1e-5)[0]
    assert ours.dtype == np.float32 and np.max(np.abs(ours - naive)) < 1e-5
