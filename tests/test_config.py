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


# ---- hostile config.json (issue 15): our error, before anything is allocated, in bounded time ----

def _refused_cheaply(make, match):
    """`make()` raises ConfigError matching `match`, having allocated under 4 MB (tracemalloc's peak)."""
    import tracemalloc
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match=match):
            make()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20


@pytest.mark.parametrize("kwargs,match", [
    ({"num_labels": 2**31}, "num_labels must be at most 131,072"),
    ({"num_hidden_layers": 10**7}, "num_hidden_layers must be at most 1,024"),
    ({"vocab_size": 10**8}, "vocab_size must be at most 1,048,576"),
    ({"max_position_embeddings": 10**30}, "max_position_embeddings must be at most"),
    ({"hidden_size": 2**15, "embedding_size": 2**15}, "hidden_size must be at most 16,384"),
    ({"vocab_size": 2**20, "hidden_size": 2**14, "embedding_size": 2**14, "num_attention_heads": 16},
     "parameters, more than the 2,147,483,648"),
    ({"id2label": {str(i): "x" for i in range(2**17 + 1)}}, "id2label has 131,073 entries"),
])
def test_sizes_are_bounded_before_allocation(kwargs, match):
    _refused_cheaply(lambda: SqueezeBertConfig(**kwargs), match)


def test_the_bounds_themselves_are_accepted():
    config = SqueezeBertConfig(vocab_size=2**20, num_hidden_layers=2, hidden_size=64, embedding_size=64,
                               num_attention_heads=4, intermediate_size=2**16, max_position_embeddings=2**17,
                               type_vocab_size=2**10, num_labels=2**17)
    assert config.num_labels == 2**17 and len(config.label2id) == 2**17


@pytest.mark.parametrize("text,match", ids=lambda v: repr(v)[:40] if isinstance(v, (str, bytes)) else None,
                         argvalues=[
    ("[" * 100_000, "nests lists or objects more than 32 deep"),
    ('{"a": "' + "[" * 100 + '", "b": [[{}]]}', "no error: brackets inside strings do not count"),
    ('{"vocab_size": ' + "9" * 5000 + "}", "not valid JSON"),
    ('{"my_note": ' + "[" * 100 + "]" * 100 + "}", "nests lists or objects more than 32 deep"),
    ('{"hidden_act": ["gelu"]}', "hidden_act"),
    ('{"validate": 1}', "'validate' is not allowed"),
    ('{"_extra_keys": ["vocab_size"]}', "'_extra_keys' is not allowed"),
    ('{"__dict__": {}}', "'__dict__' is not allowed"),
    ('{"__class__": "x"}', "'__class__' is not allowed"),
    ('{"to_dict": 1}', "'to_dict' is not allowed"),
    ('{"id2label": {"x": "a"}}', "id2label keys must be integers"),
    ('{"id2label": "abc"}', "id2label must be a dict"),
    ('{"id2label": {"0": ["a"]}}', r"id2label\['0'\] must be a label name"),
    ('{"id2label": {"0": "a"}, "label2id": {"a": null}}', r"label2id\['a'\] must be an integer"),
    ('{"id2label": {"0": "a"}, "label2id": {"a": [0]}}', r"label2id\['a'\] must be an integer"),
    ('{"label2id": [["a", 0]]}', "label2id must be a dict"),
    ('{"num_labels": "3", "id2label": {"0": "a"}}', "num_labels must be a positive integer"),
    ('{"num_labels": 1e400}', "num_labels must be a positive integer"),
    ('{"layer_norm_eps": Infinity}', "layer_norm_eps must be a positive finite number"),
    ('{"initializer_range": NaN}', "initializer_range must be a positive finite number"),
    ('{"tie_word_embeddings": "false"}', "tie_word_embeddings must be true or false"),
    ('{"model_type": ["squeezebert"]}', "model_type"),
    ('"squeezebert"', "JSON object"),
    (b"\xff\xfe{}", "not UTF-8"),
])
def test_hostile_config_files_get_our_error(tmp_path, text, match):
    path = tmp_path / "config.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    if match.startswith("no error"):
        assert SqueezeBertConfig.from_pretrained(tmp_path).b == [[{}]]
        return
    _refused_cheaply(lambda: SqueezeBertConfig.from_pretrained(tmp_path), match)


def test_underscore_keys_of_real_configs_are_kept(tmp_path):
    """transformers writes keys such as `_name_or_path`; only our own internals and dunders are refused."""
    (tmp_path / "config.json").write_text('{"_name_or_path": "x", "transformers_version": "5.24.0"}')
    config = SqueezeBertConfig.from_pretrained(tmp_path)
    assert config._name_or_path == "x" and config.to_dict()["_name_or_path"] == "x"


def test_missing_file_or_directory_as_config_path(tmp_path):
    with pytest.raises(ConfigError, match="no config file at"):
        SqueezeBertConfig.from_json_file(tmp_path / "absent.json")
    with pytest.raises(ConfigError, match="is a directory"):
        SqueezeBertConfig.from_json_file(tmp_path)
    from squeezebert_np.errors import SqueezeBertError
    with pytest.raises(SqueezeBertError):                  # a folder without config.json: the hub's error type
        SqueezeBertConfig.from_pretrained(tmp_path)


def test_config_file_path_and_size_limit(tmp_path):
    """from_pretrained also takes the path of a config file, as transformers does; more than 16 MiB is refused."""
    path = tmp_path / "my_config.json"
    path.write_text('{"num_labels": 3}')
    transformers = pytest.importorskip("transformers")
    assert SqueezeBertConfig.from_pretrained(path).num_labels == 3 == \
        transformers.SqueezeBertConfig.from_pretrained(path).num_labels
    path.write_text('{"my_note": "' + "x" * (16 * 2**20) + '"}')
    with pytest.raises(ConfigError, match="larger than 16 MiB"):
        SqueezeBertConfig.from_pretrained(path)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_endless_file_as_config_path():
    """/dev/zero never ends: refused as not a regular file instead of read until memory runs out."""
    _refused_cheaply(lambda: SqueezeBertConfig.from_json_file("/dev/zero"), "not a regular file")


def test_keys_named_like_parameters(tmp_path):
    """A key named `self`, `d` or `path` (the methods' own parameter names) is an ordinary unknown key, not a
    TypeError from a clash of arguments."""
    (tmp_path / "config.json").write_text('{"self": 1, "d": 2, "path": 3, "cls": 4}')
    config = SqueezeBertConfig.from_pretrained(tmp_path)
    assert (config.self, config.d, config.path, config.cls) == (1, 2, 3, 4)
    assert SqueezeBertConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("kwargs,match", [
    ({"vocab_size": 10**5000}, "vocab_size must be at most 1,048,576, got an integer of 4153 hex digits"),
    ({"id2label": {10**5000: "a"}}, r"id2label keys are class indices in \[0, 131,072\)"),
    ({"id2label": {-1: "a"}}, r"id2label keys are class indices in \[0, 131,072\), got -1"),
    ({"num_labels": 2**64}, "num_labels must be at most"),
])
def test_huge_python_ints_in_kwargs(kwargs, match):
    """repr() of an int of more than 4300 digits raises ValueError: the message must not try it."""
    _refused_cheaply(lambda: SqueezeBertConfig(**kwargs), match)


def test_label_maps_set_after_construction_are_validated():
    config = SqueezeBertConfig()
    config.id2label = {"x": "a"}
    with pytest.raises(ConfigError, match="id2label keys must be integers"):
        config.validate()
    config.id2label = {0: "a"}
    config.label2id = {"a": None}
    with pytest.raises(ConfigError, match="label2id"):
        config.validate()
