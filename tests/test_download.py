"""`python -m squeezebert_np.download` in a subprocess, against the fake hub (tests/fakehub.py)."""
import json
import os
import subprocess
import sys

import pytest

from fakehub import FakeHub
from squeezebert_np import hub

REPO = "squeezebert/squeezebert-uncased"
FILES = {"config.json": b'{"model_type": "squeezebert"}', "vocab.txt": b"[PAD]\n[UNK]\n",
         "pytorch_model.bin": b"\0" * 5000}


@pytest.fixture
def fake_hub():
    with FakeHub(repos={REPO: {"main": FILES, "refs/pr/1": {**FILES, "model.safetensors": b"st"}},
                        "org/gated": {"main": FILES}}, gated={"org/gated": "hf_gated"}) as fake:
        yield fake


def download(fake_hub, cache, *args, **env):
    return subprocess.run([sys.executable, "-m", "squeezebert_np.download", *args], capture_output=True, text=True,
                          env=fake_hub.environ(cache, **env), timeout=60)


def assert_one_line_error(result, pattern):
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr and pattern in result.stderr


def test_download_prints_the_snapshot_folder(fake_hub, tmp_path):
    result = download(fake_hub, tmp_path / "cache", REPO)
    assert result.returncode == 0, result.stderr
    folder = result.stdout.strip()
    assert folder == str(tmp_path / "cache" / hub.repo_folder_name(REPO) / "snapshots" / fake_hub.commit(REPO))
    assert sorted(os.listdir(folder)) == sorted(FILES)
    assert "is in the cache" in result.stderr


def test_revision_cache_dir_and_quiet(fake_hub, tmp_path):
    result = download(fake_hub, tmp_path / "cache", REPO, "--revision", "refs/pr/1", "--cache-dir",
                      str(tmp_path / "other"), "--quiet")
    assert result.returncode == 0 and result.stderr == ""
    assert os.path.isfile(os.path.join(result.stdout.strip(), "model.safetensors"))
    assert result.stdout.startswith(str(tmp_path / "other")) and not (tmp_path / "cache").exists()


def test_offline_after_a_download(fake_hub, tmp_path):
    first = download(fake_hub, tmp_path / "cache", REPO, "--quiet").stdout
    fake_hub.clear_log()
    again = download(fake_hub, tmp_path / "cache", REPO, "--quiet", HF_HUB_OFFLINE="1")
    assert again.returncode == 0 and again.stdout == first and fake_hub.log == []


def test_token_for_a_gated_repo(fake_hub, tmp_path):
    assert_one_line_error(download(fake_hub, tmp_path / "cache", "org/gated"), "accept its conditions")
    assert download(fake_hub, tmp_path / "cache", "org/gated", "--token", "hf_gated").returncode == 0
    assert download(fake_hub, tmp_path / "c2", "org/gated", HF_TOKEN="hf_gated").returncode == 0


@pytest.mark.parametrize("args, env, message", [
    (["squeezebert/nope"], {}, "not found"),
    ([REPO, "--revision", "v9"], {}, "revision 'v9' not found"),
    ([REPO], {"HF_HUB_OFFLINE": "1"}, "no snapshot"),
    (["../not-a-repo"], {}, "not a valid hub repo id"),
])
def test_errors_are_one_line(fake_hub, tmp_path, args, env, message):
    assert_one_line_error(download(fake_hub, tmp_path / "cache", *args, **env), message)


def test_help_has_examples(fake_hub, tmp_path):
    result = download(fake_hub, tmp_path, "--help")
    assert result.returncode == 0 and "examples:" in result.stdout and "--to DIR" in result.stdout


def test_to_writes_a_converted_checkpoint(tmp_path):
    """A tiny random SqueezeBERT shaped like the official repos (config.json, pytorch_model.bin, vocab.txt), served
    by the fake hub, converted by --to."""
    pytest.importorskip("squeezebert_np.convert")
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    config = transformers.SqueezeBertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2,
                                            num_attention_heads=4, intermediate_size=64, embedding_size=32,
                                            q_groups=2, k_groups=2, v_groups=2, post_attention_groups=2,
                                            intermediate_groups=4, output_groups=1, max_position_embeddings=64)
    torch.manual_seed(0)
    config.save_pretrained(tmp_path / "src")
    torch.save(transformers.SqueezeBertForMaskedLM(config).state_dict(), tmp_path / "src" / "pytorch_model.bin")
    vocab = "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(94)]) + "\n"
    (tmp_path / "src" / "vocab.txt").write_text(vocab)
    files = {name: (tmp_path / "src" / name).read_bytes() for name in os.listdir(tmp_path / "src")}

    with FakeHub(repos={REPO: {"main": files}}) as fake:
        result = download(fake, tmp_path / "cache", REPO, "--to", str(tmp_path / "weights" / "tiny"), "--quiet")
    assert result.returncode == 0, result.stderr
    snapshot, converted = result.stdout.split()
    assert converted == str(tmp_path / "weights" / "tiny")
    assert {"config.json", "model.safetensors", "vocab.txt"} <= set(os.listdir(converted))
    assert json.loads((tmp_path / "weights" / "tiny" / "config.json").read_text())["hidden_size"] == 32
