"""The converter: torch-saved checkpoints (zip, legacy, fp16) in, safetensors out, loaded by us and by transformers."""
import os
import subprocess
import sys

import numpy as np
import pytest

import squeezebert_np
from squeezebert_np.checkpoint.safetensors_io import load_safetensors
from squeezebert_np.convert import convert_checkpoint

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
    out = convert_checkpoint(tmp_path / "src", tmp_path / "dst")
    saved = load_safetensors(os.path.join(out, "model.safetensors"))
    assert all(v.dtype == np.float32 for v in saved.values())
    assert "cls.predictions.decoder.weight" not in saved and not any(k.endswith("position_ids") for k in saved)
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
