"""Finding and reading a checkpoint's weight files: the four layouts, the preference order, sharded indexes, the
hub path, and files that are not what their name says."""
import errno
import io
import json
import os

import numpy as np
import pytest
import safetensors.numpy
import torch

from fakehub import FakeHub
from tiny_models import TINY_SQUEEZEBERT
from squeezebert_np import hub
from squeezebert_np.checkpoint.files import WEIGHTS_FILES, load_weights, read_checkpoint_file, read_shard_index
from squeezebert_np.checkpoint.safetensors_io import load_safetensors, read_header, save_safetensors
from squeezebert_np.checkpoint.torch_bin import load_torch_bin
from squeezebert_np.errors import CheckpointError, CheckpointFileError

STATE = {"a.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "a.bias": np.ones(2, np.float32),
         "b.weight": np.full((3, 3), 2.0, np.float32)}


def torch_state(state):
    return {name: torch.from_numpy(array.copy()) for name, array in state.items()}


def assert_same(got, expected):
    assert sorted(got) == sorted(expected)
    for name in expected:
        assert np.array_equal(got[name], expected[name]) and got[name].dtype == expected[name].dtype, name


def write_sharded(folder, state, kind):
    """Two shards and an index, as transformers names them."""
    names = sorted(state)
    shards = {f"model-0000{i + 1}-of-00002.{kind}": {n: state[n] for n in names[i::2]} for i in range(2)}
    for shard, tensors in shards.items():
        if kind == "safetensors":
            save_safetensors(tensors, folder / shard, metadata={"format": "pt"})
        else:
            torch.save(torch_state(tensors), folder / shard)
    index = {"metadata": {"total_size": 0}, "weight_map": {n: s for s, t in shards.items() for n in t}}
    index_name = "model.safetensors.index.json" if kind == "safetensors" else "pytorch_model.bin.index.json"
    (folder / index_name).write_text(json.dumps(index))
    return folder / index_name


# ---- the four layouts ----

@pytest.mark.parametrize("layout", ["safetensors", "zip", "legacy"])
def test_single_file_layouts(tmp_path, layout):
    if layout == "safetensors":
        save_safetensors(STATE, tmp_path / "model.safetensors")
        name = "model.safetensors"
    else:
        torch.save(torch_state(STATE), tmp_path / "pytorch_model.bin",
                   _use_new_zipfile_serialization=(layout == "zip"))
        name = "pytorch_model.bin"
    state, paths = load_weights(tmp_path)
    assert_same(state, STATE)
    assert paths == [str(tmp_path / name)]


@pytest.mark.parametrize("kind", ["safetensors", "bin"])
def test_sharded_layouts(tmp_path, kind):
    index = write_sharded(tmp_path, STATE, kind)
    state, paths = load_weights(tmp_path)
    assert_same(state, STATE)
    assert paths == [str(index), *(str(tmp_path / f"model-0000{i}-of-00002.{kind}") for i in (1, 2))]


def test_transformers_sharded_save_pretrained(tmp_path):
    """What transformers itself writes for a sharded model loads, key for key (v5 drops the tied decoder)."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.SqueezeBertConfig(**TINY_SQUEEZEBERT)
    model = transformers.SqueezeBertForMaskedLM(config)
    model.save_pretrained(tmp_path, max_shard_size="20KB")
    assert (tmp_path / "model.safetensors.index.json").exists()
    state, paths = load_weights(tmp_path)
    expected = {name: t.detach().numpy() for name, t in model.state_dict().items()
                if not name.startswith("cls.predictions.decoder.")}
    assert_same(state, expected)
    assert len(paths) > 2


# ---- preference order ----

def test_safetensors_is_preferred_over_bin(tmp_path):
    save_safetensors({"w": np.ones(2, np.float32)}, tmp_path / "model.safetensors")
    torch.save({"w": torch.zeros(2)}, tmp_path / "pytorch_model.bin")
    state, paths = load_weights(tmp_path)
    assert state["w"].tolist() == [1.0, 1.0] and paths == [str(tmp_path / "model.safetensors")]


def test_sharded_safetensors_is_preferred_over_a_single_bin(tmp_path):
    write_sharded(tmp_path, STATE, "safetensors")
    torch.save({"w": torch.zeros(2)}, tmp_path / "pytorch_model.bin")
    state, paths = load_weights(tmp_path)
    assert_same(state, STATE)
    assert paths[0].endswith("model.safetensors.index.json")


def test_single_bin_is_preferred_over_a_sharded_bin(tmp_path):
    write_sharded(tmp_path, STATE, "bin")
    torch.save({"w": torch.zeros(2)}, tmp_path / "pytorch_model.bin")
    state, _ = load_weights(tmp_path)
    assert list(state) == ["w"]


def test_a_folder_without_weights(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError) as raised:
        load_weights(tmp_path)
    assert str(tmp_path) in str(raised.value)
    assert all(name in str(raised.value) for name in WEIGHTS_FILES)


# ---- the hub path ----

def test_repo_ids_go_through_hub_cached_file(tmp_path, monkeypatch):
    """Every name is asked for with missing_ok=True and the caller's revision, cache, token and offline flag."""
    save_safetensors(STATE, tmp_path / "model.safetensors")
    calls = []

    def fake_cached_file(repo_id, filename, **kwargs):
        calls.append((repo_id, filename, kwargs))
        path = tmp_path / filename
        return str(path) if path.exists() else None

    monkeypatch.setattr(hub, "cached_file", fake_cached_file)
    state, paths = load_weights("squeezebert/squeezebert-uncased", revision="refs/pr/1", cache_dir="/c",
                                local_files_only=True, token="t")
    assert_same(state, STATE)
    assert calls == [("squeezebert/squeezebert-uncased", "model.safetensors",
                      {"revision": "refs/pr/1", "cache_dir": "/c", "local_files_only": True, "token": "t",
                       "missing_ok": True})]


def torch_bytes(state):
    buffer = io.BytesIO()
    torch.save(torch_state(state), buffer)
    return buffer.getvalue()


def test_through_the_fake_hub(tmp_path, monkeypatch):
    """Real downloads into the cache: a .bin-only main, a safetensors PR (like SFconvertbot's), a sharded repo."""
    bin_state = {"w": np.zeros(3, np.float32)}
    bin_file = torch_bytes(bin_state)
    safe_file = safetensors.numpy.save(STATE, metadata={"format": "pt"})
    names = sorted(STATE)
    shards = {f"model-0000{i + 1}-of-00002.safetensors": {n: STATE[n] for n in names[i::2]} for i in range(2)}
    sharded = {shard: safetensors.numpy.save(tensors) for shard, tensors in shards.items()}
    index = {"weight_map": {n: shard for shard, tensors in shards.items() for n in tensors}}
    sharded["model.safetensors.index.json"] = json.dumps(index).encode()
    repos = {"squeezebert/squeezebert-mnli": {"main": {"config.json": b"{}", "pytorch_model.bin": bin_file},
                                              "refs/pr/1": {"pytorch_model.bin": bin_file,
                                                            "model.safetensors": safe_file}},
             "org/sharded": {"main": sharded}, "org/empty": {"main": {"config.json": b"{}"}}}
    with FakeHub(repos=repos) as fake:
        for name in list(os.environ):
            if name.startswith(("HF_", "HUGGING_FACE_", "HUGGINGFACE_")) or name == "TRANSFORMERS_OFFLINE":
                monkeypatch.delenv(name)
        for name, value in fake.env_vars(tmp_path / "cache").items():
            monkeypatch.setenv(name, value)
        state, paths = load_weights("squeezebert/squeezebert-mnli")
        assert_same(state, bin_state) and paths[0].endswith("pytorch_model.bin")
        state, paths = load_weights("squeezebert/squeezebert-mnli", revision="refs/pr/1")
        assert_same(state, STATE) and paths[0].endswith("model.safetensors")
        state, paths = load_weights("org/sharded")
        assert_same(state, STATE) and len(paths) == 3
        with pytest.raises(CheckpointError, match="no weights in org/empty"):
            load_weights("org/empty")
    state, _ = load_weights("squeezebert/squeezebert-mnli", local_files_only=True)  # offline, from the cache
    assert_same(state, bin_state)


def test_missing_repo_files_are_looked_for_in_order(monkeypatch):
    asked = []
    monkeypatch.setattr(hub, "cached_file", lambda repo, filename, **kwargs: asked.append(filename))
    with pytest.raises(CheckpointError, match="no weights in some/repo"):
        load_weights("some/repo")
    assert asked == list(WEIGHTS_FILES)


# ---- sharded indexes that lie ----

@pytest.mark.parametrize("index,message", [
    ("not json", "not a valid JSON index"),
    ("[]", "needs a non-empty 'weight_map'"),
    ('{"weight_map": {}}', "needs a non-empty 'weight_map'"),
    ('{"weight_map": {"w": "../../etc/passwd"}}', "must be a file name in the same folder"),
    ('{"weight_map": {"w": "/abs/model.safetensors"}}', "must be a file name in the same folder"),
    ('{"weight_map": {"w": ".."}}', "must be a file name in the same folder"),
    ('{"weight_map": {"w": 3}}', "must be a file name in the same folder"),
    ('{"weight_map": {"w": "missing.safetensors"}}', "lists the shard missing.safetensors, which is missing"),
    pytest.param('{"weight_map": {"w": "a"}, "x": [' + "[]," * 2000 + '[]]}',
                 "the index holds 2004 JSON objects/arrays", id="2004 containers"),
    pytest.param('{"weight_map": {' + ",".join(f'"w{i}": "a"' for i in range(101_002)) + '}}',
                 "and 101001 commas", id="101001 commas"),
])
def test_bad_indexes(tmp_path, index, message):
    (tmp_path / "model.safetensors.index.json").write_text(index)
    with pytest.raises(CheckpointError, match=message):
        load_weights(tmp_path)


def test_index_and_shards_must_agree(tmp_path):
    index = write_sharded(tmp_path, STATE, "safetensors")
    content = json.loads(index.read_text())
    content["weight_map"]["a.bias"] = "model-00002-of-00002.safetensors"  # it is really in shard 1
    index.write_text(json.dumps(content))
    with pytest.raises(CheckpointError, match="holds 'a.bias', which the index puts in model-00002"):
        load_weights(tmp_path)
    content["weight_map"] = {"a.bias": "model-00001-of-00002.safetensors", "extra": content["weight_map"]["b.weight"]}
    index.write_text(json.dumps(content))
    with pytest.raises(CheckpointError, match="index puts in no shard"):
        load_weights(tmp_path)


def test_index_key_in_no_shard(tmp_path):
    index = write_sharded(tmp_path, STATE, "safetensors")
    content = json.loads(index.read_text())
    content["weight_map"]["ghost"] = "model-00001-of-00002.safetensors"
    index.write_text(json.dumps(content))
    with pytest.raises(CheckpointError, match="in no shard, e.g. 'ghost'"):
        load_weights(tmp_path)


# ---- single files, by content ----

def test_files_are_read_by_content_not_name(tmp_path):
    safetensors.numpy.save_file({"w": np.ones(2, np.float32)}, tmp_path / "really_safetensors.bin")
    torch.save({"w": torch.zeros(2)}, tmp_path / "really_torch.safetensors")
    assert read_checkpoint_file(tmp_path / "really_safetensors.bin")["w"].tolist() == [1.0, 1.0]
    assert read_checkpoint_file(tmp_path / "really_torch.safetensors")["w"].tolist() == [0.0, 0.0]


def test_a_single_file_path(tmp_path):
    torch.save({"w": torch.ones(3)}, tmp_path / "weights.pt")
    state, paths = load_weights(tmp_path / "weights.pt")
    assert state["w"].tolist() == [1.0, 1.0, 1.0] and paths == [str(tmp_path / "weights.pt")]


@pytest.mark.parametrize("name", ["model.safetensors", "pytorch_model.bin"])
@pytest.mark.parametrize("content,message", [
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:1b28\nsize 204\n", "Git LFS pointer"),
    (b"<!DOCTYPE html><html><title>404</title></html>", "HTML"),
])
def test_weights_files_that_are_not_weights(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_weights(tmp_path)


READERS = {"read_checkpoint_file": read_checkpoint_file, "load_safetensors": load_safetensors,
           "read_header": read_header, "load_torch_bin": load_torch_bin, "read_shard_index": read_shard_index}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("make", ["missing", "folder", "fifo"])
def test_a_path_that_is_no_file_is_our_os_error_naming_it(tmp_path, make, reader):
    """Missing, a folder, or a FIFO (open() would block until a writer came): CheckpointFileError, an OSError
    with the operating system's errno where there is one, from every reader."""
    path = tmp_path / "model.safetensors"
    if make == "folder":
        path.mkdir()
    elif make == "fifo":
        os.mkfifo(path)
    with pytest.raises(CheckpointFileError, match=str(path)) as raised:
        READERS[reader](path)
    assert isinstance(raised.value, OSError) and isinstance(raised.value, CheckpointError)
    if make == "missing":
        assert raised.value.errno == errno.ENOENT
