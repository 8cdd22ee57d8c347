"""from_pretrained / save_pretrained: key mapping, tying, missing and unexpected keys, shapes, and transformers interop.

The interop tests save with torch / transformers and load with us (and the other way round), then compare outputs
with transformers' on the same inputs.
"""
import json
import os
import warnings

import numpy as np
import pytest

import squeezebert_np
from squeezebert_np import (CheckpointError, ConfigError, SqueezeBertConfig, SqueezeBertForMaskedLM,
                            SqueezeBertForSequenceClassification, SqueezeBertModel)
from squeezebert_np.checkpoint.safetensors_io import load_safetensors, save_safetensors
from squeezebert_np.synthetic import synthetic_state_dict

SMALL = dict(vocab_size=60, hidden_size=16, embedding_size=16, num_hidden_layers=2, num_attention_heads=2,
             intermediate_size=32, max_position_embeddings=24, q_groups=2, k_groups=4, v_groups=1,
             post_attention_groups=2, intermediate_groups=4, output_groups=2)
CONFIG = SqueezeBertConfig(**SMALL)
IDS = np.array([[2, 5, 9, 11, 3], [2, 7, 8, 3, 0]])
MASK = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])


def save_dir(path, sd, config=CONFIG):
    os.makedirs(path, exist_ok=True)
    config.save_pretrained(path)
    save_safetensors({k: np.ascontiguousarray(v) for k, v in sd.items()}, os.path.join(path, "model.safetensors"))
    return path


# ---- key mapping ----

def test_base_checkpoint_into_head_and_head_into_base(tmp_path):
    mlm_sd = synthetic_state_dict(CONFIG, SqueezeBertForMaskedLM, seed=1)
    base_sd = {k[len("transformer."):]: v for k, v in mlm_sd.items() if k.startswith("transformer.")}
    base = SqueezeBertModel.from_pretrained(save_dir(tmp_path / "mlm", mlm_sd))            # prefix stripped
    with pytest.warns(UserWarning, match="6 weights were not in the checkpoint and were initialised randomly"):
        head, info = SqueezeBertForMaskedLM.from_pretrained(save_dir(tmp_path / "base", base_sd),
                                                            output_loading_info=True)      # prefix added
    ref = SqueezeBertModel(CONFIG, base_sd)(IDS, attention_mask=MASK).last_hidden_state
    assert np.array_equal(base(IDS, attention_mask=MASK).last_hidden_state, ref)
    assert np.array_equal(head.transformer(IDS, attention_mask=MASK).last_hidden_state, ref)
    assert info["missing_keys"] == {k for k in mlm_sd if k.startswith("cls.")} - {"cls.predictions.decoder.weight"}
    assert base.loading_info.files[0].endswith("model.safetensors")


def test_legacy_gamma_beta_and_ignored_keys():
    sd = synthetic_state_dict(CONFIG, SqueezeBertModel, seed=2)
    legacy = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
              .replace("layernorm.weight", "layernorm.gamma"): v for k, v in sd.items()}
    legacy["embeddings.position_ids"] = np.arange(24)[None]
    legacy["cls.seq_relationship.weight"] = np.zeros((2, 16), np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                        # nothing to warn about: all known, all used
        model = SqueezeBertModel(CONFIG, legacy)
    assert model.loading_info.missing_keys == [] and model.loading_info.unexpected_keys == []
    assert np.array_equal(model(IDS).last_hidden_state, SqueezeBertModel(CONFIG, sd)(IDS).last_hidden_state)


def test_missing_head_weights_initialised_and_named_in_one_warning():
    base_sd = synthetic_state_dict(CONFIG, SqueezeBertModel, seed=3)
    del base_sd["pooler.dense.weight"], base_sd["pooler.dense.bias"]      # as squeezebert-mnli-headless
    config = SqueezeBertConfig(**SMALL, num_labels=3)
    with pytest.warns(UserWarning) as record:
        model = SqueezeBertForSequenceClassification(config, {"transformer." + k: v for k, v in base_sd.items()})
    assert len(record) == 1
    message = str(record[0].message)
    for key in ("classifier.weight", "classifier.bias", "transformer.pooler.dense.weight"):
        assert key in message
    # initialised as transformers does: normal(0, initializer_range) weights, zero biases
    assert np.all(model.classifier.bias == 0) and 0.01 < model.classifier.weight.std() < 0.04
    assert model.classifier.weight.shape == (3, 16)


def test_unexpected_keys_are_reported():
    sd = synthetic_state_dict(CONFIG, SqueezeBertModel, seed=4)
    sd["encoder.layers.0.extra.weight"] = np.zeros(3, np.float32)
    model = SqueezeBertModel(CONFIG, sd)
    assert model.loading_info.unexpected_keys == ["encoder.layers.0.extra.weight"]


def test_shape_mismatch_names_key_and_shapes():
    sd = synthetic_state_dict(CONFIG, SqueezeBertModel, seed=5)
    sd["encoder.layers.1.attention.key.weight"] = np.zeros((16, 8, 1), np.float32)
    with pytest.raises(CheckpointError, match=r"encoder\.layers\.1\.attention\.key\.weight.*\(16, 8, 1\).*\(16, 4, 1\)"):
        SqueezeBertModel(CONFIG, sd)


def test_official_vocab_30528_checkpoint_needs_its_config():
    sd = synthetic_state_dict(SqueezeBertConfig(**{**SMALL, "vocab_size": 64}), SqueezeBertModel, seed=6)
    with pytest.raises(CheckpointError, match="word_embeddings.weight"):
        SqueezeBertModel(CONFIG, sd)


# ---- tying ----

def test_mlm_decoder_tied_when_absent_and_fp16_is_upcast():
    sd = synthetic_state_dict(CONFIG, SqueezeBertForMaskedLM, seed=7)
    stored = {k: v.astype(np.float16) for k, v in sd.items() if not k.startswith("cls.predictions.decoder")}
    model = SqueezeBertForMaskedLM(CONFIG, stored)
    dec = model.cls.predictions.decoder
    assert dec.weight is model.transformer.embeddings.word_embeddings.weight
    assert dec.bias is model.cls.predictions.bias
    assert dec.weight.dtype == np.float32
    assert np.array_equal(dec.weight, sd["transformer.embeddings.word_embeddings.weight"].astype(np.float16)
                          .astype(np.float32))           # fp16 -> fp32 is exact


def test_decoder_bias_only_fills_its_partner():
    sd = synthetic_state_dict(CONFIG, SqueezeBertForMaskedLM, seed=8)
    bias = sd.pop("cls.predictions.bias")
    model = SqueezeBertForMaskedLM(CONFIG, sd)
    assert np.array_equal(model.cls.predictions.bias, bias) and model.loading_info.missing_keys == []


def test_different_decoder_values_stay_untied():
    sd = synthetic_state_dict(CONFIG, SqueezeBertForMaskedLM, seed=9)
    sd["cls.predictions.decoder.weight"] = sd["cls.predictions.decoder.weight"] + 1
    with pytest.warns(UserWarning, match="left untied"):
        model = SqueezeBertForMaskedLM(CONFIG, sd)
    assert model.cls.predictions.decoder.weight is not model.transformer.embeddings.word_embeddings.weight
    assert np.array_equal(model.cls.predictions.decoder.weight, sd["cls.predictions.decoder.weight"])


# ---- load_state_dict on a built model ----

def test_load_state_dict_keeps_what_the_dict_lacks():
    """torch's strict=False: a partial dict replaces its keys only; the rest keep their values (not re-initialised)."""
    config = SqueezeBertConfig(**SMALL, num_labels=3)
    cls = SqueezeBertForSequenceClassification
    model = cls(config, synthetic_state_dict(config, cls))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    head = {"classifier.weight": np.full((3, 16), 0.1, np.float32), "classifier.bias": np.arange(3, dtype=np.float16)}
    with pytest.warns(UserWarning, match="keep their current values") as record:
        info = model.load_state_dict(head)
    assert len(record) == 1 and "transformer.pooler.dense.weight" in str(record[0].message)
    assert set(info.missing_keys) == set(before) - set(head) and info.unexpected_keys == []
    for key, value in model.state_dict().items():
        expected = head[key].astype(np.float32) if key in head else before[key]
        assert np.array_equal(value, expected) and value.dtype == np.float32, key


def test_load_state_dict_ties_and_strict():
    model = SqueezeBertForMaskedLM(CONFIG, synthetic_state_dict(CONFIG, SqueezeBertForMaskedLM, seed=12))
    word = "transformer.embeddings.word_embeddings.weight"
    new_rows = np.ones((60, 16), np.float32)
    with pytest.warns(UserWarning, match="keep their current values"):
        model.load_state_dict({word: new_rows})
    assert model.cls.predictions.decoder.weight is model.transformer.embeddings.word_embeddings.weight   # still tied
    assert np.array_equal(model.cls.predictions.decoder.weight, new_rows)

    full = synthetic_state_dict(CONFIG, SqueezeBertForMaskedLM, seed=13)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    partial = {k: v for k, v in full.items() if not k.startswith("cls.")}
    with pytest.raises(CheckpointError, match=r"strict=True.*missing keys: .*cls\.predictions\.bias"):
        model.load_state_dict(partial, strict=True)
    with pytest.raises(CheckpointError, match="unexpected keys: extra.weight"):
        model.load_state_dict({**full, "extra.weight": np.zeros(2, np.float32)}, strict=True)
    wrong = {**full, "transformer.pooler.dense.bias": np.zeros(3, np.float32)}
    with pytest.raises(CheckpointError, match="pooler.dense.bias"):            # checked before anything is set
        model.load_state_dict(wrong)
    assert all(np.array_equal(v, before[k]) for k, v in model.state_dict().items())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        info = model.load_state_dict(full, strict=True)      # the tied decoder copy is filled, not missing
    assert info.missing_keys == []
    assert np.array_equal(model.transformer.pooler.dense.bias, full["transformer.pooler.dense.bias"])


# ---- save_pretrained ----

def test_unsaveable_config_leaves_the_folder_as_it_was(tmp_path):
    """The config is serialised before any file is written: a value JSON cannot hold is a ConfigError naming it,
    and the previous save (weights and config) is untouched, with no temporary file left."""
    SqueezeBertModel(CONFIG).save_pretrained(tmp_path)
    before = {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)}
    bad = SqueezeBertModel(SqueezeBertConfig(**SMALL, my_note={1, 2}), seed=1)
    with pytest.raises(ConfigError, match="my_note"):
        bad.save_pretrained(tmp_path)
    assert {name: (tmp_path / name).read_bytes() for name in os.listdir(tmp_path)} == before

    numpy_valued = SqueezeBertModel(SqueezeBertConfig(**SMALL, max_length=np.int64(128)), seed=2)
    numpy_valued.save_pretrained(tmp_path)                     # a NumPy scalar is written as the number it holds
    assert json.loads((tmp_path / "config.json").read_text())["max_length"] == 128
    assert sorted(os.listdir(tmp_path)) == ["config.json", "model.safetensors"]
    reloaded = SqueezeBertModel.from_pretrained(tmp_path)
    assert np.array_equal(reloaded(IDS).last_hidden_state, numpy_valued(IDS).last_hidden_state)


def test_missing_directory_files(tmp_path):
    CONFIG.save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match="model.safetensors"):
        SqueezeBertModel.from_pretrained(tmp_path)
    with pytest.raises(OSError):
        SqueezeBertModel.from_pretrained(tmp_path / "nowhere")


# ---- transformers interop ----

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def torch_inputs():
    return dict(input_ids=torch.from_numpy(IDS), attention_mask=torch.from_numpy(MASK))


HEADS = ["SqueezeBertModel", "SqueezeBertForMaskedLM", "SqueezeBertForSequenceClassification",
         "SqueezeBertForMultipleChoice", "SqueezeBertForTokenClassification", "SqueezeBertForQuestionAnswering"]


def first_output(out):
    return (out.last_hidden_state if hasattr(out, "last_hidden_state") else
            out.start_logits if hasattr(out, "start_logits") else out.logits)


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("fmt", ["zip", "legacy", "safetensors"])
def test_load_what_transformers_saves(tmp_path, head, fmt):
    """transformers' save_pretrained (safetensors) and torch.save (zip and legacy .bin): same outputs as transformers."""
    torch.manual_seed(0)
    theirs = getattr(transformers, head)(transformers.SqueezeBertConfig(**SMALL)).eval()
    with torch.no_grad():
        for p in theirs.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    theirs.save_pretrained(tmp_path)                                        # config.json + model.safetensors
    if fmt != "safetensors":
        os.remove(tmp_path / "model.safetensors")
        torch.save(theirs.state_dict(), tmp_path / "pytorch_model.bin", _use_new_zipfile_serialization=fmt == "zip")
    ours = getattr(squeezebert_np, head).from_pretrained(tmp_path)
    assert ours.loading_info.missing_keys == []
    inputs = dict(input_ids=IDS, attention_mask=MASK)
    if head == "SqueezeBertForMultipleChoice":
        inputs = {k: np.stack([v, v[::-1]], 1) for k, v in inputs.items()}
    with torch.no_grad():
        expected = first_output(theirs(**{k: torch.from_numpy(v) for k, v in inputs.items()})).numpy()
    got = first_output(ours(**inputs))
    valid = inputs["attention_mask"].astype(bool) if got.shape[:2] == inputs["attention_mask"].shape else ...
    assert np.max(np.abs(got[valid] - expected[valid])) < 1e-5


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_transformers_loads_what_we_save(tmp_path, head, dtype):
    config = SqueezeBertConfig(**SMALL)
    cls = getattr(squeezebert_np, head)
    ours = cls(config, synthetic_state_dict(config, cls, seed=11))
    ours.save_pretrained(tmp_path, dtype=dtype)
    saved = load_safetensors(tmp_path / "model.safetensors")
    if head == "SqueezeBertForMaskedLM":          # tied copies are not written twice (as transformers v5)
        assert not any(k.startswith("cls.predictions.decoder") for k in saved)
    theirs, info = getattr(transformers, head).from_pretrained(tmp_path, output_loading_info=True,
                                                               dtype=torch.float32)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    inputs = dict(input_ids=IDS, attention_mask=MASK)
    if head == "SqueezeBertForMultipleChoice":
        inputs = {k: np.stack([v, v[::-1]], 1) for k, v in inputs.items()}
    reloaded = cls.from_pretrained(tmp_path)     # what we wrote, read back by us (fp16 rounding included)
    with torch.no_grad():
        expected = first_output(theirs.eval()(**{k: torch.from_numpy(v) for k, v in inputs.items()})).numpy()
    got = first_output(reloaded(**inputs))
    valid = inputs["attention_mask"].astype(bool) if got.shape[:2] == inputs["attention_mask"].shape else ...
    assert np.max(np.abs(got[valid] - expected[valid])) < 1e-5
    if dtype == "float32":
        assert np.array_equal(got, first_output(ours(**inputs)))


def test_load_state_dict_partial_matches_torch_strict_false():
    """The same partial dict loaded into the same model by torch (strict=False) and by us: the same logits."""
    config = SqueezeBertConfig(**SMALL, num_labels=3)
    sd = synthetic_state_dict(config, SqueezeBertForSequenceClassification, seed=14)
    ours = SqueezeBertForSequenceClassification(config, sd)
    theirs = transformers.SqueezeBertForSequenceClassification(transformers.SqueezeBertConfig(**SMALL, num_labels=3))
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()})
    head = {"classifier.weight": np.full((3, 16), 0.1, np.float32), "classifier.bias": np.arange(3, dtype=np.float32)}
    result = theirs.load_state_dict({k: torch.from_numpy(v) for k, v in head.items()}, strict=False)
    with pytest.warns(UserWarning):
        info = ours.load_state_dict(head)
    assert sorted(info.missing_keys) == sorted(result.missing_keys)
    with torch.no_grad():
        expected = theirs.eval()(**torch_inputs()).logits.numpy()
    assert np.max(np.abs(ours(IDS, attention_mask=MASK).logits - expected)) < 1e-5


@pytest.mark.parametrize("stale_key", ["dtype", "torch_dtype"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_config_json_says_the_dtype_written(tmp_path, stale_key, dtype):
    """A source config saying the other dtype (v5 "dtype" or v4 "torch_dtype") must not reach config.json:
    transformers' from_pretrained (dtype="auto") would build the model in it."""
    other = "float16" if dtype == "float32" else "float32"
    config = SqueezeBertConfig(**SMALL, **{stale_key: other})
    SqueezeBertForMaskedLM(config, synthetic_state_dict(config, seed=15)).save_pretrained(tmp_path, dtype=dtype)
    written = json.loads((tmp_path / "config.json").read_text())
    assert written["dtype"] == dtype and "torch_dtype" not in written
    theirs = transformers.SqueezeBertForMaskedLM.from_pretrained(tmp_path)
    assert next(theirs.parameters()).dtype == getattr(torch, dtype)
    # what transformers' own save_pretrained writes for a model whose config carried the same stale key
    reference = transformers.SqueezeBertForMaskedLM(transformers.SqueezeBertConfig(**SMALL, **{stale_key: other}))
    reference.to(getattr(torch, dtype)).save_pretrained(tmp_path / "theirs")
    theirs_written = json.loads((tmp_path / "theirs" / "config.json").read_text())
    assert theirs_written["dtype"] == dtype and "torch_dtype" not in theirs_written
