"""Each backward in functional.py alone, in float64, against central differences (cs231n's check) and against
torch autograd.

cs231n's `rel_error(x, y) = max |x - y| / max(1e-8, |x| + |y|)`, element by element. The central difference is
cs231n's with a fourth-order stencil, (-f(x+2h) + 8 f(x+h) - 8 f(x-h) + f(x-2h)) / 12h with h = 1e-3: truncation
~h^4 f^(5)/30 ~ 1e-14 and rounding ~eps |f| / h ~ 1e-13 per output (outputs are differenced before the sum), so
even entries of the gradient near 1e-4 meet 1e-7 (the two-point formula, truncation h^2 against rounding 1/h,
cannot reach that for the small entries attention has). The inputs avoid tiny entries (saturated tails of tanh or
GELU, sigmoids of huge logits), where a relative error of a difference quotient means nothing; those are checked
against torch.
"""
import math

import numpy as np
import pytest

from squeezebert_np import functional as F

REL = 1e-7          # the target for float64 central differences
TORCH_REL = 1e-12   # float64 against torch autograd: the same formulas summed in another order


def rel_error(x, y):
    return np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)))


def numerical_gradient(f, x, dout, h=1e-3):
    """d sum(f(x) * dout) / dx by central differences, one element at a time (cs231n's
    eval_numerical_gradient_array, fourth-order stencil). `f` must read x anew on every call (x is changed in
    place and restored)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        values = []
        for step in (2, 1, -1, -2):
            x[i] = old + step * h
            values.append(np.array(f(), dtype=np.float64))
        x[i] = old
        # difference the outputs before summing: outputs that do not depend on x[i] then cancel exactly
        grad[i] = np.sum((8 * (values[1] - values[2]) - (values[0] - values[3])) * dout) / (12 * h)
    return grad


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def test_layer_norm_backward(rng):
    x, w, b = rng.standard_normal((2, 3, 6)), rng.standard_normal(6), rng.standard_normal(6)
    dout = rng.standard_normal((2, 3, 6))
    out, cache = F.layer_norm_forward(x, w, b, 1e-12)
    assert np.allclose(out, F.layer_norm(x, w, b, 1e-12), rtol=0, atol=1e-14)
    dx, dw, db = F.layer_norm_backward(dout, cache)
    f = lambda: F.layer_norm(x, w, b, 1e-12)
    assert rel_error(dx, numerical_gradient(f, x, dout)) <= REL
    assert rel_error(dw, numerical_gradient(f, w, dout)) <= REL
    assert rel_error(db, numerical_gradient(f, b, dout)) <= REL


def test_linear_backward(rng):
    x, w, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4)), rng.standard_normal(5)
    dout = rng.standard_normal((2, 3, 5))
    dx, dw, db = F.linear_backward(dout, x, w)
    f = lambda: F.linear(x, w, b)
    for analytic, param in ((dx, x), (dw, w), (db, b)):
        assert rel_error(analytic, numerical_gradient(f, param, dout)) <= REL


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_grouped_conv1x1_backward(rng, groups):
    x, w, b = rng.standard_normal((2, 8, 5)), rng.standard_normal((12, 8 // groups, 1)), rng.standard_normal(12)
    dout = rng.standard_normal((2, 12, 5))
    dx, dw, db = F.grouped_conv1x1_backward(dout, x, w, groups)
    assert dx.shape == x.shape and dw.shape == w.shape and db.shape == b.shape
    f = lambda: F.grouped_conv1x1(x, w, b, groups)
    for analytic, param in ((dx, x), (dw, w), (db, b)):
        assert rel_error(analytic, numerical_gradient(f, param, dout)) <= REL


@pytest.mark.parametrize("p", [0.0, 0.3])
def test_attention_backward(rng, p):
    """A padding mask and, with p > 0, one dropout mask drawn from a fixed seed in every call. (A fully masked
    sample is left to the torch test: finfo.min + q.k rounds to finfo.min, so its true difference quotient is 0
    while the analytic gradient, torch's too, is that of a uniform softmax.)"""
    n, h, d, w = 2, 2, 3, 4
    q, k, v = (rng.standard_normal((n, h * d, w)) for _ in range(3))
    mask = F.additive_attention_mask(np.array([[1, 1, 1, 0], [1, 1, 0, 0]]), np.float64)
    dout = rng.standard_normal((n, h * d, w))
    run = lambda: F.attention_forward(q, k, v, mask, h, p, np.random.default_rng(7) if p else None)
    context, scores, cache = run()
    if p == 0:
        ref_context, ref_scores = F.attention(q, k, v, mask, h)
        assert np.array_equal(context, ref_context) and np.array_equal(scores, ref_scores)
    else:
        assert cache[5] is not None and (cache[5] == 0).any()       # some probabilities were dropped
    dq, dk, dv = F.attention_backward(dout, cache)
    f = lambda: run()[0]
    for analytic, x in ((dq, q), (dk, k), (dv, v)):
        assert rel_error(analytic, numerical_gradient(f, x, dout)) <= REL


@pytest.mark.parametrize("act", sorted(F.ACTIVATIONS))
def test_activation_grads(rng, act):
    """Elementwise, so the difference quotient is taken per element. On [-4, 4] without the neighbourhood of 0
    (relu's kink); the far tails (derivatives ~1e-10) are checked against torch below."""
    x = rng.uniform(-4, 4, 200)
    x = x[np.abs(x) > 0.01]                                    # the stencil spans +-2h
    fn, h = F.ACTIVATIONS[act], 1e-3
    numerical = (-fn(x + 2 * h) + 8 * fn(x + h) - 8 * fn(x - h) + fn(x - 2 * h)) / (12 * h)
    assert rel_error(F.ACTIVATION_GRADS[act](x), numerical) <= REL


def test_dropout_backward(rng):
    x, dout = rng.standard_normal((3, 20)), rng.uniform(0.5, 2, (3, 20))
    y, mask = F.dropout(x, 0.25, np.random.default_rng(3))
    kept = mask != 0
    assert np.allclose(y[kept], x[kept] / 0.75, rtol=1e-15) and np.all(y[~kept] == 0)   # inverted dropout
    assert 0.1 < 1 - kept.mean() < 0.4
    f = lambda: F.dropout(x, 0.25, np.random.default_rng(3))[0]
    assert rel_error(F.dropout_backward(dout, mask), numerical_gradient(f, x, dout)) <= REL
    assert F.dropout(x, 0.25, None)[0] is x and F.dropout(x, 0.0, np.random.default_rng(3))[1] is None
    assert np.all(F.dropout(x, 1.0, np.random.default_rng(3))[0] == 0)       # p = 1 drops everything (torch)
    assert F.dropout(x.astype(np.float32), 0.5, np.random.default_rng(3))[0].dtype == np.float32


def test_embedding_backward(rng):
    weight = rng.standard_normal((6, 3))
    ids = np.array([[0, 2, 2, 5], [1, 0, 2, 3]])
    dout = rng.standard_normal((2, 4, 3))
    numerical = numerical_gradient(lambda: F.embedding(weight, ids), weight, dout)
    assert rel_error(F.embedding_backward(dout, ids, 6), numerical) <= REL
    with_pad = F.embedding_backward(dout, ids, 6, padding_idx=0)
    assert np.all(with_pad[0] == 0) and rel_error(with_pad[1:], numerical[1:]) <= REL
    assert np.all(with_pad[4] == 0)                                              # never looked up


def test_losses_backward(rng):
    logits = rng.standard_normal((5, 4))
    labels = np.array([0, 3, -100, 2, 1])
    loss, cache = F.cross_entropy_forward(logits, labels)
    assert loss == F.cross_entropy(logits, labels)
    f = lambda: F.cross_entropy(logits, labels)
    numerical = numerical_gradient(f, logits, 1.0)
    assert rel_error(F.cross_entropy_backward(1.0, cache), numerical) <= REL
    assert np.all(F.cross_entropy_backward(1.0, cache)[2] == 0)                 # the ignored row
    targets = rng.standard_normal((5, 4))
    numerical = numerical_gradient(lambda: F.mse_loss(logits, targets), logits, 1.0)
    assert rel_error(F.mse_loss_backward(1.0, logits, targets), numerical) <= REL
    targets = rng.integers(0, 2, (5, 4)).astype(np.float64)
    numerical = numerical_gradient(lambda: F.bce_with_logits(logits, targets), logits, 1.0)
    assert rel_error(F.bce_with_logits_backward(1.0, logits, targets), numerical) <= REL
    big = np.array([-800.0, 800.0])                                            # no overflow, exact saturation
    assert np.array_equal(F.bce_with_logits_backward(1.0, big, np.array([1.0, 0.0])), [-0.5, 0.5])


def test_all_ignored_cross_entropy_gives_nan_loss_and_zero_gradient():
    """As torch (checked: cross_entropy of all-ignored rows gives a NaN loss and a zero .grad): nothing to learn from."""
    loss, cache = F.cross_entropy_forward(np.zeros((2, 3)), np.array([-100, -100]))
    assert np.isnan(loss)
    assert np.all(F.cross_entropy_backward(1.0, cache) == 0)


# ---------------------------------------------------------------------------------------------------------------
# the same pieces against torch autograd, float64
# ---------------------------------------------------------------------------------------------------------------

torch = pytest.importorskip("torch")


def _t(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def test_layer_norm_and_conv_match_torch(rng):
    x, w, b = rng.standard_normal((2, 8, 5)), rng.standard_normal((12, 4, 1)), rng.standard_normal(12)
    lw, lb, dout = rng.standard_normal(12), rng.standard_normal(12), rng.standard_normal((2, 5, 12))
    tx, tw, tb, tlw, tlb = map(_t, (x, w, b, lw, lb))
    y = torch.nn.functional.conv1d(tx, tw, tb, groups=2).permute(0, 2, 1)
    out = torch.nn.functional.layer_norm(y, (12,), tlw, tlb, 1e-12)
    (out * torch.from_numpy(dout)).sum().backward()
    conv = F.grouped_conv1x1(x, w, b, 2)
    ln_out, cache = F.layer_norm_forward(conv.transpose(0, 2, 1), lw, lb, 1e-12)
    dy, dlw, dlb = F.layer_norm_backward(dout, cache)
    dx, dw, db = F.grouped_conv1x1_backward(dy.transpose(0, 2, 1), x, w, 2)
    for ours, t in ((dx, tx), (dw, tw), (db, tb), (dlw, tlw), (dlb, tlb)):
        assert rel_error(ours, t.grad.numpy()) <= TORCH_REL


def test_attention_matches_torch(rng):
    n, h, d, w = 2, 3, 4, 5
    q, k, v, dout = (rng.standard_normal((n, h * d, w)) for _ in range(4))
    attention_mask = np.array([[1, 1, 1, 0, 0], [0, 0, 0, 0, 0]])          # padding; a fully masked sample
    tq, tk, tv = map(_t, (q, k, v))
    split = lambda a: a.reshape(n, h, d, w).permute(0, 1, 3, 2)                 # [N, h, W, d]
    scores = split(tq) @ split(tk).transpose(-1, -2) / math.sqrt(d)
    scores = scores + torch.from_numpy(F.additive_attention_mask(attention_mask, np.float64))
    context = (scores.softmax(-1) @ split(tv)).permute(0, 1, 3, 2).reshape(n, h * d, w)
    (context * torch.from_numpy(dout)).sum().backward()
    ours_context, _, cache = F.attention_forward(q, k, v, F.additive_attention_mask(attention_mask, np.float64), h)
    assert np.allclose(ours_context, context.detach().numpy(), rtol=0, atol=1e-13)
    for ours, t in zip(F.attention_backward(dout, cache), (tq, tk, tv)):
        assert rel_error(ours, t.grad.numpy()) <= TORCH_REL


@pytest.mark.parametrize("act,torch_fn", [
    ("gelu", lambda x: torch.nn.functional.gelu(x)),
    ("gelu_new", lambda x: torch.nn.functional.gelu(x, approximate="tanh")),
    ("relu", torch.relu), ("silu", torch.nn.functional.silu), ("tanh", torch.tanh)])
def test_activation_grads_match_torch(rng, act, torch_fn):
    """GELU's erf is ours to ~1e-11 (functional.erf), so its derivative agrees to that order, not to 1e-12."""
    x = np.concatenate([rng.standard_normal(1000) * 4, [0.0]])
    tx = _t(x)
    torch_fn(tx).sum().backward()
    atol = 1e-10 if act == "gelu" else 1e-14
    assert np.max(np.abs(F.ACTIVATION_GRADS[act](x) - tx.grad.numpy())) <= atol


def test_embedding_and_cross_entropy_match_torch(rng):
    weight, ids = rng.standard_normal((7, 3)), np.array([[0, 1, 1, 6], [2, 0, 1, 1]])
    labels = np.array([1, -100, 2, 0, 2, -100, 1, 1])
    head = rng.standard_normal((3, 3))
    tw = _t(weight)
    emb = torch.nn.functional.embedding(torch.from_numpy(ids), tw, padding_idx=1)
    logits = (emb @ torch.from_numpy(head)).reshape(-1, 3)
    torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels)).backward()
    e = F.embedding(weight, ids)
    loss, cache = F.cross_entropy_forward((e @ head).reshape(-1, 3), labels)
    de = F.cross_entropy_backward(1.0, cache).reshape(2, 4, 3) @ head.T
    assert rel_error(F.embedding_backward(de, ids, 7, padding_idx=1), tw.grad.numpy()) <= TORCH_REL
