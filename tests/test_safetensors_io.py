"""Our safetensors reader and writer against the `safetensors` library (numpy and torch flavours), both ways, and
against headers that lie (TORCH_BIN.md §9)."""
import json
import mmap
import os
import stat
import struct
import time
import tracemalloc
import uuid

import numpy as np
import pytest
import safetensors.numpy
import safetensors.torch
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from squeezebert_np.checkpoint import safetensors_io
from squeezebert_np.checkpoint.safetensors_io import load_safetensors, read_header, save_safetensors
from squeezebert_np.errors import CheckpointError


def numpy_tensors():
    """One of every dtype NumPy and safetensors share, plus 0-dim, empty and special floats."""
    return {
        "f32": np.arange(12, dtype=np.float32).reshape(3, 4),
        "f16": np.linspace(-2, 2, 5).astype(np.float16),
        "f64": np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324]),
        "i64": np.arange(512, dtype=np.int64).reshape(1, 512),
        "i32": np.array([-(2 ** 31), 2 ** 31 - 1], dtype=np.int32),
        "i16": np.array([-7, 7], dtype=np.int16),
        "i8": np.array([-128, 127], dtype=np.int8),
        "u64": np.array([2 ** 64 - 1], dtype=np.uint64),
        "u32": np.array([2 ** 32 - 1], dtype=np.uint32),
        "u16": np.array([65535], dtype=np.uint16),
        "u8": np.array([0, 255], dtype=np.uint8),
        "bool": np.array([True, False]),
        "scalar": np.array(2.5, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }


def assert_byte_equal(got, expected):
    assert sorted(got) == sorted(expected)
    for name, want in expected.items():
        assert got[name].dtype == want.dtype and got[name].shape == want.shape, name
        assert got[name].tobytes() == want.tobytes(), name


def mapped_base(array):
    """The object at the end of an array's `.base` chain."""
    while isinstance(array, np.ndarray) and array.base is not None:
        array = array.base
    return array.obj if isinstance(array, memoryview) else array


# ---- reading what the library writes ----

def test_reads_safetensors_numpy_files(tmp_path):
    path = tmp_path / "model.safetensors"
    safetensors.numpy.save_file(numpy_tensors(), path, metadata={"format": "np"})
    got = load_safetensors(path)
    assert_byte_equal(got, safetensors.numpy.load_file(path))
    assert list(got) == list(read_header(path)[0])  # the header's order


def test_reads_safetensors_torch_files_with_bf16(tmp_path):
    tensors = {"w": torch.randn(4, 3), "h": torch.randn(5).half(),
               "b": torch.tensor([1.0, -2.5, float("nan"), -0.0, 3e38]).bfloat16(), "i": torch.arange(3)}
    path = tmp_path / "model.safetensors"
    safetensors.torch.save_file(tensors, path, metadata={"format": "pt"})
    got = load_safetensors(path)
    expected = {name: (t.float() if t.dtype == torch.bfloat16 else t).numpy() for name, t in tensors.items()}
    assert_byte_equal(got, expected)
    assert got["b"].dtype == np.float32  # numpy has no bfloat16: widened exactly


def test_arrays_are_read_only_zero_copy_views_of_the_mapped_file(tmp_path):
    path = tmp_path / "model.safetensors"
    safetensors.numpy.save_file(numpy_tensors(), path)
    before = path.read_bytes()
    got = load_safetensors(path)
    for name, array in got.items():
        assert not array.flags.writeable, name
    assert isinstance(mapped_base(got["f32"]), mmap.mmap)
    with pytest.raises(ValueError, match="read-only"):
        got["f32"][0, 0] = 1.0
    assert path.read_bytes() == before


def test_reads_without_mmap(tmp_path, monkeypatch):
    """Where mapping fails (some network file systems), the file is read into memory instead."""
    path = tmp_path / "model.safetensors"
    safetensors.numpy.save_file(numpy_tensors(), path)

    def no_mmap(*args, **kwargs):
        raise OSError("mmap not supported")

    monkeypatch.setattr(safetensors_io.mmap, "mmap", no_mmap)
    got = load_safetensors(path)
    assert_byte_equal(got, numpy_tensors())
    assert not got["f32"].flags.writeable


# ---- writing what the library reads ----

def test_written_bytes_equal_the_library(tmp_path):
    path = tmp_path / "model.safetensors"
    save_safetensors(numpy_tensors(), path, metadata={"format": "pt"})
    assert path.read_bytes() == safetensors.numpy.save(numpy_tensors(), metadata={"format": "pt"})
    assert_byte_equal(safetensors.numpy.load_file(path), numpy_tensors())
    with safetensors.safe_open(path, framework="pt") as file:
        assert file.metadata() == {"format": "pt"}
        assert torch.equal(file.get_tensor("i64"), torch.arange(512).reshape(1, 512))


def test_round_trip_keeps_metadata_and_values(tmp_path):
    path = tmp_path / "model.safetensors"
    metadata = {"format": "pt", "note": "ünïcode ✓", "empty": ""}
    save_safetensors(numpy_tensors(), path, metadata=metadata)
    assert read_header(path)[1] == metadata
    assert_byte_equal(load_safetensors(path), numpy_tensors())


def test_writes_views_big_endian_and_non_contiguous_arrays(tmp_path):
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    tensors = {"t": base.T, "step": base[:, ::2], "big": base.astype(">f4"), "row": base[1]}
    path = tmp_path / "views.safetensors"
    save_safetensors(tensors, path)
    got = load_safetensors(path)
    for name, array in tensors.items():
        assert np.array_equal(got[name], array) and got[name].dtype == np.float32, name


def test_saving_over_the_file_being_read(tmp_path):
    """`os.replace` gives the new file a new inode: arrays still mapping the old one stay valid."""
    path = tmp_path / "model.safetensors"
    save_safetensors({"w": np.arange(4.0)}, path)
    old = load_safetensors(path)
    save_safetensors({"w": old["w"] * 2, "v": old["w"]}, path)
    assert old["w"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert load_safetensors(path)["w"].tolist() == [0.0, 2.0, 4.0, 6.0]


def test_the_file_mode_is_that_of_an_ordinary_open(tmp_path):
    path = tmp_path / "model.safetensors"
    save_safetensors({"w": np.ones(2)}, path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_a_failed_write_leaves_no_file_and_the_old_one_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    save_safetensors({"w": np.ones(2)}, path)
    before = path.read_bytes()

    def disk_full(descriptor):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors_io.os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        save_safetensors({"w": np.zeros(1000)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.safetensors"]


@pytest.mark.parametrize("tensors,metadata,message", [
    ([np.ones(1)], None, "must be a dict"),
    ({1: np.ones(1)}, None, "names must be strings"),
    ({"__metadata__": np.ones(1)}, None, "names must be strings other than"),
    ({"w": [1.0, 2.0]}, None, "expected np.ndarray"),
    ({"w": np.ones(1, dtype=np.complex64)}, None, "no safetensors equivalent"),
    ({"w": np.array(["a"])}, None, "no safetensors equivalent"),
    ({"w": np.ones(1)}, {"format": 1}, "metadata must map strings to strings"),
    ({"w": np.ones(1)}, ["format"], "metadata must map strings to strings"),
    ({"\ud800": np.ones(1)}, None, "not valid Unicode"),
])
def test_bad_input_to_save_is_refused_before_any_file_exists(tmp_path, tensors, metadata, message):
    with pytest.raises(CheckpointError, match=message):
        save_safetensors(tensors, tmp_path / "model.safetensors", metadata=metadata)
    assert os.listdir(tmp_path) == []


ARRAYS = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float16, np.float64, np.int64, np.int32, np.int16, np.int8,
                           np.uint64, np.uint32, np.uint16, np.uint8, np.bool_]),
    shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tensors=st.dictionaries(st.text(min_size=1, max_size=8), ARRAYS, max_size=5))
def test_random_dicts_match_the_library_byte_for_byte(tmp_path, tensors):
    path = tmp_path / f"{uuid.uuid4().hex}.safetensors"
    save_safetensors(tensors, path, metadata={"format": "pt"})
    assert path.read_bytes() == safetensors.numpy.save(tensors, metadata={"format": "pt"})
    assert_byte_equal(load_safetensors(path), tensors)


# ---- headers that lie ----

def write_raw(path, header, data=b"", length=None):
    """A safetensors file from a header (a dict, or raw bytes) and a data section, with an optional fake length."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


F32_4 = {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}


@pytest.mark.parametrize("header,data,length,message", [
    ({"w": F32_4}, bytes(16), 2 ** 60, "header length 1152921504606846976 is over the 100000000-byte limit"),
    ({"w": F32_4}, bytes(16), 5000, "header length 5000 runs past the end"),
    (b"\xff\xfe{}", b"", None, "not UTF-8"),
    (b"{not json}", b"", None, "not valid JSON"),
    (b"[1, 2]", b"", None, "not a JSON object"),
    (b'{"w": 1, "w": 2}', b"", None, "duplicate key"),
    (b'{"w": NaN}', b"", None, "not valid JSON"),
    (b"{" + b'"a":[' * 100_000 + b"}", b"", None, "not valid JSON"),
    ({"w": 5}, b"", None, "must have dtype, shape and data_offsets"),
    ({"w": {"dtype": "F32", "shape": [4]}}, bytes(16), None, "must have dtype, shape and data_offsets"),
    ({"w": {**F32_4, "dtype": "F8_E4M3"}}, bytes(16), None, "unknown or unsupported dtype 'F8_E4M3'"),
    ({"w": {**F32_4, "dtype": "f32"}}, bytes(16), None, "unknown or unsupported dtype"),
    ({"w": {**F32_4, "shape": [-4]}}, bytes(16), None, "shape must be a list"),
    ({"w": {**F32_4, "shape": [4.0]}}, bytes(16), None, "shape must be a list"),
    ({"w": {**F32_4, "shape": [True]}}, bytes(16), None, "shape must be a list"),
    ({"w": {**F32_4, "shape": [1] * 33}}, bytes(16), None, "at most 32"),
    ({"w": {**F32_4, "shape": [5]}}, bytes(16), None, r"shape \[5\] of F32 needs 20 bytes but data_offsets"),
    ({"w": {**F32_4, "shape": [2 ** 40, 2 ** 40]}}, bytes(16), None, "needs"),
    ({"w": {"dtype": "F32", "shape": [0, 2 ** 62], "data_offsets": [0, 0]}}, b"", None, "too large for NumPy"),
    ({"w": {**F32_4, "data_offsets": [16, 0]}}, bytes(16), None, "0 <= begin <= end"),
    ({"w": {**F32_4, "data_offsets": [-16, 0]}}, bytes(16), None, "0 <= begin <= end"),
    ({"w": {**F32_4, "data_offsets": [0, 16, 32]}}, bytes(16), None, "data_offsets must be"),
    ({"w": F32_4}, bytes(8), None, "ends at byte 16 of a data section of 8 bytes"),
    ({"w": F32_4, "v": {**F32_4, "data_offsets": [8, 24]}}, bytes(24), None, "overlap"),
    ({"w": F32_4, "v": F32_4}, bytes(16), None, "overlap"),
    ({"w": {**F32_4, "data_offsets": [4, 20]}}, bytes(20), None, "a gap of 4 bytes"),
    ({"w": F32_4}, bytes(20), None, "4 bytes after the last tensor"),
    ({"__metadata__": {"format": 1}, "w": F32_4}, bytes(16), None, "__metadata__ must map strings to strings"),
    ({"__metadata__": {"a": {"b": "c"}}, "w": F32_4}, bytes(16), None, "__metadata__ must map strings"),
    ({"__metadata__": "pt", "w": F32_4}, bytes(16), None, "__metadata__ must map strings"),
    ({"w": {**F32_4, "dtype": ["F32"]}}, bytes(16), None, r"unknown or unsupported dtype \['F32'\]"),
    ({"w": {**F32_4, "dtype": {"F32": 1}}}, bytes(16), None, "unknown or unsupported dtype"),
    ({"w": {**F32_4, "dtype": None}}, bytes(16), None, "unknown or unsupported dtype None"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_lying_headers_are_refused(tmp_path, header, data, length, message):
    path = write_raw(tmp_path / "bad.safetensors", header, data, length)
    with pytest.raises(CheckpointError, match=message) as raised:
        load_safetensors(path)
    assert str(path) in str(raised.value)


@pytest.mark.parametrize("content,message", [
    (b"", "0 bytes is too short"),
    (b"\x05\x00", "too short"),
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 3\n", "first bytes b'version https:"),
])
def test_not_safetensors_at_all(tmp_path, content, message):
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_safetensors(path)


def test_whitespace_around_the_header_is_json(tmp_path):
    """The library pads headers with trailing spaces, and reads leading ones: so do we."""
    path = write_raw(tmp_path / "spaces.safetensors", b"  " + json.dumps({"w": F32_4}).encode() + b"    ", bytes(16))
    assert load_safetensors(path)["w"].tolist() == [0.0] * 4
    assert safetensors.numpy.load_file(path)["w"].tolist() == [0.0] * 4


def test_empty_and_zero_size_tensors(tmp_path):
    """Zero-size tensors may share an offset; a file may hold no tensors at all."""
    path = write_raw(tmp_path / "z.safetensors", {"a": {"dtype": "F32", "shape": [0, 3], "data_offsets": [0, 0]},
                                                  "b": {"dtype": "I64", "shape": [0], "data_offsets": [0, 0]}})
    got = load_safetensors(path)
    assert got["a"].shape == (0, 3) and got["b"].dtype == np.int64
    assert load_safetensors(write_raw(tmp_path / "none.safetensors", {})) == {}


def test_truncated_files_are_refused_at_many_cuts(tmp_path):
    """Every cut in the length field and the header, then every 13th byte of the data, and the last 40."""
    whole = safetensors.numpy.save(numpy_tensors())
    data_start = 8 + struct.unpack("<Q", whole[:8])[0]
    cuts = {*range(data_start), *range(data_start, len(whole), 13), *range(len(whole) - 40, len(whole))}
    for cut in sorted(cuts):
        path = tmp_path / f"cut{cut}.safetensors"
        path.write_bytes(whole[:cut])
        with pytest.raises(CheckpointError):
            load_safetensors(path)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_corruption_gives_checkpoint_error_or_arrays(tmp_path, data):
    """Flip 1-3 bytes anywhere: CheckpointError, or a dict of arrays (the format has no checksum, so a flipped
    data byte, or F32 -> I32 in the header, loads as different numbers); never any other exception."""
    whole = bytearray(safetensors.numpy.save({"w": np.arange(6, dtype=np.float32).reshape(2, 3),
                                              "h": np.ones(3, np.float16)}, metadata={"format": "pt"}))
    for _ in range(data.draw(st.integers(1, 3))):
        whole[data.draw(st.integers(0, len(whole) - 1))] ^= data.draw(st.integers(1, 255))
    path = tmp_path / f"{uuid.uuid4().hex}.safetensors"
    path.write_bytes(bytes(whole))
    try:
        got = load_safetensors(path)
    except CheckpointError:
        return
    assert all(isinstance(array, np.ndarray) for array in got.values())


# ---- headers that cost too much: bounded time and memory before anything is refused ----

def many_entries(count, duplicate_last=False):
    """A header of `count` zero-size entries (each valid alone), optionally naming the last one twice."""
    entry = '{"dtype":"U8","shape":[0],"data_offsets":[0,0]}'
    names = [f"t{i}" for i in range(count)] + ([f"t{count - 1}"] if duplicate_last else [])
    return ("{" + ",".join(f'"{name}":{entry}' for name in names) + "}").encode()


def test_a_duplicate_name_among_many_entries_is_found_in_linear_time(tmp_path):
    """60,000 entries and a repeated last name took minutes (a count() per key); now well under a second."""
    path = write_raw(tmp_path / "dup.safetensors", many_entries(60_000, duplicate_last=True))
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="duplicate key 't59999'"):
        load_safetensors(path)
    assert time.perf_counter() - start < 15


def test_the_entry_limit(tmp_path):
    """MAX_TENSORS entries load (as the library loads them); one more is refused by count, before json.loads."""
    limit = safetensors_io.MAX_TENSORS
    path = write_raw(tmp_path / "limit.safetensors", many_entries(limit))
    assert len(load_safetensors(path)) == len(safetensors.numpy.load_file(path)) == limit
    path = write_raw(tmp_path / "over.safetensors", many_entries(limit + 1))
    with pytest.raises(CheckpointError, match=f"at most {limit} tensors need at most"):
        load_safetensors(path)


@pytest.mark.parametrize("header", [
    pytest.param(many_entries(1_000_000), id="a million empty entries"),
    pytest.param(b'{"w":[' + b"[]," * 4_000_000 + b"[]]}", id="four million nested lists"),
    pytest.param(b'{"w":[' + b"1000," * 3_000_000 + b"1]}", id="three million ints"),
    pytest.param(b'{"w":{' + b'"a":{},' * 2_000_000 + b'"b":1}}', id="two million nested objects"),
])
def test_memory_amplifying_headers_are_refused_in_bounded_memory(tmp_path, header):
    """Such headers built a Python object per few bytes (a 42 MB header cost 1 GiB); now they are refused from a
    count of their brackets and commas: peak memory a small multiple of the header, whatever it holds."""
    path = write_raw(tmp_path / "big.safetensors", header)
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match="JSON objects/arrays"):
            load_safetensors(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * len(header) + 16 * 2 ** 20


def test_brackets_and_commas_inside_strings_do_not_count(tmp_path):
    """Names and metadata may hold any characters: only JSON structure counts towards the limit, escapes included."""
    text = '[{,\\\\\\"' * 200_000  # brackets, a comma, an escaped backslash and an escaped quote, as JSON
    header = ('{"__metadata__":{"note":"' + text + '"},"w\\\\\\\"{":' + json.dumps(F32_4) + "}").encode()
    path = write_raw(tmp_path / "strings.safetensors", header, bytes(16))
    assert list(load_safetensors(path)) == list(safetensors.numpy.load_file(path)) == ['w\\"{']
    assert read_header(path)[1]["note"] == json.loads(f'"{text}"')


# ---- writing where the system says no: our WriteError, nothing left behind ----

def test_writing_into_a_missing_folder_is_our_error(tmp_path):
    from squeezebert_np.errors import WriteError
    target = tmp_path / "no" / "such" / "model.safetensors"
    with pytest.raises(WriteError, match="cannot write .*model.safetensors") as raised:
        save_safetensors({"w": np.zeros(3, np.float32)}, target)
    assert isinstance(raised.value, OSError) and raised.value.errno == 2


def test_a_full_disk_is_our_error_and_leaves_nothing(tmp_path):
    """RLIMIT_FSIZE in a child: the write fails with EFBIG half-way (what a full disk does with ENOSPC)."""
    import subprocess
    import sys
    code = ("import resource, numpy as np, sys\n"
            "from squeezebert_np.checkpoint.safetensors_io import save_safetensors\n"
            "from squeezebert_np.errors import WriteError\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))\n"
            "try:\n"
            "    save_safetensors({'w': np.zeros(1_000_000, np.float32)}, sys.argv[1])\n"
            "except WriteError as e:\n"
            "    print('WriteError', e.errno, e)\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "model.safetensors")], capture_output=True,
                            text=True, timeout=120)
    assert result.stdout.startswith("WriteError 27 cannot write"), result.stdout + result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("what", ["model", "config", "tokenizer"])
def test_save_pretrained_with_a_file_in_the_way_is_our_error(tmp_path, what):
    from squeezebert_np import SqueezeBertConfig, SqueezeBertModel, SqueezeBertTokenizerFast
    from squeezebert_np.errors import WriteError
    from tiny_models import TINY_SQUEEZEBERT
    (tmp_path / "taken").write_text("a file, not a folder")
    config = SqueezeBertConfig(**TINY_SQUEEZEBERT)
    saver = {"model": lambda: SqueezeBertModel(config), "config": lambda: config,
             "tokenizer": SqueezeBertTokenizerFast}[what]()
    with pytest.raises(WriteError, match="taken"):
        saver.save_pretrained(tmp_path / "taken" / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
