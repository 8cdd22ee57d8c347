"""Whole-model gradients: `loss, grads = model.loss_and_grads(...)` against torch autograd on transformers' model
(same weights and inputs, dropout off), for the base model and all five heads, in float64 and float32; plus the
training-mode contract (train/eval, dropout drawn from `model.dropout_rng`, the same masks in forward and backward).

Tolerances (the issue's targets): per parameter tensor, max |ours - torch| <= REL x max |torch's gradient of that
tensor|, REL = 1e-9 in float64 and 1e-4 in float32. Some tensors' exact gradient is 0 by symmetry (the key bias:
adding it shifts every score of a query row equally, and softmax ignores that; the QA head's bias and the last
LayerNorm's bias, which shift every position's logit equally under a softmax over positions): torch and we both
return rounding noise there, so a tensor's scale is floored at FLOOR x the largest gradient of the whole model.
Multiple-choice inputs get distinct choices: with identical ones every gradient is 0 in exact arithmetic and
both sides return only noise.
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import squeezebert_np  # noqa: E402
from squeezebert_np.synthetic import synthetic_state_dict  # noqa: E402
from test_differential import configs, inputs  # noqa: E402

REL = {np.float64: 1e-9, np.float32: 1e-4}
FLOOR = {np.float64: 1e-3, np.float32: 1e-2}   # float32: the tolerance stays above eps32 x the largest gradient
HEADS = ["SqueezeBertForMaskedLM", "SqueezeBertForSequenceClassification", "SqueezeBertForTokenClassification",
         "SqueezeBertForQuestionAnswering", "SqueezeBertForMultipleChoice"]


def build_pair(head, cfg, dtype, seed=0, **config_kw):
    """Our model and transformers', with the same synthetic weights, in `dtype` (ours via astype)."""
    config = squeezebert_np.SqueezeBertConfig(**cfg, **config_kw)
    cls = getattr(squeezebert_np, head)
    sd = synthetic_state_dict(config, cls, seed=seed)
    ours = cls(config, sd).astype(dtype)
    theirs = getattr(transformers, head)(transformers.SqueezeBertConfig(**cfg, **config_kw)).eval()
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()}, strict=False)
    return ours, theirs.to(torch.float64 if dtype == np.float64 else torch.float32)


def to_torch(value, dtype):
    a = np.asarray(value)
    t = torch.from_numpy(np.ascontiguousarray(a))
    return t.to(torch.float64 if dtype == np.float64 else torch.float32) if a.dtype.kind == "f" else t


def assert_grads_match(grads, loss, theirs, torch_loss, dtype):
    expected = {name: p.grad.numpy() for name, p in theirs.named_parameters() if p.grad is not None}
    assert list(grads) == list(expected)            # same names, same order; unused parameters left out
    rel = REL[dtype]
    assert abs(float(loss) - torch_loss) <= rel * max(1.0, abs(torch_loss))
    scale = max(np.abs(g).max() for g in expected.values())
    for name, g in expected.items():
        assert grads[name].shape == g.shape and grads[name].dtype == dtype, name
        err = np.abs(grads[name] - g).max()
        tol = rel * max(np.abs(g).max(), FLOOR[dtype] * scale)
        assert err <= tol, f"{name}: {err:.3e} vs max {np.abs(g).max():.3e}"


def head_targets(head, cfg, inp, rng, data):
    n, w = inp["input_ids"].shape
    k = cfg["num_labels"]
    if head == "SqueezeBertForMaskedLM":
        labels = np.where(rng.random((n, w)) < 0.4, -100, rng.integers(0, cfg["vocab_size"], (n, w)))
        labels[0, 0] = rng.integers(0, cfg["vocab_size"])        # at least one kept label (else the loss is NaN)
        return inp, dict(labels=labels)
    if head == "SqueezeBertForSequenceClassification":
        kind = data.draw(st.sampled_from(["int", "float"]))
        return inp, dict(labels=rng.integers(0, k, n) if kind == "int" and k > 1 else
                         (rng.standard_normal(n) if k == 1 else (rng.random((n, k)) < 0.5).astype(np.float64)))
    if head == "SqueezeBertForTokenClassification":
        labels = np.where(inp["attention_mask"] == 1, rng.integers(0, k, (n, w)), -100)
        labels[0, 0] = 0
        return inp, dict(labels=labels)
    if head == "SqueezeBertForQuestionAnswering":
        start, end = rng.integers(-2, w + 3, n), rng.integers(-2, w + 3, n)
        start[0], end[0] = 0, w - 1                                 # some kept position in each loss
        return inp, dict(start_positions=start, end_positions=end)
    choices = data.draw(st.integers(1, 3))
    inp = {key: np.stack([np.roll(v, c, axis=0) for c in range(choices)], 1) for key, v in inp.items()}
    inp["input_ids"] = (inp["input_ids"] + np.arange(choices)[None, :, None]) % cfg["vocab_size"]   # distinct
    return inp, dict(labels=rng.integers(0, choices, n))


def check_head(head, data, dtype):
    cfg = data.draw(configs())
    if head == "SqueezeBertForQuestionAnswering":
        cfg["num_labels"] = 2
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    inp, targets = head_targets(head, cfg, data.draw(inputs(cfg)), rng, data)
    ours, theirs = build_pair(head, cfg, dtype, seed=data.draw(st.integers(0, 99)))
    loss, grads = ours.loss_and_grads(**inp, **targets)
    out = theirs(**{key: to_torch(v, dtype) for key, v in {**inp, **targets}.items()})
    out.loss.backward()
    assert_grads_match(grads, loss, theirs, out.loss.item(), dtype)


@pytest.mark.parametrize("head", HEADS)
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_head_grads_float64(head, data):
    check_head(head, data, np.float64)


@pytest.mark.parametrize("head", HEADS)
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_head_grads_float32(head, data):
    check_head(head, data, np.float32)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_base_model_grads(dtype, data):
    """The base model's "loss" is sum(last_hidden_state * d_last) (+ sum(pooler_output * d_pooled))."""
    cfg = data.draw(configs())
    inp = data.draw(inputs(cfg))
    with_pooler = data.draw(st.booleans())
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    ours, theirs = build_pair("SqueezeBertModel", cfg, dtype)
    n, w = inp["input_ids"].shape
    d_last = rng.standard_normal((n, w, cfg["hidden_size"]))
    d_pooled = rng.standard_normal((n, cfg["hidden_size"])) if with_pooler else None
    loss, grads = ours.loss_and_grads(**inp, d_last_hidden_state=d_last, d_pooler_output=d_pooled)
    out = theirs(**{key: torch.from_numpy(v) for key, v in inp.items()})
    torch_loss = (out.last_hidden_state * to_torch(d_last, dtype)).sum()
    if with_pooler:
        torch_loss = torch_loss + (out.pooler_output * to_torch(d_pooled, dtype)).sum()
    torch_loss.backward()
    assert ("pooler.dense.weight" in grads) == with_pooler
    assert_grads_match(grads, loss, theirs, torch_loss.item(), dtype)


@pytest.mark.parametrize("head", ["SqueezeBertForSequenceClassification", "SqueezeBertForMaskedLM"])
def test_inputs_embeds_grads_match_torch(head):
    """With inputs_embeds the word table is unused (absent from grads, as its torch .grad is None), except through
    the MLM decoder, which is tied to it."""
    cfg = dict(vocab_size=30, hidden_size=16, embedding_size=16, num_hidden_layers=2, num_attention_heads=2,
               intermediate_size=32, max_position_embeddings=12, q_groups=2, k_groups=2, v_groups=1,
               post_attention_groups=2, intermediate_groups=2, output_groups=4, num_labels=2)
    ours, theirs = build_pair(head, cfg, np.float64, seed=4)
    rng = np.random.default_rng(1)
    embeds = rng.standard_normal((2, 6, 16))
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]])
    labels = rng.integers(0, 2, 2) if head.endswith("Classification") else rng.integers(0, 30, (2, 6))
    loss, grads = ours.loss_and_grads(inputs_embeds=embeds, attention_mask=mask, labels=labels)
    out = theirs(inputs_embeds=torch.from_numpy(embeds), attention_mask=torch.from_numpy(mask),
                 labels=torch.from_numpy(labels))
    out.loss.backward()
    assert ("transformer.embeddings.word_embeddings.weight" in grads) == (head == "SqueezeBertForMaskedLM")
    assert_grads_match(grads, loss, theirs, out.loss.item(), np.float64)
