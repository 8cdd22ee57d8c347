"""SqueezeBertConfig against transformers' SqueezeBertConfig: fields, defaults, labels, json; and validation."""
import json
import os
import re

import numpy as np
import pytest

from squeezebert_np import ConfigError, SqueezeBertConfig
from squeezebert_np.config import SQUEEZEBERT_DEFAULTS

OFFICIAL = os.path.join(os.path.dirname(__file__), "fixtures", "official")


def test_defaults_equal_transformers():
    transformers = pytest.importorskip("transformers")
    theirs, ours = transformers.SqueezeBertConfig(), SqueezeBertConfig()
    for name in SQUEEZEBERT_DEFAULTS:
        assert getattr(ours, name) == getattr(theirs, name), name
    for name in ("num_labels", "id2label", "label2id", "tie_word_embeddings", "problem_type", "model_type"):
        assert getattr(ours, name) == getattr(theirs, name), name


@pytest.mark.parametrize("repo,num_labels", [("squeezebert-uncased", 2), ("squeezebert-mnli", 3),
                                             ("squeezebert-mnli-headless", 2)])
def test_official_config_files(repo, num_labels):
    """The hub's config.json files as they are: vocab 30528, no layer_norm_eps (1e-12), num_labels 3 for mnli."""
    config = SqueezeBertConfig.from_pretrained(os.path.join(OFFICIAL, repo))
    assert config.vocab_size == 30528 and config.layer_norm_eps == 1e-12 and config.num_labels == num_labels
    assert config.id2label == {i: f"LABEL_{i}" for i in range(num_labels)}
    transformers = pytest.importorskip("transformers")
    theirs = transformers.SqueezeBertConfig.from_pretrained(os.path.join(OFFICIAL, repo))
    assert config.id2label == theirs.id2label and config.label2id == theirs.label2id


@pytest.mark.parametrize("kwargs", [{"num_labels": 5}, {"id2label": {"0": "neg", "1": "pos"}},
                                    {"id2label": {0: "a", 1: "b", 2: "c"}, "label2id": {"a": 0, "b": 1, "c": 2}}])
def test_labels_derived_as_transformers(kwargs):
    transformers = pytest.importorskip("transformers")
    ours, theirs = SqueezeBertConfig(**kwargs), transformers.SqueezeBertConfig(**kwargs)
    assert (ours.num_labels, ours.id2label) == (theirs.num_labels, theirs.id2label)
    # transformers 5.24 leaves label2id None when only id2label is given; we always give the inverse map (our choice)
    assert ours.label2id == (theirs.label2id or {v: k for k, v in theirs.id2label.items()})


def test_json_round_trip_keeps_unknown_keys(tmp_path):
    config = SqueezeBertConfig(num_labels=3, my_note="kept", q_groups=2)
    path = tmp_path / "config.json"
    config.to_json_file(path)
    again = SqueezeBertConfig.from_json_file(path)
    assert again == config and again.my_note == "kept" and again.id2label == {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}
    assert SqueezeBertConfig.from_dict(config.to_dict()) == config


def test_numpy_scalars_are_written_as_numbers(tmp_path):
    """A value computed with NumPy (np.int64, np.float32, np.bool_, also as a dict key) is written as the plain
    number it holds, as if it had been a Python one."""
    config = SqueezeBertConfig(max_length=np.int64(128), temperature=np.float32(0.5),
                               flags={np.int64(1): np.bool_(True), "sizes": (np.int32(2), 3)})
    config.save_pretrained(tmp_path)
    written = json.loads((tmp_path / "config.json").read_text())
    assert written["max_length"] == 128 and type(written["max_length"]) is int
    assert written["temperature"] == 0.5
    assert written["flags"] == {"1": True, "sizes": [2, 3]}
    assert os.listdir(tmp_path) == ["config.json"]


@pytest.mark.parametrize("value,where", [(object(), "config['my_note']"), ([1, {2, 3}], "config['my_note'][1]"),
                                         ({(1, 2): "x"}, "config['my_note']")])
def test_unserialisable_value_is_a_config_error_and_writes_nothing(tmp_path, value, where):
    """json.dumps would raise a bare TypeError after the temporary file was opened, leaving it behind."""
    config = SqueezeBertConfig(my_note=value)
    with pytest.raises(ConfigError, match=re.escape(where)):
        config.to_json_file(tmp_path / "config.json")
    assert os.listdir(tmp_path) == []
    with pytest.raises(ConfigError, match="my_note"):
        config.save_pretrained(tmp_path / "new")
    assert not (tmp_path / "new").exists()
    assert "my_note" in repr(config)


def test_weights_dtype_replaces_the_dtype_keys():
    """Beside weights, config.json says the dtype they were written in and drops the v4 name, as transformers
    5.24's save_pretrained writes it; a plain config keeps what it was given."""
    config = SqueezeBertConfig(torch_dtype="float16", dtype="bfloat16")
    beside_weights = json.loads(config.to_json_string(weights_dtype="float32"))
    assert beside_weights["dtype"] == "float32" and "torch_dtype" not in beside_weights
    plain = json.loads(config.to_json_string())
    assert plain["dtype"] == "bfloat16" and plain["torch_dtype"] == "float16"
    assert config.torch_dtype == "float16" and config.dtype == "bfloat16"         # the config is not changed


def test_transformers_reads_our_json(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = SqueezeBertConfig(num_labels=4, hidden_size=64, embedding_size=64, num_attention_heads=4,
                               intermediate_size=128, layer_norm_eps=1e-7)
    config.save_pretrained(tmp_path)
    theirs = transformers.AutoConfig.from_pretrained(tmp_path)
    assert type(theirs).__name__ == "SqueezeBertConfig"
    for name in SQUEEZEBERT_DEFAULTS:
        assert getattr(theirs, name) == getattr(config, name), name
    assert theirs.id2label == config.id2label


@pytest.mark.parametrize("kwargs,field", [
    ({"hidden_size": 100, "embedding_size": 100}, "num_attention_heads"),          # 100 % 12
    ({"q_groups": 5}, "q_groups"), ({"k_groups": 7}, "k_groups"), ({"v_groups": 10}, "v_groups"),
    ({"post_attention_groups": 5}, "post_attention_groups"), ({"intermediate_groups": 7}, "intermediate_groups"),
    ({"output_groups": 7}, "output_groups"),
    ({"embedding_size": 512}, "embedding_size"),
    ({"hidden_size": 0}, "hidden_size"), ({"vocab_size": -1}, "vocab_size"), ({"num_hidden_layers": 0}, "num_hidden_layers"),
    ({"max_position_embeddings": 2.5}, "max_position_embeddings"), ({"intermediate_size": True}, "intermediate_size"),
    ({"hidden_act": "gelu_fancy"}, "hidden_act"), ({"layer_norm_eps": 0}, "layer_norm_eps"),
    ({"hidden_dropout_prob": 2}, "hidden_dropout_prob"), ({"num_labels": 0}, "num_labels"),
    ({"problem_type": "ranking"}, "problem_type"), ({"pad_token_id": 40000}, "pad_token_id"),
])
def test_invalid_values_name_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        SqueezeBertConfig(**kwargs)


def test_bad_json_files(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        SqueezeBertConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ConfigError, match="bert"):
        SqueezeBertConfig.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        SqueezeBertConfig.from_pretrained(tmp_path)


def test_num_labels_override_regenerates_saved_labels(tmp_path):
    """A saved config has id2label; from_pretrained(..., num_labels=5) rebuilds it, as transformers does."""
    SqueezeBertConfig(id2label={0: "neg", 1: "pos"}).save_pretrained(tmp_path)
    with pytest.warns(UserWarning, match="num_labels=5"):
        config = SqueezeBertConfig.from_pretrained(tmp_path, num_labels=5)
    assert config.num_labels == 5 and config.id2label[4] == "LABEL_4" and config.label2id["LABEL_4"] == 4
    transformers = pytest.importorskip("transformers")
    theirs = transformers.SqueezeBertConfig.from_pretrained(tmp_path, num_labels=5)
    assert theirs.id2label == config.id2label
