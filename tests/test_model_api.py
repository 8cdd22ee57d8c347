"""transformers' model/config API around the numbers, as fine-tuning code uses it, each checked against transformers:
subfolder=, unknown keywords, label maps, loading info, ignore_mismatched_sizes, resize_token_embeddings, the
embedding accessors, base_model, main_input_name, num_parameters, from_pretrained(None, config, state_dict);
and the model-input checks of issue 15 (ragged or wrapping labels, positions, over-long sequences)."""
import os
import warnings

import numpy as np
import pytest

import squeezebert_np
from squeezebert_np import (CheckpointError, ConfigError, InvalidInputError, SqueezeBertConfig,
                            SqueezeBertForMaskedLM, SqueezeBertForQuestionAnswering,
                            SqueezeBertForSequenceClassification, SqueezeBertForTokenClassification, SqueezeBertModel)
from squeezebert_np.errors import UnexpectedArgumentError
from squeezebert_np.nn import Embedding
from tiny_models import TINY_SQUEEZEBERT

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

HEADS = ["SqueezeBertModel", "SqueezeBertForMaskedLM", "SqueezeBertForSequenceClassification",
         "SqueezeBertForMultipleChoice", "SqueezeBertForTokenClassification", "SqueezeBertForQuestionAnswering"]
IDS = np.array([[2, 5, 9, 11, 3], [2, 7, 98, 3, 0]])
MASK = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])


def transformers_model(head, path=None, **config):
    """A transformers model on the tiny config with weights far from their initial values (seeded)."""
    torch.manual_seed(0)
    model = getattr(transformers, head)(transformers.SqueezeBertConfig(**{**TINY_SQUEEZEBERT, **config})).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    if path is not None:
        model.save_pretrained(path)
    return model


def logits_of(model, ids=IDS, mask=MASK):
    if isinstance(model, torch.nn.Module):
        with torch.no_grad():
            return model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits.numpy()
    return model(ids, attention_mask=mask).logits


# ---- issue 16, defect 1: subfolder, and keywords that are not options ----

def test_config_subfolder_local_as_transformers(tmp_path):
    """The issue's repro: the config of the subfolder, not of the folder; `subfolder` is not stored."""
    SqueezeBertConfig(hidden_size=64, embedding_size=64, num_attention_heads=4, intermediate_size=128) \
        .save_pretrained(tmp_path)
    SqueezeBertConfig().save_pretrained(tmp_path / "test")
    ours = SqueezeBertConfig.from_pretrained(tmp_path, subfolder="test")
    theirs = transformers.SqueezeBertConfig.from_pretrained(tmp_path, subfolder="test")
    assert ours.hidden_size == theirs.hidden_size == 768
    assert not hasattr(ours, "subfolder") and "subfolder" not in ours.to_dict()


def test_model_subfolder_local_same_logits(tmp_path):
    theirs = transformers_model("SqueezeBertForSequenceClassification", tmp_path / "sub", num_labels=3)
    ours = SqueezeBertForSequenceClassification.from_pretrained(tmp_path, subfolder="sub")
    assert ours.loading_info.files[0] == os.path.join(tmp_path, "sub", "model.safetensors")
    assert np.max(np.abs(logits_of(ours) - logits_of(theirs))) < 1e-5


def test_model_subfolder_on_the_hub(tmp_path, monkeypatch):
    """subfolder= through the hub downloader: the fake hub serves `sub/config.json` and `sub/model.safetensors`."""
    from fakehub import FakeHub
    from squeezebert_np import hub
    transformers_model("SqueezeBertForMaskedLM", tmp_path / "saved")
    files = {f"sub/{name}": (tmp_path / "saved" / name).read_bytes() for name in ("config.json", "model.safetensors")}
    files["config.json"] = b'{"model_type": "squeezebert", "hidden_size": 8, "embedding_size": 8}'
    with FakeHub(repos={"org/nested": {"main": files}}) as fake:
        for name in list(os.environ):
            if name.startswith(("HF_", "HUGGING_FACE_", "HUGGINGFACE_")) or name == "TRANSFORMERS_OFFLINE":
                monkeypatch.delenv(name)
        for name, value in fake.env_vars(tmp_path / "cache").items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(hub, "BACKOFF_SECONDS", 0.01)
        config = SqueezeBertConfig.from_pretrained("org/nested", subfolder="sub")
        model = SqueezeBertForMaskedLM.from_pretrained("org/nested", subfolder="sub")
    assert config.hidden_size == TINY_SQUEEZEBERT["hidden_size"]
    assert model.loading_info.files[0].endswith(os.path.join("sub", "model.safetensors"))
    theirs = transformers.SqueezeBertForMaskedLM.from_pretrained(tmp_path / "saved")
    assert np.max(np.abs(logits_of(model) - logits_of(theirs))) < 1e-5


def test_unknown_keyword_not_stored_in_config(tmp_path):
    """transformers' config.from_pretrained drops a keyword that is not a field; ours too (and can return it)."""
    SqueezeBertConfig(my_note="kept").save_pretrained(tmp_path)
    theirs = transformers.SqueezeBertConfig.from_pretrained(tmp_path, ignore_mismatched_sizes=True, my_note="new",
                                                            num_labels=4)
    ours = SqueezeBertConfig.from_pretrained(tmp_path, ignore_mismatched_sizes=True, my_note="new", num_labels=4)
    assert hasattr(theirs, "ignore_mismatched_sizes") is hasattr(ours, "ignore_mismatched_sizes") is False
    assert ours.my_note == theirs.my_note == "new" and ours.num_labels == theirs.num_labels == 4
    config, unused = SqueezeBertConfig.from_pretrained(tmp_path, return_unused_kwargs=True, foo=1, num_labels=3)
    assert unused == {"foo": 1} and config.num_labels == 3 and "foo" not in config.to_dict()


def test_unknown_keyword_refused_for_models(tmp_path):
    transformers_model("SqueezeBertForSequenceClassification", tmp_path)
    with pytest.raises(TypeError):
        transformers.SqueezeBertForSequenceClassification.from_pretrained(tmp_path, not_an_option=1)
    with pytest.raises(UnexpectedArgumentError, match="not_an_option"):
        SqueezeBertForSequenceClassification.from_pretrained(tmp_path, not_an_option=1)
    with pytest.raises(TypeError, match="config= given"):              # with config=, every extra keyword
        SqueezeBertForSequenceClassification.from_pretrained(tmp_path, config=SqueezeBertConfig(**TINY_SQUEEZEBERT),
                                                             num_labels=5)
    model = SqueezeBertForSequenceClassification.from_pretrained(tmp_path, output_hidden_states=True)  # a field
    assert model.config.output_hidden_states is True


# ---- defects 2 and 3: label2id values, loading info ----

def test_label2id_values_kept_as_given():
    kwargs = dict(id2label={0: "label"}, label2id={"label": "0"})
    assert SqueezeBertConfig(**kwargs).label2id == transformers.SqueezeBertConfig(**kwargs).label2id == {"label": "0"}


def test_output_loading_info_is_transformers_dict_of_sets(tmp_path):
    transformers_model("SqueezeBertModel", tmp_path)                   # a base checkpoint into the MLM head
    _, theirs = transformers.SqueezeBertForMaskedLM.from_pretrained(tmp_path, output_loading_info=True)
    with pytest.warns(UserWarning, match="not in the checkpoint"):
        _, ours = SqueezeBertForMaskedLM.from_pretrained(tmp_path, output_loading_info=True)
    assert set(ours) == set(theirs) and all(type(ours[k]) is type(theirs[k]) for k in theirs)
    assert ours["missing_keys"] == theirs["missing_keys"]
    assert ours["unexpected_keys"] == theirs["unexpected_keys"] == set()
    assert ours["mismatched_keys"] == theirs["mismatched_keys"] == set() and ours["error_msgs"] == []


# ---- ignore_mismatched_sizes ----

def test_ignore_mismatched_sizes_reinitialises_the_classifier(tmp_path):
    """A 3-label checkpoint into num_labels=5: the classifier is re-initialised, named in the warning and in
    mismatched_keys exactly as transformers names it; the encoder is loaded."""
    transformers_model("SqueezeBertForSequenceClassification", tmp_path, num_labels=3)
    theirs, their_info = transformers.SqueezeBertForSequenceClassification.from_pretrained(
        tmp_path, num_labels=5, ignore_mismatched_sizes=True, output_loading_info=True)
    with pytest.warns(UserWarning, match=r"classifier\.weight \(checkpoint \(3, 32\), model \(5, 32\)\)"):
        ours, info = SqueezeBertForSequenceClassification.from_pretrained(
            tmp_path, num_labels=5, ignore_mismatched_sizes=True, output_loading_info=True)
    assert info["mismatched_keys"] == {(k, tuple(a), tuple(b)) for k, a, b in their_info["mismatched_keys"]} \
        == {("classifier.weight", (3, 32), (5, 32)), ("classifier.bias", (3,), (5,))}
    assert info["missing_keys"] == their_info["missing_keys"] == set()
    with torch.no_grad():
        pooled = theirs.transformer(torch.from_numpy(IDS), attention_mask=torch.from_numpy(MASK)).pooler_output
    assert np.max(np.abs(ours.transformer(IDS, attention_mask=MASK).pooler_output - pooled.numpy())) < 1e-5
    assert ours.classifier.weight.shape == (5, 32) and np.array_equal(ours.classifier.bias, np.zeros(5))
    # transformers' _init_weights: Normal(0, 0.02); 160 draws, so the sample std is within 0.02 * (1 +- 0.3)
    assert 0.014 < ours.classifier.weight.std() < 0.026 and logits_of(ours).shape == (2, 5)


def test_mismatched_sizes_refused_without_the_option(tmp_path):
    transformers_model("SqueezeBertForSequenceClassification", tmp_path, num_labels=3)
    with pytest.raises(RuntimeError):
        transformers.SqueezeBertForSequenceClassification.from_pretrained(tmp_path, num_labels=5)
    with pytest.raises(CheckpointError, match=r"classifier\.weight is \(3, 32\).*ignore_mismatched_sizes=True\)"):
        SqueezeBertForSequenceClassification.from_pretrained(tmp_path, num_labels=5)


# ---- resize_token_embeddings ----

def test_resize_grow_tied_as_transformers(tmp_path):
    """Same weights resized by both libraries: old rows kept, new rows drawn around the old rows' mean with 1e-9
    of their covariance, the decoder tied to them, its bias grown with zeros; logits of the old
    vocabulary equal; what we save loads in transformers with our logits."""
    theirs = transformers_model("SqueezeBertForMaskedLM", tmp_path / "orig")
    ours = SqueezeBertForMaskedLM.from_pretrained(tmp_path / "orig")
    old = ours.get_input_embeddings().weight.copy()
    old_bias = ours.cls.predictions.bias.copy()
    theirs.resize_token_embeddings(107, pad_to_multiple_of=8)
    returned = ours.resize_token_embeddings(107, pad_to_multiple_of=8)
    assert returned is ours.get_input_embeddings() and returned.weight.shape == (112, 32)
    assert ours.config.vocab_size == theirs.config.vocab_size == 112
    new = returned.weight
    assert np.array_equal(new[:99], old) and ours.cls.predictions.decoder.weight is new
    assert ours.cls.predictions.decoder.bias is ours.cls.predictions.bias
    # each new entry ~ Normal(mean, 1e-9 * var): within 6 standard deviations of the mean (plus float32 rounding)
    mean, sd = old.mean(0), np.sqrt(1e-9 * old.var(0))
    assert np.all(np.abs(new[99:] - mean) <= 6 * sd + 1e-6)
    their_new = theirs.get_input_embeddings().weight.detach().numpy()
    assert np.all(np.abs(their_new[99:] - mean) <= 6 * sd + 1e-6)     # the same rule on their side
    their_bias = theirs.cls.predictions.bias.detach().numpy()
    # tied: the new biases are 0 (transformers' tie pads the bias with zeros), the old ones kept
    assert np.array_equal(ours.cls.predictions.bias, their_bias) and np.array_equal(their_bias[:99], old_bias)
    assert np.max(np.abs(logits_of(ours)[..., :99] - logits_of(theirs)[..., :99])) < 1e-5
    ours.save_pretrained(tmp_path / "resized")
    reloaded = transformers.SqueezeBertForMaskedLM.from_pretrained(tmp_path / "resized")
    assert reloaded.config.vocab_size == 112
    assert np.max(np.abs(logits_of(reloaded) - logits_of(ours))) < 1e-5
    ids = np.array([[2, 111, 105, 3]])                                 # new ids run too
    assert np.max(np.abs(logits_of(reloaded, ids, np.ones_like(ids)) - logits_of(ours, ids, np.ones_like(ids)))) < 1e-5


@pytest.mark.parametrize("size,mean_resizing", [(80, True), (120, False), (110, True)])
def test_resize_untied_and_shrink_as_transformers(tmp_path, size, mean_resizing):
    """tie_word_embeddings=False: the decoder is resized on its own. Shrinking keeps the first rows; without mean
    resizing the new rows are Normal(0, initializer_range) and the new biases 0."""
    theirs = transformers_model("SqueezeBertForMaskedLM", tmp_path / "orig", tie_word_embeddings=False)
    ours = SqueezeBertForMaskedLM.from_pretrained(tmp_path / "orig")
    theirs.resize_token_embeddings(size, mean_resizing=mean_resizing)
    ours.resize_token_embeddings(size, mean_resizing=mean_resizing)
    keep = min(size, 99)
    for a, b in [(ours.get_input_embeddings().weight, theirs.get_input_embeddings().weight),
                 (ours.cls.predictions.decoder.weight, theirs.cls.predictions.decoder.weight),
                 (ours.cls.predictions.bias, theirs.cls.predictions.bias)]:
        assert a.shape == tuple(b.shape) and np.array_equal(a[:keep], b.detach().numpy()[:keep])
    assert ours.cls.predictions.decoder.weight is not ours.get_input_embeddings().weight
    if size > 99 and mean_resizing:    # the untied decoder's new biases: its old biases' mean (+ 1e-9 of their std)
        their_bias = theirs.cls.predictions.bias.detach().numpy()
        assert np.allclose(ours.cls.predictions.bias[99:], their_bias[99:], rtol=0, atol=1e-6)
        assert np.allclose(ours.cls.predictions.bias[99:], ours.cls.predictions.bias[:99].mean(), rtol=0, atol=1e-6)
    elif size > 99:
        assert np.array_equal(ours.cls.predictions.bias[99:], np.zeros(size - 99))
        assert 0.015 < ours.get_input_embeddings().weight[99:].std() < 0.025     # 21 * 32 draws of N(0, 0.02)
    ours.save_pretrained(tmp_path / "resized")
    reloaded = transformers.SqueezeBertForMaskedLM.from_pretrained(tmp_path / "resized")
    ids = np.array([[2, 5, keep - 1, 3]])
    assert np.max(np.abs(logits_of(reloaded, ids, np.ones_like(ids)) - logits_of(ours, ids, np.ones_like(ids)))) < 1e-5


def test_resize_base_model_and_bad_sizes():
    model = SqueezeBertModel(SqueezeBertConfig(**TINY_SQUEEZEBERT))
    assert model.resize_token_embeddings() is model.get_input_embeddings() and model.config.vocab_size == 99
    assert model.resize_token_embeddings(pad_to_multiple_of=64).weight.shape == (128, 32)
    assert model.config.vocab_size == 128 and model(np.array([[127, 5]])).last_hidden_state.shape == (1, 2, 32)
    for bad in (dict(new_num_tokens=0), dict(new_num_tokens=2**40), dict(new_num_tokens=2.5),
                dict(new_num_tokens=50, pad_to_multiple_of="8"), dict(new_num_tokens=50, pad_to_multiple_of=0)):
        with pytest.raises(ConfigError):
            model.resize_token_embeddings(**bad)
    assert model.get_input_embeddings().weight.shape == (128, 32)      # nothing changed by a refused call


# ---- accessors ----

@pytest.mark.parametrize("head", HEADS)
def test_accessors_and_num_parameters_as_transformers(head):
    theirs = getattr(transformers, head)(transformers.SqueezeBertConfig(**TINY_SQUEEZEBERT))
    ours = getattr(squeezebert_np, head)(SqueezeBertConfig(**TINY_SQUEEZEBERT))
    for flags in [{}, dict(exclude_embeddings=True), dict(only_trainable=True)]:
        assert ours.num_parameters(**flags) == theirs.num_parameters(**flags), flags
    assert ours.main_input_name == theirs.main_input_name == "input_ids"
    assert (ours.base_model is ours) == (theirs.base_model is theirs)
    assert type(ours.base_model).__name__ == type(theirs.base_model).__name__
    assert ours.get_input_embeddings().weight.shape == tuple(theirs.get_input_embeddings().weight.shape)
    output = ours.get_output_embeddings()
    assert (output is None) == (theirs.get_output_embeddings() is None)
    if output is not None:
        assert output is ours.cls.predictions.decoder and output.weight is ours.get_input_embeddings().weight


def test_num_parameters_untied_counts_the_decoder():
    config = dict(TINY_SQUEEZEBERT, tie_word_embeddings=False)
    theirs = transformers.SqueezeBertForMaskedLM(transformers.SqueezeBertConfig(**config))
    ours = SqueezeBertForMaskedLM(SqueezeBertConfig(**config))
    assert ours.num_parameters() == theirs.num_parameters()
    assert ours.num_parameters(exclude_embeddings=True) == theirs.num_parameters(exclude_embeddings=True)
    from squeezebert_np.config import parameter_count      # the size bound's count: base + untied MLM head
    assert parameter_count(ours.config) == theirs.num_parameters()


def test_set_input_embeddings_and_tie_weights():
    model = SqueezeBertForMaskedLM(SqueezeBertConfig(**TINY_SQUEEZEBERT))
    new = Embedding(99, 32)
    new.weight = np.random.default_rng(1).standard_normal((99, 32), dtype=np.float32)
    model.set_input_embeddings(new)
    assert model.get_input_embeddings() is new and model.transformer.embeddings.word_embeddings is new
    assert model.cls.predictions.decoder.weight is not new.weight       # as transformers: not re-tied by itself
    model.tie_weights()
    assert model.cls.predictions.decoder.weight is new.weight
    with pytest.raises(ConfigError, match="nn.Embedding"):
        model.set_input_embeddings(np.zeros((99, 32)))
    with pytest.raises(ConfigError, match=r"\[num_embeddings, 32\]"):
        model.set_input_embeddings(Embedding(99, 16))


def test_from_pretrained_none_with_config_and_state_dict():
    theirs_model = transformers_model("SqueezeBertForSequenceClassification", num_labels=3)
    sd = {k: v.numpy() for k, v in theirs_model.state_dict().items()}
    tc = transformers.SqueezeBertConfig(**TINY_SQUEEZEBERT, num_labels=3)
    theirs = transformers.SqueezeBertForSequenceClassification.from_pretrained(
        None, config=tc, state_dict=theirs_model.state_dict()).eval()
    config = SqueezeBertConfig(**TINY_SQUEEZEBERT, num_labels=3)
    ours = SqueezeBertForSequenceClassification.from_pretrained(None, config=config, state_dict=sd)
    assert np.max(np.abs(logits_of(ours) - logits_of(theirs))) < 1e-5
    assert ours.config is not config and ours.config == config          # a copy, as transformers makes
    with pytest.raises(ConfigError, match="needs both config= and state_dict="):
        SqueezeBertForSequenceClassification.from_pretrained(None, config=config)


def test_get_text_config_is_the_config():
    config = SqueezeBertConfig()
    assert config.get_text_config() is config
    theirs = transformers.SqueezeBertConfig()
    assert theirs.get_text_config() is theirs


# ---- issue 15, model inputs ----

def test_ragged_labels_and_positions_get_our_error():
    config = SqueezeBertConfig(**TINY_SQUEEZEBERT)
    classifier = SqueezeBertForSequenceClassification(config)
    with pytest.raises(InvalidInputError, match="labels must be a rectangular array"):
        classifier(IDS, labels=[[0, 1], [1]])
    tagger = SqueezeBertForTokenClassification(config)
    with pytest.raises(InvalidInputError, match="labels must be a rectangular array"):
        tagger(IDS, labels=[[0, 1, 0, 1, 0], [1]])
    qa = SqueezeBertForQuestionAnswering(config)
    with pytest.raises(InvalidInputError, match="start_positions must be a rectangular array"):
        qa(IDS, start_positions=[[1], [2, 3]], end_positions=[1, 2])
    with pytest.raises(InvalidInputError, match="end_positions"):
        qa(IDS, start_positions=[1, 2], end_positions=[[1], "x"])


def test_uint64_labels_do_not_wrap_to_ignored():
    """2**64 - 100 as uint64 is a class index out of range, not -100 (which would be silently ignored)."""
    model = SqueezeBertForSequenceClassification(SqueezeBertConfig(**TINY_SQUEEZEBERT))
    with pytest.raises(InvalidInputError, match=r"found 18446744073709551516"):
        model(IDS, labels=np.array([2**64 - 100, 0], np.uint64))
    loss = model(IDS, labels=np.array([1, 0], np.uint64)).loss          # in range: the int64 loss
    assert loss == pytest.approx(float(model(IDS, labels=np.array([1, 0])).loss), rel=1e-6)
    qa = SqueezeBertForQuestionAnswering(SqueezeBertConfig(**TINY_SQUEEZEBERT))
    huge = np.array([2**64 - 1, 1], np.uint64)       # clamped to the length (ignored), not wrapped to -1 -> 0
    a = qa(IDS, start_positions=huge, end_positions=np.array([2, 1], np.uint64)).loss
    b = qa(IDS, start_positions=np.array([5, 1]), end_positions=np.array([2, 1])).loss
    assert a == pytest.approx(float(b), rel=1e-6)


def test_explicit_position_ids_do_not_skip_the_length_check():
    """A width of 20,000 with explicit position_ids would allocate gigabytes of attention scores: refused first."""
    model = SqueezeBertModel(SqueezeBertConfig(**TINY_SQUEEZEBERT), state_dict=SqueezeBertModel.BUILD_ONLY)
    ids = np.zeros((1, 20_000), np.int64)
    with pytest.raises(InvalidInputError, match="longer than max_position_embeddings"):
        model(ids, position_ids=np.zeros_like(ids))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert model(ids[:, :64], position_ids=np.zeros((1, 64), np.int64)).last_hidden_state.shape == (1, 64, 32)


def test_config_changed_after_construction_is_checked_before_building():
    """A size set on the config object afterwards (no validation on setattr) is still checked before any layer
    or array exists: 10**7 layers would hang building the layer list."""
    config = SqueezeBertConfig(**TINY_SQUEEZEBERT)
    config.num_hidden_layers = 10**7
    with pytest.raises(ConfigError, match="num_hidden_layers must be at most 1,024"):
        SqueezeBertForMaskedLM(config)


@pytest.mark.parametrize("dtype", ["bfloat16", "int8", "float64", "fp16", None, object(), ["float16"], np.array([1, 2])])
def test_save_pretrained_unsupported_dtype_is_our_error(tmp_path, dtype):
    """Was a plain ValueError (and a NumPy array made `in` itself fail): now CheckpointError naming the choices,
    before any file exists."""
    model = SqueezeBertModel(SqueezeBertConfig(**TINY_SQUEEZEBERT))
    with pytest.raises(CheckpointError, match="dtype must be 'float32' or 'float16'"):
        model.save_pretrained(tmp_path / "out", dtype=dtype)
    assert not (tmp_path / "out").exists()
    model.save_pretrained(tmp_path / "np", dtype=np.float16)          # a NumPy dtype is understood
    assert transformers.SqueezeBertModel.from_pretrained(tmp_path / "np").dtype == torch.float16


@pytest.mark.parametrize("state_dict", [[("embeddings.word_embeddings.weight", np.zeros((99, 32)))], {0: np.zeros(3)},
                                        "model.safetensors"])
def test_state_dict_that_is_not_one(state_dict):
    config = SqueezeBertConfig(**TINY_SQUEEZEBERT)
    with pytest.raises(CheckpointError, match="a state dict maps parameter names"):
        SqueezeBertModel.from_pretrained(None, config=config, state_dict=state_dict)


def test_ragged_multiple_choice_inputs_get_our_error():
    from squeezebert_np import SqueezeBertForMultipleChoice
    model = SqueezeBertForMultipleChoice(SqueezeBertConfig(**TINY_SQUEEZEBERT))
    with pytest.raises(InvalidInputError, match="input_ids must be a rectangular array"):
        model([[[2, 5, 3], [2, 3]]])
    with pytest.raises(InvalidInputError, match="attention_mask must be a rectangular array"):
        model([[[2, 5, 3], [2, 6, 3]]], attention_mask=[[[1, 1, 1], [1, 1]]])


def test_dtype_option_float32_or_refused(tmp_path):
    """transformers code passes dtype=torch.float32 or "auto": accepted (we compute in float32); float16 refused."""
    theirs = transformers_model("SqueezeBertForSequenceClassification", tmp_path)
    for dtype in ("auto", "float32", torch.float32, np.float32):
        model = SqueezeBertForSequenceClassification.from_pretrained(tmp_path, dtype=dtype)
        assert np.max(np.abs(logits_of(model) - logits_of(theirs))) < 1e-5
    assert SqueezeBertForSequenceClassification.from_pretrained(tmp_path, torch_dtype="float32").num_labels == 2
    for dtype in ("float16", torch.bfloat16, np.float64):
        with pytest.raises(ConfigError, match="float32 only"):
            SqueezeBertForSequenceClassification.from_pretrained(tmp_path, dtype=dtype)


def test_ignore_mismatched_vocab_size_as_transformers(tmp_path):
    """vocab_size changed: the word embeddings and the MLM bias are re-initialised (their tied decoder copies
    follow them and are not called missing), the same sets as transformers reports."""
    transformers_model("SqueezeBertForMaskedLM", tmp_path)
    _, theirs = transformers.SqueezeBertForMaskedLM.from_pretrained(
        tmp_path, vocab_size=120, ignore_mismatched_sizes=True, output_loading_info=True)
    with pytest.warns(UserWarning, match="another shape"):
        model, ours = SqueezeBertForMaskedLM.from_pretrained(tmp_path, vocab_size=120, ignore_mismatched_sizes=True,
                                                             output_loading_info=True)
    assert ours["missing_keys"] == theirs["missing_keys"] == set()
    assert ours["mismatched_keys"] == {(k, tuple(a), tuple(b)) for k, a, b in theirs["mismatched_keys"]}
    assert model.cls.predictions.decoder.weight is model.get_input_embeddings().weight
    assert model.get_input_embeddings().weight.shape == (120, 32) and logits_of(model).shape == (2, 5, 120)
