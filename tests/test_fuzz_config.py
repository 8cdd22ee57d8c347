"""A fuzz suite for config loading (issue 15): generated config.json texts and values. For every input the promise
holds: a SqueezeBertConfig that is valid and writes itself back unchanged, or a ConfigError (never another
exception), in bounded time and memory. Each property runs a bounded number of examples (well under 20 s)."""
import json
import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from squeezebert_np import ConfigError, SqueezeBertConfig
from squeezebert_np.config import (COMMON_DEFAULTS, MAX_NESTING, MAX_PARAMETERS, MAX_SIZES, SQUEEZEBERT_DEFAULTS,
                                   parameter_count)

FIELDS = [*SQUEEZEBERT_DEFAULTS, *COMMON_DEFAULTS, "num_labels", "id2label", "label2id", "model_type"]
METHODS = [name for name in dir(SqueezeBertConfig) if not name.startswith("__")]
SHADOWING = ["validate", "_extra_keys", "__dict__", "__class__", "to_dict", "from_dict", "__init__", "num_labels",
             "self", "cls", "d", "path", "path_or_repo_id", "kwargs"]        # also the methods' own parameter names
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SECONDS = 2.0                     # per input; a valid config takes milliseconds
PEAK_BYTES = 32 * 2**20           # tracemalloc peak per input (the bound is 16 MiB of text at most)

# ---- generators ----

huge_ints = st.one_of(st.integers(-2**70, 2**70), st.sampled_from([0, -1, 2**31, 2**63, 10**7, 10**8, 10**300]))
scalars = st.one_of(st.none(), st.booleans(), huge_ints, st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=12), st.sampled_from(["gelu", "relu", "3", "", "NaN", "squeezebert"]))
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                           st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                           max_leaves=12)
keys = st.one_of(st.sampled_from(FIELDS), st.sampled_from(METHODS), st.sampled_from(SHADOWING), st.text(max_size=10))
label_keys = st.one_of(st.integers(-3, 8).map(str), st.integers(-3, 8), st.text(max_size=4))


def small_valid():
    """Sizes that build quickly, as a base that one or two hostile values are put into."""
    return dict(vocab_size=50, hidden_size=16, embedding_size=16, num_attention_heads=2, intermediate_size=32,
                num_hidden_layers=1, max_position_embeddings=16, q_groups=1, k_groups=1, v_groups=1,
                post_attention_groups=1, intermediate_groups=1, output_groups=1)


def deep(depth):
    return json.dumps({"note": json.loads("[" * depth + "]" * depth)}) if depth < 900 else \
        '{"note": ' + "[" * depth + "]" * depth + "}"


# ---- the promise ----

def check_promise(load):
    """`load()` returns a valid config or raises ConfigError, within SECONDS and PEAK_BYTES; a config returned
    holds sizes within their bounds and writes itself back unchanged."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        config = load()
    except ConfigError as error:
        config = None
        assert str(error)                                            # a message naming the problem
    finally:
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < SECONDS and peak < PEAK_BYTES, (elapsed, peak)
    if config is not None:
        for name, bound in MAX_SIZES.items():
            value = config.num_labels if name == "num_labels" else getattr(config, name)
            assert isinstance(value, int) and 1 <= value <= bound, name
        assert parameter_count(config) <= MAX_PARAMETERS
        assert callable(config.validate) and callable(config.to_dict)    # no key shadowed a method
        assert all(isinstance(i, int) for i in config.id2label)
        assert config.num_labels == len(config.id2label)
        try:
            text = config.to_json_string()
        except ConfigError:                                          # a Python value JSON cannot hold: named
            return config
        again = SqueezeBertConfig.from_dict(json.loads(text))
        assert again.to_json_string() == text
    return config


def load_text(tmp_path, text):
    path = tmp_path / "config.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    return lambda: SqueezeBertConfig.from_json_file(path)


# ---- properties ----

@FUZZ
@given(d=st.dictionaries(keys, json_values, max_size=6))
def test_generated_dicts(tmp_path_factory, d):
    """Any JSON object of fields, method names and random keys, with any JSON values."""
    tmp = tmp_path_factory.mktemp("d")
    check_promise(load_text(tmp, json.dumps(d)))


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(FIELDS), json_values, min_size=1, max_size=2))
def test_hostile_values_in_a_valid_config(tmp_path_factory, changes):
    """A small valid config with one or two fields replaced by any JSON value (huge ints, NaN, lists, ...)."""
    tmp = tmp_path_factory.mktemp("v")
    check_promise(load_text(tmp, json.dumps({**small_valid(), **changes})))


@FUZZ
@given(id2label=st.one_of(st.dictionaries(label_keys, scalars, max_size=5), json_values),
       label2id=st.one_of(st.none(), st.dictionaries(st.text(max_size=4), scalars, max_size=5), json_values),
       num_labels=st.one_of(st.none(), huge_ints, scalars))
def test_label_maps(id2label, label2id, num_labels):
    """id2label / label2id / num_labels in every combination, as keyword arguments."""
    kwargs = {k: v for k, v in dict(id2label=id2label, label2id=label2id, num_labels=num_labels).items()
              if v is not None}
    config = check_promise(lambda: SqueezeBertConfig(**small_valid(), **kwargs))
    if config is not None and "label2id" in kwargs and isinstance(kwargs["label2id"], dict) \
            and "num_labels" not in kwargs:
        assert config.label2id == kwargs["label2id"]                 # kept as given, as transformers keeps it


@settings(FUZZ, max_examples=60)
@given(base=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=3), data=st.data())
def test_mutated_texts(tmp_path_factory, base, data):
    """The text of a config cut, spliced or with bytes changed: broken JSON, half a number, a lone surrogate."""
    text = json.dumps({**small_valid(), **base}).encode()
    cut = data.draw(st.integers(0, len(text)))
    insert = data.draw(st.one_of(st.binary(max_size=8), st.sampled_from(
        [b"[" * 200, b"9" * 5000, b"NaN", b"-Infinity", b"\\ud800", b'"\\u0000"', b"\xff", b"{" * 40 + b"}" * 40])))
    tmp = tmp_path_factory.mktemp("t")
    check_promise(load_text(tmp, text[:cut] + insert + text[cut + data.draw(st.integers(0, 8)):]))


@settings(FUZZ, max_examples=30)
@given(depth=st.integers(1, 5000), inside_string=st.booleans())
def test_nesting_depth(tmp_path_factory, depth, inside_string):
    """Lists nested to any depth: accepted up to MAX_NESTING, refused beyond with our error, brackets inside a
    string never counted."""
    text = json.dumps({"note": "[" * depth}) if inside_string else deep(depth)
    config = check_promise(load_text(tmp_path_factory.mktemp("n"), text))
    assert (config is not None) == (inside_string or depth <= MAX_NESTING)


@settings(FUZZ, max_examples=60)
@given(name=st.sampled_from(list(MAX_SIZES)), value=st.one_of(st.integers(2**10, 2**200), st.integers(1, 64)))
def test_sizes_at_and_beyond_their_bounds(name, value):
    """Every bounded size near and far beyond its bound, checked before anything is allocated."""
    fields = small_valid()
    if name in ("hidden_size", "embedding_size"):
        fields.update(hidden_size=value, embedding_size=value, num_attention_heads=1)
    else:
        fields[name] = value
    config = check_promise(lambda: SqueezeBertConfig(**fields))
    within = value <= MAX_SIZES[name]
    if not within:
        assert config is None


@FUZZ
@given(kwargs=st.dictionaries(keys, json_values, max_size=4))
def test_from_pretrained_keywords(tmp_path_factory, kwargs):
    """Keywords of from_pretrained: fields override, anything else is not stored (transformers' rule), and no
    keyword replaces a method."""
    tmp = tmp_path_factory.mktemp("k")
    SqueezeBertConfig(**small_valid()).save_pretrained(tmp)
    kwargs = {k: v for k, v in kwargs.items() if k not in ("subfolder", "revision", "cache_dir", "local_files_only",
                                                           "token", "return_unused_kwargs")}
    config = check_promise(lambda: SqueezeBertConfig.from_pretrained(tmp, **kwargs))
    if config is not None:
        stored = config.to_dict()
        for key in kwargs:
            if key not in FIELDS:
                assert key not in stored


def test_parameter_bound_is_checked_with_integers():
    """Each size within its bound, together too many parameters: refused by the exact integer count."""
    fields = dict(small_valid(), vocab_size=30528, hidden_size=2**12, embedding_size=2**12, num_attention_heads=8,
                  intermediate_size=2**14)
    n = parameter_count(SqueezeBertConfig(**fields))                  # one layer: fits
    assert isinstance(n, int) and n < MAX_PARAMETERS
    with pytest.raises(ConfigError, match="parameters"):
        SqueezeBertConfig(**{**fields, "num_hidden_layers": 2**10})


@settings(FUZZ, max_examples=40)
@given(kwargs=st.dictionaries(keys, json_values, max_size=3))
def test_model_from_pretrained_keywords(tmp_path_factory, kwargs):
    """A model's from_pretrained with generated keywords: a model, or ConfigError / UnexpectedArgumentError,
    never another exception; a keyword that is not a field never reaches the config."""
    from squeezebert_np import SqueezeBertForSequenceClassification
    from squeezebert_np.errors import UnexpectedArgumentError
    tmp = tmp_path_factory.mktemp("m")
    SqueezeBertForSequenceClassification(SqueezeBertConfig(**small_valid())).save_pretrained(tmp)
    options = ("config", "state_dict", "subfolder", "revision", "cache_dir", "local_files_only", "token", "seed",
               "output_loading_info", "ignore_mismatched_sizes")
    kwargs = {k: v for k, v in kwargs.items() if k not in options}
    try:
        model = SqueezeBertForSequenceClassification.from_pretrained(tmp, **kwargs)
    except UnexpectedArgumentError as error:
        assert any(k not in FIELDS for k in kwargs) and str(error)
        return
    except ConfigError:
        return
    assert all(k in FIELDS for k in kwargs)
    assert callable(model.config.validate)
