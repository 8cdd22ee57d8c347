"""Live differential tests: random small configs and inputs, our outputs against transformers' PyTorch model.

Runs wherever torch and transformers are installed (CI installs the pinned versions from the `reference` extra).
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import squeezebert_np  # noqa: E402
from squeezebert_np.synthetic import synthetic_state_dict  # noqa: E402

from numerics import assert_close, stages  # noqa: E402  float32 on both sides: twice the rounding budget apart


@st.composite
def configs(draw):
    heads = draw(st.sampled_from([1, 2, 3, 4]))
    d = draw(st.sampled_from([4, 6, 8]))   # a LayerNorm over 2 channels is ill-conditioned: not a fair test
    hidden = heads * d * draw(st.sampled_from([1, 2]))
    inter = hidden * draw(st.sampled_from([1, 2, 4]))
    divisors = lambda *ns: [g for g in range(1, min(ns) + 1) if all(n % g == 0 for n in ns)]
    return dict(vocab_size=draw(st.integers(5, 120)), hidden_size=hidden, embedding_size=hidden,
                num_hidden_layers=draw(st.integers(1, 3)), num_attention_heads=heads, intermediate_size=inter,
                max_position_embeddings=draw(st.integers(8, 40)), type_vocab_size=draw(st.integers(1, 3)),
                q_groups=draw(st.sampled_from(divisors(hidden))), k_groups=draw(st.sampled_from(divisors(hidden))),
                v_groups=draw(st.sampled_from(divisors(hidden))),
                post_attention_groups=draw(st.sampled_from(divisors(hidden))),
                intermediate_groups=draw(st.sampled_from(divisors(hidden, inter))),
                output_groups=draw(st.sampled_from(divisors(hidden, inter))),
                hidden_act=draw(st.sampled_from(["gelu", "gelu", "relu", "gelu_new", "silu", "tanh"])),
                layer_norm_eps=draw(st.sampled_from([1e-12, 1e-5])), num_labels=draw(st.integers(1, 4)))


@st.composite
def inputs(draw, cfg):
    n = draw(st.integers(1, 3))
    w = draw(st.integers(1, cfg["max_position_embeddings"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    lengths = [draw(st.integers(0 if n > 1 else 1, w)) for _ in range(n)]    # a fully padded sample now and then
    return dict(input_ids=rng.integers(0, cfg["vocab_size"], (n, w)),
                attention_mask=(np.arange(w)[None] < np.array(lengths)[:, None]).astype(np.int64),
                token_type_ids=rng.integers(0, cfg["type_vocab_size"], (n, w)))


def torch_model(head, cfg, sd):
    model = getattr(transformers, head)(transformers.SqueezeBertConfig(**cfg)).eval()
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()}, strict=True)
    return model


def compare(ours, theirs, valid, layers):
    for name in ("last_hidden_state", "pooler_output", "logits", "start_logits", "end_logits", "loss"):
        if name in theirs and theirs[name] is not None:
            a, b = np.asarray(getattr(ours, name)), theirs[name].numpy()
            assert a.shape == b.shape, name
            if a.ndim >= 2 and a.shape[:2] == valid.shape:
                a, b = a[valid], b[valid]
            if name == "loss" and np.isnan(b):
                assert np.isnan(a)
                continue
            assert_close(a, b, stages(name, 0, layers), name)
    if "hidden_states" in theirs:
        for i, (a, b) in enumerate(zip(ours.hidden_states, theirs["hidden_states"])):
            assert_close(a[valid], b.numpy()[valid], stages("hidden_states", i, layers), f"hidden_states[{i}]")
        for i, (a, b) in enumerate(zip(ours.attentions, theirs["attentions"])):
            b = b.numpy()
            finite = b > -1e30
            assert np.array_equal(a > -1e30, finite)
            assert_close(a[finite], b[finite], stages("attentions", i, layers), f"attentions[{i}]")


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_base_model_matches_transformers(data):
    cfg = data.draw(configs())
    inp = data.draw(inputs(cfg))
    config = squeezebert_np.SqueezeBertConfig(**cfg)
    sd = synthetic_state_dict(config, squeezebert_np.SqueezeBertModel, seed=data.draw(st.integers(0, 99)))
    ours = squeezebert_np.SqueezeBertModel(config, sd)(**inp, output_hidden_states=True, output_attentions=True)
    with torch.no_grad():
        theirs = torch_model("SqueezeBertModel", cfg, sd)(**{k: torch.from_numpy(v) for k, v in inp.items()},
                                                          output_hidden_states=True, output_attentions=True)
    compare(ours, theirs, inp["attention_mask"].astype(bool), config.num_hidden_layers)


HEADS = ["SqueezeBertForMaskedLM", "SqueezeBertForSequenceClassification", "SqueezeBertForTokenClassification",
         "SqueezeBertForQuestionAnswering", "SqueezeBertForMultipleChoice"]


@pytest.mark.parametrize("head", HEADS)
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_heads_match_transformers(head, data):
    cfg = data.draw(configs())
    if head == "SqueezeBertForQuestionAnswering":
        cfg["num_labels"] = 2
    inp = data.draw(inputs(cfg))
    n, w = inp["input_ids"].shape
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    k = cfg["num_labels"]
    if head == "SqueezeBertForMaskedLM":
        labels = dict(labels=np.where(rng.random((n, w)) < 0.4, -100, rng.integers(0, cfg["vocab_size"], (n, w))))
    elif head == "SqueezeBertForSequenceClassification":
        kind = data.draw(st.sampled_from(["int", "float"]))
        labels = dict(labels=rng.integers(0, k, n) if kind == "int" and k > 1 else
                      (rng.standard_normal(n) if k == 1 else (rng.random((n, k)) < 0.5)).astype(np.float32))
    elif head == "SqueezeBertForTokenClassification":
        labels = dict(labels=np.where(inp["attention_mask"] == 1, rng.integers(0, k, (n, w)), -100))
    elif head == "SqueezeBertForQuestionAnswering":
        labels = dict(start_positions=rng.integers(-2, w + 3, n), end_positions=rng.integers(-2, w + 3, n))
    else:
        choices = data.draw(st.integers(1, 3))
        inp = {key: np.stack([np.roll(v, c, axis=0) for c in range(choices)], 1) for key, v in inp.items()}
        labels = dict(labels=rng.integers(0, choices, n))
    config = squeezebert_np.SqueezeBertConfig(**cfg)
    cls = getattr(squeezebert_np, head)
    sd = synthetic_state_dict(config, cls, seed=data.draw(st.integers(0, 99)))
    ours = cls(config, sd)(**inp, **labels)
    with torch.no_grad():
        theirs = torch_model(head, cfg, sd)(**{key: torch.from_numpy(np.asarray(v)) for key, v in {**inp, **labels}.items()})
    valid = (inp["attention_mask"].reshape(-1, inp["attention_mask"].shape[-1]).astype(bool)
             if head != "SqueezeBertForMultipleChoice" else np.ones((n, 0), bool))
    compare(ours, theirs, valid, config.num_hidden_layers)
