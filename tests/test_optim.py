"""AdamW, clip_grad_norm_, the linear warmup schedule and gradient accumulation against torch and transformers.

The reference run is the Trainer's inner loop in torch: gradients set on the parameters, clip_grad_norm_,
AdamW.step() over the Trainer's two parameter groups, scheduler.step(). Ours runs the same numbers in NumPy; in
float64 every parameter must agree to 1e-9 relative (the arithmetic is the same, only summation order in the
norms differs: a few ulps)."""
import numpy as np
import pytest

from squeezebert_np.errors import TrainingError
from squeezebert_np.optim import (AdamW, add_grads, clip_grad_norm_, decay_parameter_names,
                                  get_linear_schedule_with_warmup, linear_warmup_factor)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

SHAPES = {"embeddings.word_embeddings.weight": (11, 6), "embeddings.LayerNorm.weight": (6,),
          "embeddings.LayerNorm.bias": (6,), "encoder.layers.0.attention.query.weight": (6, 3, 1),
          "encoder.layers.0.attention.query.bias": (6,), "encoder.layers.0.post_attention.layernorm.weight": (6,),
          "pooler.dense.weight": (6, 6), "classifier.weight": (3, 6), "classifier.bias": (3,)}


def relative(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


def torch_reference(params, grads_per_step, decay_names, lr, betas, eps, weight_decay, max_norm, warmup, total):
    """The Trainer's loop in torch; returns the final {name: float64 array}."""
    tp = {k: torch.nn.Parameter(torch.tensor(v)) for k, v in params.items()}
    groups = [{"params": [p for k, p in tp.items() if k in decay_names], "weight_decay": weight_decay},
              {"params": [p for k, p in tp.items() if k not in decay_names], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)
    sched = transformers.get_linear_schedule_with_warmup(opt, warmup, total)
    for grads in grads_per_step:
        for k, p in tp.items():
            p.grad = torch.tensor(grads[k]) if k in grads else None
        torch.nn.utils.clip_grad_norm_([p for p in tp.values() if p.grad is not None], max_norm)
        opt.step()
        sched.step()
    return {k: p.detach().numpy() for k, p in tp.items()}


def test_ten_steps_match_torch_float64():
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
    grads_per_step = []
    for step in range(10):
        grads = {k: rng.standard_normal(s) * (3.0 if step % 3 == 0 else 0.01) for k, s in SHAPES.items()}
        if step in (2, 5):
            del grads["pooler.dense.weight"]                 # a parameter without a gradient is skipped
        grads_per_step.append(grads)
    settings = dict(lr=1e-2, betas=(0.9, 0.98), eps=1e-6, weight_decay=0.1)
    decay = decay_parameter_names(params)
    assert decay == ["embeddings.word_embeddings.weight", "encoder.layers.0.attention.query.weight",
                     "pooler.dense.weight", "classifier.weight"]
    expected = torch_reference(params, grads_per_step, set(decay), **settings, max_norm=1.0, warmup=3, total=10)

    ours = {k: v.copy() for k, v in params.items()}
    opt = AdamW(ours, **settings)
    sched = get_linear_schedule_with_warmup(opt, 3, 10)
    norms = []
    for grads in grads_per_step:
        grads = {k: g.copy() for k, g in grads.items()}
        norms.append(clip_grad_norm_(grads, 1.0))
        opt.step(grads)
        sched.step()
    assert min(norms) < 1.0 < max(norms)                    # clipping was both active and inactive
    for k in params:
        assert ours[k].dtype == np.float64
        assert relative(ours[k], expected[k]) <= 1e-9, k
        assert not np.array_equal(ours[k], params[k])
    assert opt.state["pooler.dense.weight"]["step"] == 8 and opt.state["classifier.bias"]["step"] == 10


def test_float32_stays_float32_and_close_to_torch():
    rng = np.random.default_rng(1)
    params = {k: rng.standard_normal(s).astype(np.float32) for k, s in SHAPES.items()}
    grads_per_step = [{k: rng.standard_normal(s).astype(np.float32) for k, s in SHAPES.items()} for _ in range(5)]
    expected = torch_reference(params, grads_per_step, set(decay_parameter_names(params)), lr=1e-3,
                               betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, max_norm=1.0, warmup=0, total=5)
    ours = {k: v.copy() for k, v in params.items()}
    opt = AdamW(ours, lr=1e-3, weight_decay=0.01)
    sched = get_linear_schedule_with_warmup(opt, 0, 5)
    for grads in grads_per_step:
        grads = {k: g.copy() for k, g in grads.items()}
        clip_grad_norm_(grads, 1.0)
        opt.step(grads)
        sched.step()
    for k in params:
        assert ours[k].dtype == np.float32
        # float32 rounding (6e-8 relative) of ~3 operations on p per step, 5 steps: 1e-6 of |p|; the updates
        # themselves (<= lr = 1e-3 each) carry a few ulps each: 5e-3 * 1e-6
        bound = 1e-6 * np.abs(expected[k]) + 5e-9
        assert np.all(np.abs(ours[k] - expected[k]) <= bound), k


def test_schedule_is_transformers():
    for warmup, total in ((0, 10), (3, 10), (10, 10), (4, 2), (0, 0)):
        for step in range(0, 14):
            assert linear_warmup_factor(step, warmup, total) == transformers.optimization.\
                _get_linear_schedule_with_warmup_lr_lambda(step, num_warmup_steps=warmup, num_training_steps=total)


def test_clip_grad_norm_is_torch():
    rng = np.random.default_rng(2)
    grads = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
    for max_norm in (0.5, 100.0):
        ours = {k: g.copy() for k, g in grads.items()}
        total = clip_grad_norm_(ours, max_norm)
        ts = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads.values()]
        for t, g in zip(ts, grads.values()):
            t.grad = torch.tensor(g)
        expected_total = torch.nn.utils.clip_grad_norm_(ts, max_norm)
        assert total == pytest.approx(float(expected_total), rel=1e-14) and 0.5 < total < 100.0
        for a, b in zip(ours.values(), ts):
            np.testing.assert_allclose(a, b.grad.numpy(), rtol=1e-14, atol=0)


def test_gradient_accumulation_is_the_gradient_of_the_mean_loss():
    # two micro-batches of a least-squares loss: (g1 + g2) / 2 is the gradient of the mean over both
    rng = np.random.default_rng(3)
    w = rng.standard_normal(4)
    xs = [rng.standard_normal((5, 4)) for _ in range(2)]
    ys = [rng.standard_normal(5) for _ in range(2)]
    total = {}
    for x, y in zip(xs, ys):
        add_grads(total, {"w": 2 * x.T @ (x @ w - y) / len(y)}, scale=0.5)
    x, y = np.concatenate(xs), np.concatenate(ys)
    tw = torch.tensor(w, requires_grad=True)
    ((torch.tensor(x) @ tw - torch.tensor(y)) ** 2).mean().backward()
    np.testing.assert_allclose(total["w"], tw.grad.numpy(), rtol=1e-12)


def test_state_dict_round_trip_continues_identically():
    rng = np.random.default_rng(4)
    params = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
    grads = [{k: rng.standard_normal(s) for k, s in SHAPES.items()} for _ in range(4)]
    a = {k: v.copy() for k, v in params.items()}
    opt_a = AdamW(a, lr=1e-2, weight_decay=0.1)
    sched_a = get_linear_schedule_with_warmup(opt_a, 1, 4)
    for g in grads:
        opt_a.step(g)
        sched_a.step()
    b = {k: v.copy() for k, v in params.items()}
    opt_b = AdamW(b, lr=1e-2, weight_decay=0.1)
    sched_b = get_linear_schedule_with_warmup(opt_b, 1, 4)
    for g in grads[:2]:
        opt_b.step(g)
        sched_b.step()
    saved_params, saved_opt, saved_sched = {k: v.copy() for k, v in b.items()}, opt_b.state_dict(), \
        sched_b.state_dict()
    saved_opt = {"state": {k: {kk: np.copy(vv) for kk, vv in s.items()} for k, s in saved_opt["state"].items()},
                 "param_groups": saved_opt["param_groups"]}
    c = saved_params
    opt_c = AdamW(c, lr=123.0)                         # the loaded state overrides the constructor's settings
    sched_c = get_linear_schedule_with_warmup(opt_c, 1, 4)
    opt_c.load_state_dict(saved_opt)
    sched_c.load_state_dict(saved_sched)
    for g in grads[2:]:
        opt_c.step(g)
        sched_c.step()
    for k in params:
        np.testing.assert_array_equal(c[k], a[k])


def test_read_only_and_tied_parameters():
    shared = np.arange(6.0).reshape(2, 3)
    shared.flags.writeable = False
    params = {"a.weight": shared, "b.weight": shared, "c.bias": np.zeros(3)}
    opt = AdamW(params, lr=0.1, weight_decay=0.5)
    assert params["a.weight"] is params["b.weight"] and params["a.weight"] is not shared
    assert params["a.weight"].flags.writeable
    opt.step({"b.weight": np.ones((2, 3))})              # a tied alias names the one parameter
    np.testing.assert_array_equal(shared, np.arange(6.0).reshape(2, 3))     # the caller's array is untouched
    assert params["a.weight"] is params["b.weight"] and params["a.weight"][0, 0] == pytest.approx(-0.1)
    assert params["c.bias"].tolist() == [0, 0, 0]        # no gradient: not touched


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-1.0), "lr"), (dict(betas=(1.0, 0.9)), "betas"), (dict(eps=float("nan")), "eps"),
    (dict(weight_decay=-0.1), "weight_decay"), (dict(param_groups=[{"params": ["nope"]}]), "nope"),
    (dict(param_groups=[{"params": ["x"]}, {"params": ["x"]}]), "more than one"),
    (dict(param_groups=[{"params": ["x"], "momentum": 0.9}]), "momentum"),
])
def test_bad_settings(kwargs, message):
    with pytest.raises(TrainingError, match=message):
        AdamW({"x": np.zeros(2)}, **kwargs)


def test_bad_gradients():
    opt = AdamW({"x": np.zeros(2)})
    with pytest.raises(TrainingError, match="'y'"):
        opt.step({"y": np.zeros(2)})
    with pytest.raises(TrainingError, match=r"shape \(3,\)"):
        opt.step({"x": np.zeros(3)})
    with pytest.raises(TrainingError, match="max_norm"):
        clip_grad_norm_({"x": np.zeros(2)}, 0)
    with pytest.raises(TrainingError, match="num_warmup_steps"):
        get_linear_schedule_with_warmup(opt, -1, 10)


@pytest.mark.parametrize("head", ["SqueezeBertForMaskedLM", "SqueezeBertForSequenceClassification",
                                  "SqueezeBertForTokenClassification", "SqueezeBertModel"])
def test_parameters_and_decay_groups_are_the_trainers(head):
    import squeezebert_np
    from squeezebert_np.optim import unique_parameters
    from tiny_models import TINY_SQUEEZEBERT
    ours = getattr(squeezebert_np, head)(squeezebert_np.SqueezeBertConfig(**TINY_SQUEEZEBERT))
    theirs = getattr(transformers, head)(transformers.SqueezeBertConfig(**TINY_SQUEEZEBERT))
    names, _ = unique_parameters(ours)
    assert sorted(names) == sorted(n for n, _ in theirs.named_parameters())   # tied once, under that name
    expected = transformers.Trainer.get_decay_parameter_names(None, theirs)
    assert sorted(decay_parameter_names(ours)) == sorted(set(expected) & set(names))
    assert any("LayerNorm" in n or "layernorm" in n for n in names) and "LayerNorm" not in str(expected)


@pytest.mark.parametrize("head, labels", [
    ("SqueezeBertForSequenceClassification", lambda rng, n, w: rng.integers(0, 3, n)),
    ("SqueezeBertForTokenClassification", lambda rng, n, w: np.where(rng.random((n, w)) < 0.2, -100,
                                                                     rng.integers(0, 3, (n, w)))),
    ("SqueezeBertForMaskedLM", lambda rng, n, w: np.where(rng.random((n, w)) < 0.5, -100,
                                                          rng.integers(0, 99, (n, w)))),
])
def test_ten_steps_with_real_gradients_match_torch_autograd(head, labels):
    """The whole step, float64, dropout 0: our backward + AdamW against transformers + torch autograd + AdamW.
    Token classification leaves the pooler without a gradient (skipped by both); the MLM head ties its decoder."""
    import squeezebert_np
    from squeezebert_np.synthetic import synthetic_state_dict
    from tiny_models import TINY_SQUEEZEBERT
    cfg = dict(TINY_SQUEEZEBERT, num_labels=3, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    config = squeezebert_np.SqueezeBertConfig(**cfg)
    model_class = getattr(squeezebert_np, head)
    sd = synthetic_state_dict(config, model_class, seed=3)
    ours = model_class(config, state_dict=sd).astype(np.float64).train()
    theirs = getattr(transformers, head)(transformers.SqueezeBertConfig(**cfg)).double().train()
    theirs.load_state_dict({k: torch.tensor(np.array(v, np.float64)) for k, v in sd.items()}, strict=False)
    rng = np.random.default_rng(5)
    batches = []
    for _ in range(10):
        ids = rng.integers(0, 99, (3, 12))
        mask = (np.arange(12)[None] < np.array([12, 9, 5])[:, None]).astype(np.int64)
        batches.append(dict(input_ids=ids, attention_mask=mask, token_type_ids=rng.integers(0, 2, (3, 12)),
                            labels=labels(rng, 3, 12)))

    decay = transformers.Trainer.get_decay_parameter_names(None, theirs)
    named = dict(theirs.named_parameters())
    topt = torch.optim.AdamW([{"params": [p for n, p in named.items() if n in decay], "weight_decay": 0.05},
                              {"params": [p for n, p in named.items() if n not in decay], "weight_decay": 0.0}],
                             lr=3e-3, betas=(0.9, 0.999), eps=1e-8)
    tsched = transformers.get_linear_schedule_with_warmup(topt, 2, 10)
    opt = AdamW(ours, lr=3e-3, weight_decay=0.05)
    sched = get_linear_schedule_with_warmup(opt, 2, 10)
    norms = []
    for batch in batches:
        topt.zero_grad()
        theirs(**{k: torch.tensor(v) for k, v in batch.items()}).loss.backward()
        torch.nn.utils.clip_grad_norm_(theirs.parameters(), 1.0)
        topt.step()
        tsched.step()
        loss, grads = ours.loss_and_grads(**batch)
        norms.append(clip_grad_norm_(grads, 1.0))
        opt.step(grads)
        sched.step()
    assert max(norms) > 1.0                                  # clipping was active
    final = dict(theirs.named_parameters())
    for name, array in opt.params.items():
        expected = final[name].detach().numpy()
        assert relative(array, expected) <= 1e-9, (name, relative(array, expected))
        assert array is ours.get(name)                      # the model holds the updated arrays
    if head == "SqueezeBertForTokenClassification":
        assert "transformer.pooler.dense.weight" not in opt.state
        np.testing.assert_array_equal(ours.get("transformer.pooler.dense.weight"),
                                      sd["transformer.pooler.dense.weight"])
    if head == "SqueezeBertForMaskedLM":
        assert ours.cls.predictions.decoder.weight is ours.transformer.embeddings.word_embeddings.weight


def test_chunked_update_equals_whole_arrays(monkeypatch):
    rng = np.random.default_rng(6)
    params = {k: rng.standard_normal(s).astype(np.float32) for k, s in SHAPES.items()}
    grads = [{k: rng.standard_normal(s).astype(np.float32) for k, s in SHAPES.items()} for _ in range(3)]
    results = []
    for chunk in (AdamW.CHUNK, 7):                       # 7 does not divide the sizes: ragged last chunks
        monkeypatch.setattr(AdamW, "CHUNK", chunk)
        ours = {k: v.copy() for k, v in params.items()}
        opt = AdamW(ours, lr=1e-2, weight_decay=0.1)
        for g in grads:
            opt.step(g)
        results.append(ours)
    for k in params:
        np.testing.assert_array_equal(results[0][k], results[1][k])
    replaced = AdamW({"x": np.zeros(4)})
    replaced.params["x"] = np.zeros(8)[::2]
    with pytest.raises(TrainingError, match="strided"):
        replaced.step({"x": np.ones(4)})
