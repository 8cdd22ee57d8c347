"""The heads' bad inputs (a clear InvalidInputError each), transformers' problem_type rule, and loading each head
from the official layouts (squeezebert-mnli-headless lacks pooler and classifier: initialised, named in one warning)."""
import warnings

import numpy as np
import pytest

import squeezebert_np
from squeezebert_np import InvalidInputError, SqueezeBertConfig
from squeezebert_np.synthetic import synthetic_state_dict

SMALL = dict(vocab_size=30, hidden_size=16, embedding_size=16, num_hidden_layers=1, num_attention_heads=2,
             intermediate_size=32, max_position_embeddings=16, q_groups=2, k_groups=2, v_groups=2,
             intermediate_groups=2, output_groups=2)
IDS = np.array([[1, 2, 3, 4], [5, 6, 7, 0]])


def model(name, **overrides):
    config = SqueezeBertConfig(**SMALL, **overrides)
    cls = getattr(squeezebert_np, name)
    return cls(config, synthetic_state_dict(config, cls, seed=0))


@pytest.mark.parametrize("name,kwargs,message", [
    ("SqueezeBertForMaskedLM", dict(labels=np.zeros((2, 3), int)), r"labels must have shape \(2, 4\)"),
    ("SqueezeBertForMaskedLM", dict(labels=np.full((2, 4), 30)), r"in \[0, 30\) or -100.*found 30"),
    ("SqueezeBertForMaskedLM", dict(labels=np.zeros((2, 4))), r"labels must be integers, got dtype float64"),
    ("SqueezeBertForSequenceClassification", dict(labels=np.array([0, 3])), r"in \[0, 3\).*found 3"),
    ("SqueezeBertForSequenceClassification", dict(labels=np.array([0, 1, 2])), r"shape \(2,\)"),
    ("SqueezeBertForSequenceClassification", dict(labels=np.zeros((2, 2), np.float32)), r"shape \(2, 3\)"),
    ("SqueezeBertForTokenClassification", dict(labels=np.array([[0, 1, 2, -5], [0, 0, 0, 0]])), r"found -5"),
    ("SqueezeBertForQuestionAnswering", dict(start_positions=[1, 2, 3], end_positions=[1, 2]), r"start_positions"),
    ("SqueezeBertForQuestionAnswering", dict(start_positions=[1.0, 2.0], end_positions=[1, 2]), r"integers"),
])
def test_bad_labels(name, kwargs, message):
    overrides = {"num_labels": 2} if name == "SqueezeBertForQuestionAnswering" else {"num_labels": 3}
    with pytest.raises(InvalidInputError, match=message):
        model(name, **overrides)(IDS, **kwargs)


def test_multiple_choice_shapes():
    mc = model("SqueezeBertForMultipleChoice")
    ids = np.stack([IDS, IDS[::-1]], 1)                                  # [2, 2 choices, 4]
    assert mc(ids).logits.shape == (2, 2)
    with pytest.raises(InvalidInputError, match="attention_mask must have shape"):
        mc(ids, attention_mask=np.ones((2, 3, 4), int))                  # choices differ between inputs
    with pytest.raises(InvalidInputError, match=r"\[batch, num_choices, seq\]"):
        mc(IDS)
    with pytest.raises(InvalidInputError, match=r"in \[0, 2\)"):
        mc(ids, labels=np.array([0, 2]))


def test_problem_type_inferred_once_and_kept():
    """transformers sets config.problem_type at the first loss and keeps it (a quirk we keep for parity)."""
    clf = model("SqueezeBertForSequenceClassification", num_labels=3)
    assert clf.config.problem_type is None
    clf(IDS, labels=np.array([0, 2]))
    assert clf.config.problem_type == "single_label_classification"
    with pytest.raises(InvalidInputError):                               # float labels now fail the single-label rule
        clf(IDS, labels=np.zeros((2, 3), np.float32))
    reg = model("SqueezeBertForSequenceClassification", num_labels=1)
    assert np.isfinite(reg(IDS, labels=np.array([0.5, -1.0])).loss) and reg.config.problem_type == "regression"
    multi = model("SqueezeBertForSequenceClassification", num_labels=3, problem_type="multi_label_classification")
    assert np.isfinite(multi(IDS, labels=np.array([[1, 0, 1], [0, 0, 1]])).loss)     # honoured when set


def test_qa_positions_clamped_and_ignored():
    qa = model("SqueezeBertForQuestionAnswering", num_labels=2)
    out = qa(IDS, start_positions=[[9], [1]], end_positions=[2, -3])     # 9 >= seq: ignored; -3 clamps to 0
    assert np.isfinite(out.loss) and out.start_logits.shape == (2, 4)
    assert np.isnan(qa(IDS, start_positions=[9, 9], end_positions=[9, 9]).loss)    # all ignored: NaN, as torch


def test_every_head_loads_the_headless_layout():
    """squeezebert-mnli-headless holds the base model without the pooler: each head initialises what is missing."""
    official = SqueezeBertConfig.from_json_file("tests/fixtures/official/squeezebert-mnli-headless/config.json")
    small = SqueezeBertConfig(**{**official.to_dict(), **SMALL})
    base = synthetic_state_dict(small, squeezebert_np.SqueezeBertModel, seed=1)
    headless = {"transformer." + k: v for k, v in base.items() if not k.startswith("pooler.")}
    for name, own in [("SqueezeBertForSequenceClassification", "classifier"),
                      ("SqueezeBertForMultipleChoice", "classifier"),
                      ("SqueezeBertForTokenClassification", "classifier"),
                      ("SqueezeBertForQuestionAnswering", "qa_outputs"), ("SqueezeBertForMaskedLM", "cls.predictions")]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            head = getattr(squeezebert_np, name)(small, headless)
        assert len(caught) == 1 and "transformer.pooler.dense.weight" in str(caught[0].message), name
        assert own in str(caught[0].message)
        assert np.array_equal(head.transformer.encoder.layers[0].attention.query.weight,
                              base["encoder.layers.0.attention.query.weight"])


def test_label_shapes_transformers_accepts():
    """transformers views labels as -1: [N, 1] class labels and flat token labels work; [1, W] positions broadcast."""
    clf = model("SqueezeBertForSequenceClassification", num_labels=3)
    assert clf(IDS, labels=np.array([[0], [2]])).loss == clf(IDS, labels=np.array([0, 2])).loss
    tok = model("SqueezeBertForTokenClassification", num_labels=3)
    labels = np.array([[0, 1, 2, 1], [2, 2, 0, -100]])
    assert tok(IDS, labels=labels.reshape(-1)).loss == tok(IDS, labels=labels).loss
    base = model("SqueezeBertModel")
    pos = np.array([[3, 2, 1, 0]])
    assert np.array_equal(base(IDS, position_ids=pos).last_hidden_state,
                          base(IDS, position_ids=np.repeat(pos, 2, 0)).last_hidden_state)


def test_untied_decoder_when_tie_word_embeddings_is_false():
    """transformers 5.24: tie_word_embeddings=False unties weight and bias; a missing decoder.bias is initialised."""
    config = SqueezeBertConfig(**SMALL, tie_word_embeddings=False)
    sd = synthetic_state_dict(config, squeezebert_np.SqueezeBertForMaskedLM, seed=2)
    assert sd["cls.predictions.decoder.weight"] is not sd["transformer.embeddings.word_embeddings.weight"]
    del sd["cls.predictions.decoder.bias"]
    with pytest.warns(UserWarning, match="cls.predictions.decoder.bias"):
        mlm = squeezebert_np.SqueezeBertForMaskedLM(config, sd)
    assert mlm.cls.predictions.decoder.bias is not mlm.cls.predictions.bias
    assert np.all(mlm.cls.predictions.decoder.bias == 0)
