"""The converter: torch-saved checkpoints (zip, legacy, fp16) in, safetensors out, loaded by us and by transformers."""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import squeezebert_np
from squeezebert_np import CheckpointError, ConfigError, SqueezeBertConfig
from squeezebert_np.checkpoint.safetensors_io import load_safetensors
from squeezebert_np.convert import convert_checkpoint
from squeezebert_np.synthetic import synthetic_state_dict

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

SMALL = dict(vocab_size=40, hidden_size=16, embedding_size=16, num_hidden_layers=2, num_attention_heads=4,
             intermediate_size=32, max_position_embeddings=16, q_groups=2, k_groups=2, v_groups=4,
             post_attention_groups=1, intermediate_groups=4, output_groups=2)
IDS = np.array([[2, 5, 9, 11, 3]])


def torch_checkpoint(folder, legacy=False, half=False):
    torch.manual_seed(1)
    model = transformers.SqueezeBertForMaskedLM(transformers.SqueezeBertConfig(**SMALL)).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    model.config.save_pretrained(folder)
    sd = {k: (v.half() if half else v) for k, v in model.state_dict().items()}
    sd["transformer.embeddings.position_ids"] = torch.arange(16)[None]      # a 2020-era buffer: dropped
    sd["cls.seq_relationship.weight"] = torch.zeros(2, 16)                   # the SOP head: kept, unused
    torch.save(sd, os.path.join(folder, "pytorch_model.bin"), _use_new_zipfile_serialization=not legacy)
    (folder / "vocab.txt").write_text("".join(f"t{i}\n" for i in range(40)))
    if half:
        model = model.half().float()
    return model


@pytest.mark.parametrize("legacy,half", [(False, False), (True, True)])
def test_convert_folder(tmp_path, legacy, half):
    (tmp_path / "src").mkdir()
    theirs = torch_checkpoint(tmp_path / "src", legacy, half)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                     # every key is read or known: nothing to warn about
        out = convert_checkpoint(tmp_path / "src", tmp_path / "dst")
    saved = load_safetensors(os.path.join(out, "model.safetensors"))
    assert all(v.dtype == np.float32 for v in saved.values())
    assert "cls.predictions.decoder.weight" not in saved and not any(k.endswith("position_ids") for k in saved)
    assert np.array_equal(saved["cls.seq_relationship.weight"], np.zeros((2, 16), np.float32))
    assert (tmp_path / "dst" / "vocab.txt").read_text() == (tmp_path / "src" / "vocab.txt").read_text()
    with torch.no_grad():
        expected = theirs(torch.from_numpy(IDS)).logits.numpy()
    ours = squeezebert_np.SqueezeBertForMaskedLM.from_pretrained(out)
    assert np.max(np.abs(ours(IDS).logits - expected)) < 1e-5
    reloaded = transformers.SqueezeBertForMaskedLM.from_pretrained(out, dtype=torch.float32).eval()
    with torch.no_grad():
        assert np.max(np.abs(reloaded(torch.from_numpy(IDS)).logits.numpy() - expected)) < 1e-5


def test_convert_bin_file_to_float16_by_cli(tmp_path):
    (tmp_path / "src").mkdir()
    torch_checkpoint(tmp_path / "src")
    result = subprocess.run([sys.executable, "-m", "squeezebert_np.convert", str(tmp_path / "src" / "pytorch_model.bin"),
                             str(tmp_path / "dst"), "--dtype", "float16"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    saved = load_safetensors(tmp_path / "dst" / "model.safetensors")
    assert saved["transformer.embeddings.word_embeddings.weight"].dtype == np.float16
    assert (tmp_path / "dst" / "model.safetensors").stat().st_size < 0.6 * (tmp_path / "src" / "pytorch_model.bin").stat().st_size


def test_cli_errors_are_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    for args, message in [([str(tmp_path / "empty"), str(tmp_path / "out")], "no config.json"),
                          ([str(tmp_path / "missing"), str(tmp_path / "out")], "neither a checkpoint folder")]:
        result = subprocess.run([sys.executable, "-m", "squeezebert_np.convert", *args], capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 1 and message in result.stderr
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def bin_folder(folder, config, sd, **config_extra):
    """A folder with config.json and a torch-saved pytorch_model.bin of `sd`."""
    os.makedirs(folder, exist_ok=True)
    SqueezeBertConfig(**{**config, **config_extra}).save_pretrained(folder)
    torch.save({k: torch.from_numpy(np.array(v)) if isinstance(v, np.ndarray) else v for k, v in sd.items()},
               os.path.join(folder, "pytorch_model.bin"))
    return folder


def test_keys_no_model_reads_are_dropped_and_one_array_is_converted_once(tmp_path):
    """A pickle may name one non-contiguous tensor under many keys (a memo reference each, ~24 bytes): each key
    used to be copied in full. Only the keys the model reads are written now; the others are named in a warning."""
    sd = dict(synthetic_state_dict(SqueezeBertConfig(**SMALL), squeezebert_np.SqueezeBertModel))
    big = torch.randn(256, 256).t()                                         # 256 KiB, not contiguous
    sd.update({f"extra.{i}": big for i in range(200)})
    src = bin_folder(tmp_path / "src", SMALL, sd)
    assert os.path.getsize(src / "pytorch_model.bin") < 1_000_000
    dropped = r"200 checkpoint keys are not read by SqueezeBertModel.*extra\.0, .*and 180 more"
    with pytest.warns(UserWarning, match=dropped):
        convert_checkpoint(src, tmp_path / "dst")
    saved = load_safetensors(tmp_path / "dst" / "model.safetensors")
    assert set(saved) == set(sd) - {f"extra.{i}" for i in range(200)}
    assert os.path.getsize(tmp_path / "dst" / "model.safetensors") < 200_000


def test_head_tensors_are_shape_checked(tmp_path):
    """A 2-label classifier under a 3-label config used to convert and fail only at load."""
    config = SqueezeBertConfig(**SMALL)
    sd = synthetic_state_dict(config, squeezebert_np.SqueezeBertForSequenceClassification)
    src = bin_folder(tmp_path / "src", SMALL, sd, num_labels=3)
    with pytest.raises(CheckpointError, match=r"classifier\.weight.*\(2, 16\).*\(3, 16\)"):
        convert_checkpoint(src, tmp_path / "dst")
    assert not (tmp_path / "dst").exists()
    sd = synthetic_state_dict(config, squeezebert_np.SqueezeBertForMaskedLM)
    sd["cls.seq_relationship.bias"] = np.zeros(3)
    with pytest.raises(CheckpointError, match=r"cls\.seq_relationship\.bias.*\(3,\).*\(2,\)"):
        convert_checkpoint(bin_folder(tmp_path / "mlm", SMALL, sd), tmp_path / "dst")


def test_checkpoint_with_no_squeezebert_key_is_refused(tmp_path):
    """A DataParallel save ("module." prefix) matches no key: it used to convert "successfully" into nothing usable."""
    sd = synthetic_state_dict(SqueezeBertConfig(**SMALL), squeezebert_np.SqueezeBertForSequenceClassification)
    src = bin_folder(tmp_path / "src", SMALL, {"module." + k: v for k, v in sd.items()})
    with pytest.raises(CheckpointError, match="no key of the checkpoint is a SqueezeBERT weight.*module"):
        convert_checkpoint(src, tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


def test_heads_sharing_key_names_are_told_apart_by_shape(tmp_path):
    """Sequence, token and multiple-choice classifiers are all `classifier.*`: each is tried until one fits."""
    torch.manual_seed(2)
    theirs = transformers.SqueezeBertForMultipleChoice(transformers.SqueezeBertConfig(**SMALL)).eval()
    theirs.save_pretrained(tmp_path / "src")
    out = convert_checkpoint(tmp_path / "src", tmp_path / "dst")
    ours = squeezebert_np.SqueezeBertForMultipleChoice.from_pretrained(out)
    ids = np.stack([IDS, IDS[:, ::-1]], 1)                                  # [1, 2 choices, 5]
    with torch.no_grad():
        expected = theirs(torch.from_numpy(ids)).logits.numpy()
    assert ours.loading_info.missing_keys == [] and np.max(np.abs(ours(ids).logits - expected)) < 1e-5


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_config_json_says_the_dtype_written(tmp_path, dtype):
    """A v4 config's `torch_dtype` (here the other dtype) is replaced by `"dtype"` = what was written, as
    transformers 5.24 writes it; its from_pretrained (dtype="auto") then builds the model in that dtype."""
    other = "float16" if dtype == "float32" else "float32"
    config = SqueezeBertConfig(**SMALL)
    src = bin_folder(tmp_path / "src", SMALL, synthetic_state_dict(config), torch_dtype=other)
    convert_checkpoint(src, tmp_path / "dst", dtype)
    written = json.loads((tmp_path / "dst" / "config.json").read_text())
    assert written["dtype"] == dtype and "torch_dtype" not in written
    theirs = transformers.SqueezeBertForMaskedLM.from_pretrained(tmp_path / "dst")
    assert next(theirs.parameters()).dtype == getattr(torch, dtype)


def test_config_is_serialised_before_anything_is_written(tmp_path, monkeypatch):
    src = bin_folder(tmp_path / "src", SMALL, synthetic_state_dict(SqueezeBertConfig(**SMALL)))
    unsaveable = SqueezeBertConfig(**SMALL, my_note=object())
    monkeypatch.setattr(SqueezeBertConfig, "from_json_file", classmethod(lambda cls, path: unsaveable))
    with pytest.raises(ConfigError, match="my_note"):
        convert_checkpoint(src, tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


def test_a_failed_tokenizer_copy_leaves_no_partial_file(tmp_path, monkeypatch):
    """The tokenizer files are copied through a temporary file and os.replace, like the weights and config."""
    torch_checkpoint(tmp_path / "src")
    (tmp_path / "src" / "tokenizer.json").write_text("{}" * 100_000)

    def copy_half_then_fail(source, target, *args):
        target.write(source.read(1000))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("shutil.copyfileobj", copy_half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        convert_checkpoint(tmp_path / "src", tmp_path / "dst")
    assert sorted(os.listdir(tmp_path / "dst")) == ["config.json", "model.safetensors"]


@pytest.mark.parametrize("dtype", ["bfloat16", None, np.array([1, 2])])
def test_bad_dtypes_are_our_error(tmp_path, dtype):
    with pytest.raises(CheckpointError, match="--dtype must be float32 or float16"):
        convert_checkpoint(tmp_path, tmp_path / "dst", dtype)
