"""The torch-free `pytorch_model.bin` reader against `torch.save` / `torch.load`, and against hostile files.

Every round trip saves with torch in the four ways TORCH_BIN.md §12 lists (zip and legacy container, pickle
protocols 2 and 4) and asserts the arrays are byte-equal to what `torch.load` returns. The hostile files either
come from torch.save of objects with a malicious `__reduce__`, or are crafted here (`craft_zip`, `craft_legacy`)
with the real torch globals, so every field of the pickle and of the container can be set to a lie.
"""
import collections
import copy
import io
import os
import pickle
import struct
import tarfile
import time
import tracemalloc
import uuid
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tiny_models import TINY_SQUEEZEBERT
from squeezebert_np.checkpoint.torch_bin import ALLOWED_GLOBALS, load_torch_bin
from squeezebert_np.errors import CheckpointError, UnsafeCheckpointError

# (container, pickle protocol): the four ways torch.save can write a state dict
FORMATS = [("zip", 2), ("legacy", 2), ("zip", 4), ("legacy", 4)]
FORMAT_IDS = [f"{container}-p{protocol}" for container, protocol in FORMATS]


def torch_save(obj, path, container, protocol=2):
    torch.save(obj, path, _use_new_zipfile_serialization=(container == "zip"), pickle_protocol=protocol)
    return path


def torch_reference(path):
    """torch.load of a file these tests wrote themselves (so weights_only=False is safe: torch's weights_only
    loader cannot read protocol-4 legacy files, §3), as NumPy; bf16 widened like `tensor.float()`."""
    loaded = torch.load(path, weights_only=False)
    return {name: (t.float() if t.dtype == torch.bfloat16 else t).detach().numpy() for name, t in loaded.items()}


def assert_byte_equal(got, expected):
    """Same keys in the same order, same dtypes and shapes, same bytes (so nan payloads and -0.0 count)."""
    assert list(got) == list(expected)
    for name, want in expected.items():
        assert got[name].dtype == want.dtype, name
        assert got[name].shape == want.shape, name
        assert np.ascontiguousarray(got[name]).tobytes() == np.ascontiguousarray(want).tobytes(), name


def mixed_state_dict():
    """Every dtype, 0-dim, empty, special floats, a tensor under two names, views, a Parameter (§12)."""
    w = torch.arange(48, dtype=torch.float32).reshape(6, 8)
    special = torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0, 0.0, 1e-45, 3.4e38])
    return collections.OrderedDict([
        ("f32", w),
        ("f16", torch.linspace(-3, 3, 10).half()),
        ("bf16", torch.tensor([1.0, -2.5, 3.140625, float("nan"), -0.0, 1e30]).bfloat16()),
        ("f64", torch.linspace(-1, 1, 7, dtype=torch.float64)),
        ("i64", torch.arange(512, dtype=torch.int64).reshape(1, 512)),
        ("i32", torch.tensor([-(2 ** 31), 2 ** 31 - 1], dtype=torch.int32)),
        ("i16", torch.tensor([-300, 300], dtype=torch.int16)),
        ("i8", torch.tensor([-128, 127], dtype=torch.int8)),
        ("u8", torch.tensor([0, 255], dtype=torch.uint8)),
        ("bool", torch.tensor([True, False, True])),
        ("scalar", torch.tensor(2.5)),
        ("empty", torch.zeros(0, 4)),
        ("special", special),
        ("tied", w),  # the same tensor under a second name: one storage
        ("rows", w[2:5]),  # offset into the storage
        ("transposed", w.t()),  # strides (1, 8)
        ("every_other", w[:, ::2]),
        ("row", w[3]),
        ("element", w[4, 5]),  # 0-dim view with an offset
        ("param", torch.nn.Parameter(torch.ones(3, 2))),
    ])


# ---- round trips against torch.save ----

@pytest.mark.parametrize("container,protocol", FORMATS, ids=FORMAT_IDS)
def test_mixed_state_dict_is_byte_equal_to_torch_load(tmp_path, container, protocol):
    path = torch_save(mixed_state_dict(), tmp_path / "model.bin", container, protocol)
    got = load_torch_bin(path)
    assert_byte_equal(got, torch_reference(path))
    assert got["bf16"].dtype == np.float32  # numpy has no bfloat16: widened exactly


@pytest.mark.parametrize("container,protocol", FORMATS, ids=FORMAT_IDS)
def test_tiny_squeezebert_state_dict(tmp_path, tiny_squeezebert, container, protocol):
    """A real state_dict(): an OrderedDict with a `_metadata` attribute set by BUILD, and tied MLM weights."""
    state_dict = tiny_squeezebert.state_dict()
    assert hasattr(state_dict, "_metadata")
    path = torch_save(state_dict, tmp_path / "pytorch_model.bin", container, protocol)
    got = load_torch_bin(path)
    assert_byte_equal(got, torch_reference(path))
    assert list(got) == list(state_dict)
    assert np.shares_memory(got["cls.predictions.decoder.weight"],
                            got["transformer.embeddings.word_embeddings.weight"])


@pytest.mark.parametrize("container", ["zip", "legacy"])
def test_tiny_squeezebert_float16(tmp_path, tiny_squeezebert, container):
    """squeezebert-uncased is stored in float16 (REFERENCE.md §3): the reader returns float16 as stored."""
    path = torch_save(copy.deepcopy(tiny_squeezebert).half().state_dict(), tmp_path / "half.bin", container)
    got = load_torch_bin(path)
    assert_byte_equal(got, torch_reference(path))
    assert {a.dtype for a in got.values()} == {np.dtype(np.float16)}


@pytest.fixture(scope="module")
def tiny_squeezebert():
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.SqueezeBertConfig(**TINY_SQUEEZEBERT)
    return transformers.SqueezeBertForMaskedLM(config).eval()


def test_views_share_one_mapped_storage(tmp_path):
    """Zip storages are mapped, not copied: views of one storage share memory, as in torch (§10)."""
    got = load_torch_bin(torch_save(mixed_state_dict(), tmp_path / "model.bin", "zip"))
    for name in ("tied", "rows", "transposed", "every_other", "row", "element"):
        assert np.shares_memory(got[name], got["f32"]), name
    assert got["transposed"].strides == (4, 32)  # torch's strides (1, 8) in bytes


@pytest.mark.parametrize("container", ["zip", "legacy"])
def test_arrays_are_read_only_and_the_file_is_untouched(tmp_path, container):
    path = torch_save(mixed_state_dict(), tmp_path / "model.bin", container)
    before = path.read_bytes()
    got = load_torch_bin(path)
    for name, array in got.items():
        assert not array.flags.writeable, name
    with pytest.raises(ValueError, match="read-only"):
        got["f32"][0, 0] = 1.0
    writable = np.array(got["f32"])
    writable[0, 0] = 1.0
    assert path.read_bytes() == before


def test_zip_folder_is_found_whatever_its_name(tmp_path):
    """Saved to a buffer, the folder is `archive/`; saved to a path, it is the file stem."""
    buffer = io.BytesIO()
    torch.save({"w": torch.arange(3.0)}, buffer)
    (tmp_path / "from_buffer.bin").write_bytes(buffer.getvalue())
    assert zipfile.ZipFile(buffer).namelist()[0].startswith("archive/")
    assert np.array_equal(load_torch_bin(tmp_path / "from_buffer.bin")["w"], [0.0, 1.0, 2.0])
    assert np.array_equal(load_torch_bin(torch_save({"w": torch.ones(2)}, tmp_path / "x.y.bin", "zip"))["w"],
                          [1.0, 1.0])


def test_big_endian_zip(tmp_path):
    """A zip whose `byteorder` record says big: the storages are byte-swapped back to native order (§8)."""
    path = torch_save({"f": torch.tensor([1.5, -2.0]), "h": torch.tensor([0.5], dtype=torch.float16),
                       "b": torch.tensor([3.0], dtype=torch.bfloat16)}, tmp_path / "little.bin", "zip")
    itemsizes = {"0": 4, "1": 2, "2": 2}
    big = tmp_path / "big.bin"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(big, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            key = info.filename.rsplit("/", 1)[-1]
            if info.filename.endswith("/byteorder"):
                data = b"big"
            elif "/data/" in info.filename:
                data = np.frombuffer(data, f"<u{itemsizes[key]}").astype(f">u{itemsizes[key]}").tobytes()
            target.writestr(info.filename, data)
    got = load_torch_bin(big)
    assert got["f"].tolist() == [1.5, -2.0] and got["f"].dtype.isnative
    assert got["h"].tolist() == [0.5] and got["b"].tolist() == [3.0]


# ---- random shapes, dtypes and views (hypothesis) ----

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64, torch.int64, torch.int32, torch.int8,
          torch.uint8, torch.bool]
VIEWS = {
    "whole": lambda t: t,
    "transpose": lambda t: t.t() if t.dim() == 2 else t,
    "step": lambda t: t[..., ::2] if t.dim() else t,
    "offset": lambda t: t[1:] if t.dim() else t,
    "flip_dims": lambda t: t.permute(tuple(reversed(range(t.dim())))),
}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=st.lists(st.integers(0, 5), max_size=3), dtype=st.sampled_from(DTYPES),
       view=st.sampled_from(sorted(VIEWS)), container=st.sampled_from(["zip", "legacy"]))
def test_random_views_match_torch(tmp_path, shape, dtype, view, container):
    base = (torch.randn(shape) * 100).to(dtype)
    state_dict = {"base": base, "view": VIEWS[view](base)}
    path = torch_save(state_dict, tmp_path / f"{uuid.uuid4().hex}.bin", container)
    assert_byte_equal(load_torch_bin(path), torch_reference(path))


# ---- malicious pickles: refused, and the payload never runs (TORCH_BIN.md §6) ----

class RunsCommand:
    """Pickles as `os.system(command)` (`posix.system` on Linux)."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


class RunsEval:
    """Pickles as `eval(source)`: `__builtin__.eval` under protocol 2, STACK_GLOBAL `builtins eval` under 4."""

    def __init__(self, source):
        self.source = source

    def __reduce__(self):
        return eval, (self.source,)


def touch_command(marker):
    return f"touch {marker}"


@pytest.mark.parametrize("container,protocol", FORMATS, ids=FORMAT_IDS)
def test_reduce_to_os_system_is_refused(tmp_path, container, protocol):
    marker = tmp_path / "pwned"
    path = torch_save({"w": torch.ones(2), "payload": RunsCommand(touch_command(marker))},
                      tmp_path / "evil.bin", container, protocol)
    with pytest.raises(UnsafeCheckpointError, match=r"posix\.system"):
        load_torch_bin(path)
    assert not marker.exists()


def test_the_payload_is_real(tmp_path):
    """Control: plain torch.load(weights_only=False) of the same kind of file does run the command."""
    marker = tmp_path / "pwned"
    path = torch_save({"payload": RunsCommand(touch_command(marker))}, tmp_path / "evil.bin", "zip")
    torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("protocol,global_name", [(2, "__builtin__.eval"), (4, "builtins.eval")])
@pytest.mark.parametrize("container", ["zip", "legacy"])
def test_eval_is_refused(tmp_path, container, protocol, global_name):
    marker = tmp_path / "pwned"
    payload = RunsEval(f"__import__('pathlib').Path({str(marker)!r}).touch()")
    path = torch_save({"w": torch.ones(1), "x": payload}, tmp_path / "evil.bin", container, protocol)
    with pytest.raises(UnsafeCheckpointError, match=global_name.replace(".", r"\.")):
        load_torch_bin(path)
    assert not marker.exists()


def hand_written_system_pickle(command):
    """`posix.system(command)` in protocol-2 opcodes, written by hand: GLOBAL, BINUNICODE, TUPLE1, REDUCE, STOP."""
    encoded = command.encode()
    return b"\x80\x02cposix\nsystem\nX" + struct.pack("<I", len(encoded)) + encoded + b"\x85R."


def test_hand_written_data_pkl_calling_posix_system(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.bin"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", hand_written_system_pickle(touch_command(marker)))
        archive.writestr("archive/version", "3\n")
    with pytest.raises(UnsafeCheckpointError, match=r"posix\.system.*refused before anything ran"):
        load_torch_bin(path)
    assert not marker.exists()


@pytest.mark.parametrize("position", ["magic", "sys_info", "keys"])
def test_legacy_pickles_around_the_state_dict_allow_no_globals(tmp_path, position):
    """The magic number, sys info and key list are plain data: any global in them is refused."""
    marker = tmp_path / "pwned"
    evil = hand_written_system_pickle(touch_command(marker))
    parts = {"magic": pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2), "version": pickle.dumps(1001, protocol=2),
             "sys_info": pickle.dumps({"little_endian": True}, protocol=2),
             "state": pickle.dumps({}, protocol=2), "keys": pickle.dumps([], protocol=2)}
    parts[position] = evil
    path = tmp_path / "evil.bin"
    path.write_bytes(b"".join(parts.values()))
    with pytest.raises(UnsafeCheckpointError, match=r"posix\.system"):
        load_torch_bin(path)
    assert not marker.exists()


def test_build_cannot_modify_a_stand_in(tmp_path):
    """GLOBAL torch._utils._rebuild_tensor_v2, then BUILD with a state: refused, our table unchanged (§6)."""
    data_pkl = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n}X\x04\x00\x00\x00funcX\x01\x00\x00\x00xsb"
                b"\x85}\x86.")
    path = tmp_path / "build.bin"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)
    rebuilder = ALLOWED_GLOBALS[("torch._utils", "_rebuild_tensor_v2")]
    with pytest.raises(UnsafeCheckpointError, match="set the state"):
        load_torch_bin(path)
    assert rebuilder.name == "torch._utils._rebuild_tensor_v2" and not hasattr(rebuilder, "__dict__")


def test_a_pickled_module_is_refused(tmp_path):
    path = torch_save(torch.nn.Linear(2, 2), tmp_path / "module.bin", "zip")
    with pytest.raises(UnsafeCheckpointError, match=r"torch\.nn\.modules\.linear\.Linear"):
        load_torch_bin(path)


def test_a_training_checkpoint_is_not_a_state_dict(tmp_path):
    path = torch_save({"model": {"w": torch.ones(1)}, "step": 3}, tmp_path / "ckpt.bin", "zip")
    with pytest.raises(CheckpointError, match="flat mapping.*model.*state_dict"):
        load_torch_bin(path)


# ---- pickles whose numbers would make the unpickler allocate what the file does not hold ----

@pytest.mark.parametrize("data_pkl,message", [
    # LONG_BINPUT 2**30: CPython's unpickler would grow and zero-fill a 16 GB memo table
    (b"\x80\x02K\x01r" + struct.pack("<I", 2 ** 30) + b".", "memo index 1073741824"),
    # BINBYTES8 / BYTEARRAY8 / BINUNICODE8 claiming 2**40 bytes in a 20-byte pickle
    (b"\x80\x04\x8e" + struct.pack("<Q", 2 ** 40) + b"abc.", "corrupt pickle at byte"),
    (b"\x80\x05\x96" + struct.pack("<Q", 2 ** 40) + b"abc.", "corrupt pickle at byte"),
    (b"\x80\x04\x8d" + struct.pack("<Q", 2 ** 40) + b"abc.", "corrupt pickle at byte"),
    (b"\x80\x02}q\x00", "corrupt pickle"),  # no STOP
])
@pytest.mark.parametrize("container", ["zip", "legacy"])
def test_lying_pickle_lengths_are_refused_before_unpickling(tmp_path, data_pkl, message, container):
    path = tmp_path / "bad.bin"
    if container == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", data_pkl)
    else:
        path.write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
                         + pickle.dumps({"little_endian": True}, protocol=2) + data_pkl)
    with pytest.raises(CheckpointError, match=message):
        load_torch_bin(path)


# ---- crafted containers: every number can lie (TORCH_BIN.md §7) ----

class Storage:
    """Stands for a storage in a crafted pickle; `persistent_id` turns it into torch's storage tuple."""

    def __init__(self, key, storage_class, numel):
        self.key, self.storage_class, self.numel = key, storage_class, numel


class Tensor:
    """Pickles as `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict()[, meta])`."""

    def __init__(self, storage, offset, size, stride, metadata=None):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())
        self.args += (metadata,) if metadata is not None else ()

    def __reduce__(self):
        return torch._utils._rebuild_tensor_v2, self.args


class CraftingPickler(pickle.Pickler):
    def __init__(self, file, protocol, legacy):
        super().__init__(file, protocol=protocol)
        self.legacy = legacy

    def persistent_id(self, obj):
        if not isinstance(obj, Storage):
            return None
        pid = ("storage", obj.storage_class, obj.key, "cpu", obj.numel)
        return pid + (None,) if self.legacy else pid


def crafted_pickle(obj, legacy, protocol=2):
    buffer = io.BytesIO()
    CraftingPickler(buffer, protocol, legacy).dump(obj)
    return buffer.getvalue()


def craft_zip(path, state, storages, byteorder=b"little"):
    """A torch-style zip (`archive/`) holding `state` as data.pkl and `storages` ({key: bytes}) as data/<key>."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", crafted_pickle(state, legacy=False))
        archive.writestr("archive/byteorder", byteorder)
        for key, data in storages.items():
            archive.writestr(f"archive/data/{key}", data)
        archive.writestr("archive/version", "3\n")
    return path


def craft_legacy(path, state, storages, counts=None):
    """A legacy-format file: magic, version, sys info, `state`, key list, then each storage as count + bytes.
    `counts` overrides the element counts written in the data section."""
    counts = counts or {}
    parts = [pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2), pickle.dumps(1001, protocol=2),
             pickle.dumps({"protocol_version": 1001, "little_endian": True,
                           "type_sizes": {"short": 2, "int": 4, "long": 8}}, protocol=2),
             crafted_pickle(state, legacy=True), pickle.dumps(sorted(storages), protocol=2)]
    for key in sorted(storages):
        count = counts.get(key, len(storages[key]) // 4)
        parts.append(struct.pack("<q", count) + storages[key])
    path.write_bytes(b"".join(parts))
    return path


FOUR_FLOATS = np.arange(4, dtype="<f4").tobytes()


@pytest.mark.parametrize("crafter", [craft_zip, craft_legacy], ids=["zip", "legacy"])
@pytest.mark.parametrize("offset,size,stride,message", [
    (0, (9,), (1,), "out of bounds"),  # size patched 4 -> 9 (TORCH_BIN.md §7)
    (4, (), (), "out of bounds"),  # 0-dim at the end of the storage
    (2, (3,), (1,), "out of bounds"),
    (0, (2, 2), (3, 1), "out of bounds"),  # strides past the storage
    (0, (2, 3), (0, 1), "6 elements but its storage only 4"),  # an expanded view
    (0, (2 ** 62,), (0,), "elements but its storage only 4"),  # a huge size that would be cheap as a view
    (-1, (1,), (1,), "non-negative int64"),
    (0, (2,), (-1,), "non-negative int64"),
    (0, (2.0,), (1,), "non-negative int64"),
    (0, (True,), (1,), "non-negative int64"),
    (0, (1,), (2 ** 63,), "non-negative int64"),
    (0, (10 ** 5000,), (1,), "huge int"),  # its repr would raise ValueError: the message must not
    (0, (2,), (1, 1), "different lengths"),
    (0, [2], [1], "must be a tuple"),
    (0, (1,) * 40, (1,) * 40, "dimensions"),
    (0, (0, 2 ** 62), (1, 1), "too large for NumPy"),  # holds nothing, yet np.empty refuses it
])
def test_views_past_their_storage_are_refused(tmp_path, crafter, offset, size, stride, message):
    storage = Storage("0", torch.FloatStorage, 4)
    path = crafter(tmp_path / "bad.bin", {"w": Tensor(storage, offset, size, stride)}, {"0": FOUR_FLOATS})
    with pytest.raises(CheckpointError, match=message):
        load_torch_bin(path)


@pytest.mark.parametrize("crafter", [craft_zip, craft_legacy], ids=["zip", "legacy"])
def test_valid_crafted_views(tmp_path, crafter):
    """The same crafting gives correct arrays when the numbers are honest, e.g. a size-1 dim with any stride."""
    storage = Storage("0", torch.FloatStorage, 4)
    state = {"w": Tensor(storage, 1, (3,), (1,)), "s": Tensor(storage, 3, (), ()),
             "odd": Tensor(storage, 0, (1, 2), (2 ** 62, 2)), "none": Tensor(storage, 99, (0, 5), (1, 1))}
    got = load_torch_bin(crafter(tmp_path / "ok.bin", state, {"0": FOUR_FLOATS}))
    assert got["w"].tolist() == [1.0, 2.0, 3.0] and got["s"].tolist() == 3.0
    assert got["odd"].tolist() == [[0.0, 2.0]] and got["none"].shape == (0, 5)


def test_zip_storage_size_must_match_its_member(tmp_path):
    storage = Storage("0", torch.FloatStorage, 8)  # claims 8 floats, the member holds 4
    path = craft_zip(tmp_path / "bad.bin", {"w": Tensor(storage, 0, (2,), (1,))}, {"0": FOUR_FLOATS})
    with pytest.raises(CheckpointError, match="needs 32 bytes but its member archive/data/0 holds 16"):
        load_torch_bin(path)


def test_zip_storage_member_must_exist(tmp_path):
    path = craft_zip(tmp_path / "bad.bin", {"w": Tensor(Storage("7", torch.FloatStorage, 4), 0, (2,), (1,))},
                     {"0": FOUR_FLOATS})
    with pytest.raises(CheckpointError, match="no member archive/data/7"):
        load_torch_bin(path)


def test_legacy_huge_numel_is_refused_before_allocating(tmp_path):
    """A storage claiming 2**60 elements in a 300-byte file: compared with the file size, never allocated."""
    storage = Storage("0", torch.FloatStorage, 2 ** 60)
    path = craft_legacy(tmp_path / "bad.bin", {"w": Tensor(storage, 0, (2,), (1,))}, {"0": FOUR_FLOATS},
                        counts={"0": 2 ** 60})
    with pytest.raises(CheckpointError, match="truncated file"):
        load_torch_bin(path)


def test_legacy_count_must_match_pickled_numel(tmp_path):
    storage = Storage("0", torch.FloatStorage, 4)
    path = craft_legacy(tmp_path / "bad.bin", {"w": Tensor(storage, 0, (2,), (1,))}, {"0": FOUR_FLOATS},
                        counts={"0": 3})
    with pytest.raises(CheckpointError, match="has 3 elements in the data section"):
        load_torch_bin(path)


def test_legacy_key_list_must_match_the_storages(tmp_path):
    storage = Storage("0", torch.FloatStorage, 4)
    path = craft_legacy(tmp_path / "bad.bin", {"w": Tensor(storage, 0, (2,), (1,))},
                        {"0": FOUR_FLOATS, "1": FOUR_FLOATS})
    with pytest.raises(CheckpointError, match="key list does not match"):
        load_torch_bin(path)


def test_one_storage_key_with_two_dtypes_is_refused(tmp_path):
    state = {"a": Tensor(Storage("0", torch.FloatStorage, 4), 0, (1,), (1,)),
             "b": Tensor(Storage("0", torch.HalfStorage, 8), 0, (1,), (1,))}
    with pytest.raises(CheckpointError, match="named twice"):
        load_torch_bin(craft_zip(tmp_path / "bad.bin", state, {"0": FOUR_FLOATS}))


def test_conj_or_neg_metadata_is_refused(tmp_path):
    tensor = Tensor(Storage("0", torch.FloatStorage, 4), 0, (4,), (1,), metadata={"neg": True})
    with pytest.raises(CheckpointError, match="conj/neg"):
        load_torch_bin(craft_zip(tmp_path / "bad.bin", {"w": tensor}, {"0": FOUR_FLOATS}))


def test_persistent_ids_other_than_storages_are_refused(tmp_path):
    class Module:
        def __reduce__(self):
            return collections.OrderedDict, ()

    class ModulePickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("module", "Linear", "source.py", "class Linear: ...") if isinstance(obj, Module) else None

    buffer = io.BytesIO()
    ModulePickler(buffer, protocol=2).dump({"m": Module()})
    path = tmp_path / "bad.bin"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", buffer.getvalue())
    with pytest.raises(CheckpointError, match="pickled nn.Module"):
        load_torch_bin(path)


def test_bad_byteorder_record(tmp_path):
    state = {"w": Tensor(Storage("0", torch.FloatStorage, 4), 0, (4,), (1,))}
    with pytest.raises(CheckpointError, match="byteorder"):
        load_torch_bin(craft_zip(tmp_path / "bad.bin", state, {"0": FOUR_FLOATS}, byteorder=b"middle"))


# ---- files that are not torch checkpoints, or damaged ones ----

@pytest.mark.parametrize("content,message", [
    (b"version https://git-lfs.github.com/spec/v1\noid sha256:1b28\nsize 204\n", "Git LFS pointer.*git lfs pull"),
    (b"<!DOCTYPE html>\n<html><body>Access denied</body></html>", "HTML"),
    (b"\n  <html><head>", "HTML"),
    (b"", "empty"),
    (b"\x00" * 100, "truncated or corrupt pickle"),
    (b"just some text", "corrupt pickle"),
    (b"\x80\x02K\x05.", "not a torch checkpoint"),  # a valid pickle of 5
])
def test_foreign_files_are_refused_with_a_hint(tmp_path, content, message):
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_torch_bin(path)


def test_pre_2018_tar_format_is_refused(tmp_path):
    path = tmp_path / "old.bin"
    with tarfile.open(path, "w") as archive:
        for name in ("sys_info", "pickle", "tensors", "storages"):
            data = pickle.dumps({}, protocol=2)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    with pytest.raises(CheckpointError, match="tar archive.*early torch"):
        load_torch_bin(path)


def test_safetensors_file_is_pointed_to_its_reader(tmp_path):
    import safetensors.numpy
    path = tmp_path / "model.bin"
    safetensors.numpy.save_file({"w": np.ones(2, np.float32)}, path)
    with pytest.raises(CheckpointError, match="safetensors file"):
        load_torch_bin(path)


def test_compressed_zip_member_is_refused(tmp_path):
    path = torch_save({"w": torch.zeros(100)}, tmp_path / "model.bin", "zip")
    squeezed = tmp_path / "deflated.bin"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(squeezed, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, source.read(info))
    with pytest.raises(CheckpointError, match="compressed"):
        load_torch_bin(squeezed)


def test_a_member_size_past_the_end_is_refused_before_reading(tmp_path):
    """The central directory claims a 1 TiB data.pkl (zip64): refused from the numbers alone."""
    path = tmp_path / "model.bin"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({}, protocol=2))
    data = bytearray(path.read_bytes())
    directory = data.index(b"PK\x01\x02")  # the central directory entry of data.pkl
    data[directory + 20:directory + 28] = b"\xff" * 8  # compressed and uncompressed sizes -> zip64 extra
    extra = struct.pack("<HHQQ", 1, 16, 2 ** 40, 2 ** 40)
    name_length, extra_length = struct.unpack_from("<HH", data, directory + 28)
    struct.pack_into("<H", data, directory + 30, len(extra))
    end = directory + 46 + name_length
    data[end:end + extra_length] = extra
    record = data.index(b"PK\x05\x06")
    struct.pack_into("<I", data, record + 12, struct.unpack_from("<I", data, record + 12)[0] + len(extra))
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="runs past the end of the file"):
        load_torch_bin(path)


def test_a_zip_without_data_pkl(tmp_path):
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(CheckpointError, match="expected one <folder>/data.pkl"):
        load_torch_bin(path)


def test_torchscript_archive_is_refused(tmp_path):
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    with pytest.raises(CheckpointError, match="TorchScript"):
        load_torch_bin(path)


def test_flipped_data_byte_fails_the_crc(tmp_path):
    path = torch_save({"w": torch.arange(16.0)}, tmp_path / "model.bin", "zip")
    data = bytearray(path.read_bytes())
    data[data.index(np.arange(16, dtype="<f4").tobytes()) + 5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="CRC-32"):
        load_torch_bin(path)


@pytest.mark.parametrize("container", ["zip", "legacy"])
def test_truncated_files_are_refused_at_many_cuts(tmp_path, container):
    """About 250 cuts spread over the file, and each of the last 40 bytes."""
    whole = torch_save(mixed_state_dict(), tmp_path / "whole.bin", container).read_bytes()
    cuts = {*range(0, len(whole), len(whole) // 250), *range(len(whole) - 40, len(whole))}
    for cut in sorted(cuts):
        path = tmp_path / f"cut{cut}.bin"
        path.write_bytes(whole[:cut])
        with pytest.raises(CheckpointError):
            load_torch_bin(path)


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small")
    state_dict = {"w": torch.arange(6.0).reshape(2, 3), "t": None, "h": torch.tensor([1.0, 2.0]).half()}
    state_dict["t"] = state_dict["w"].t()
    files = {}
    for container in ("zip", "legacy"):
        path = torch_save(state_dict, folder / f"{container}.bin", container)
        files[container] = (path.read_bytes(), load_torch_bin(path))
    return files


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), container=st.sampled_from(["zip", "legacy"]))
def test_random_corruption_gives_checkpoint_error_or_a_correct_result(tmp_path, small_files, data, container):
    """Flip 1-3 bytes anywhere: the reader raises CheckpointError or returns arrays; never anything else.
    Zip members carry CRC-32s, so a zip that still loads must load exactly right."""
    whole, expected = small_files[container]
    corrupt = bytearray(whole)
    for _ in range(data.draw(st.integers(1, 3))):
        corrupt[data.draw(st.integers(0, len(whole) - 1))] ^= data.draw(st.integers(1, 255))
    path = tmp_path / f"{uuid.uuid4().hex}.bin"  # a new file each time: earlier results may still map theirs
    path.write_bytes(bytes(corrupt))
    try:
        got = load_torch_bin(path)
    except CheckpointError:
        return
    assert all(isinstance(a, np.ndarray) for a in got.values())
    if container == "zip":
        assert_byte_equal(got, expected)


# ---- zips whose members are named twice; paths that are not files ----

def zip_with_a_second_member(path, source, name, data):
    """A copy of the zip `source` with one more member `name` appended (zipfile warns about the duplicate)."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(path, "w") as copy_:
        for info in original.infolist():
            copy_.writestr(info, original.read(info))
        with pytest.warns(UserWarning, match="Duplicate name"):
            copy_.writestr(name, data)
    return path


def test_a_zip_with_two_data_pkl_is_refused(tmp_path):
    """Which of two data.pkl members a reader takes is up to it (miniz, zipfile and torch versions differ):
    one file, two models. Refused, naming the member."""
    first = torch_save({"w": torch.tensor([1.0, 2.0])}, tmp_path / "first.bin", "zip")
    second = torch_save({"v": torch.tensor([3.0, 4.0])}, tmp_path / "second.bin", "zip")
    with zipfile.ZipFile(second) as archive:
        other_pkl = archive.read("second/data.pkl")
    path = zip_with_a_second_member(tmp_path / "two.bin", first, "first/data.pkl", other_pkl)
    with pytest.raises(CheckpointError, match="member 'first/data.pkl' occurs twice"):
        load_torch_bin(path)


def test_a_zip_with_two_copies_of_a_storage_is_refused(tmp_path):
    first = torch_save({"w": torch.tensor([1.0, 2.0])}, tmp_path / "first.bin", "zip")
    path = zip_with_a_second_member(tmp_path / "two.bin", first, "first/data/0", np.float32([5, 6]).tobytes())
    with pytest.raises(CheckpointError, match="member 'first/data/0' occurs twice"):
        load_torch_bin(path)


def test_a_pickle_longer_than_any_state_dict_is_refused_by_its_opcode_count(tmp_path):
    """A data.pkl of millions of one-byte opcodes: walking 100 MB of them took ~40 s; refused once the walk passes
    MAX_OPCODES (64 a tensor of MAX_TENSORS; torch.save spends ~32), before anything is unpickled."""
    from squeezebert_np.checkpoint.torch_bin import MAX_OPCODES
    path = tmp_path / "long.bin"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02" + b"N" * (MAX_OPCODES + 10) + b".")
    with pytest.raises(CheckpointError, match=f"more than {MAX_OPCODES:,} opcodes"):
        load_torch_bin(path)


# ---- pickles whose few bytes would cost much: each use of a memoized object must stay cheap ----

P = pickle


def repeated(setup, step, count):
    """A protocol-2 data.pkl: `setup` (memoizes what `step` uses), then `count` copies of `step` appended to a
    list, which is the pickle's result (not a state dict: refused at the end, if the reader gets there)."""
    return P.PROTO + b"\x02" + setup + P.EMPTY_LIST + P.MARK + step * count + P.APPENDS + P.STOP


def zip_of(path, data_pkl):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/byteorder", "little")
    return path


def get(index):
    return P.BINGET + bytes([index])


BIG_TEXT = "x" * 100_000
BOMBS = {
    # _codecs.encode(the same 100 kB string, "latin1"), 20,000 times: 2 GB of bytes from a 260 kB pickle
    "encode": repeated(P.GLOBAL + b"_codecs\nencode\n" + P.BINPUT + b"\x00"
                       + P.BINUNICODE + struct.pack("<I", len(BIG_TEXT)) + BIG_TEXT.encode() + P.BINPUT + b"\x01"
                       + P.SHORT_BINUNICODE + b"\x06latin1" + P.BINPUT + b"\x02" + P.POP * 3,
                       get(0) + get(1) + get(2) + P.TUPLE2 + P.REDUCE, 20_000),
    # OrderedDict(the same list of 50,000 pairs), 2,000 times
    "OrderedDict": repeated(P.GLOBAL + b"collections\nOrderedDict\n" + P.BINPUT + b"\x00" + P.EMPTY_LIST + P.MARK
                            + b"".join(P.BININT + struct.pack("<i", i) + P.NONE + P.TUPLE2 for i in range(50_000))
                            + P.APPENDS + P.BINPUT + b"\x01" + P.POP * 2,
                            get(0) + get(1) + P.TUPLE1 + P.REDUCE, 2_000),
    # OrderedDict() then BUILD with the same 50,000-key state dict, 2,000 times
    "BUILD": repeated(P.GLOBAL + b"collections\nOrderedDict\n" + P.BINPUT + b"\x00" + P.EMPTY_DICT + P.MARK
                      + b"".join(P.BINUNICODE + struct.pack("<I", 6) + f"k{i:05}".encode() + P.NONE
                                 for i in range(50_000)) + P.SETITEMS + P.BINPUT + b"\x01" + P.POP * 2,
                      get(0) + P.EMPTY_TUPLE + P.REDUCE + get(1) + P.BUILD, 2_000),
    # _rebuild_tensor_v2(storage?, 0, the same 100,000-long size tuple, ...), 2,000 times
    "size tuple": repeated(P.GLOBAL + b"torch._utils\n_rebuild_tensor_v2\n" + P.BINPUT + b"\x00"
                           + P.MARK + P.BININT1 + b"\x01" + P.DUP * 99_999 + P.TUPLE + P.BINPUT + b"\x01" + P.POP * 2,
                           get(0) + P.NONE + P.BININT1 + b"\x00" + get(1) + get(1) + P.TUPLE + P.REDUCE, 2_000),
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_memoized_objects_used_again_and_again_cost_little(tmp_path, name):
    """Each of these was seconds to minutes or gigabytes; now the whole file is read in bounded time, with peak
    memory a small multiple of the file size, and refused."""
    path = zip_of(tmp_path / "bomb.bin", BOMBS[name])
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(CheckpointError):
            load_torch_bin(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 20
    assert peak < 20 * path.stat().st_size + 16 * 2 ** 20


def test_a_zip_of_too_many_members_is_refused_before_zipfile_parses_them(tmp_path):
    """More central-directory signatures than MAX_MEMBERS anywhere in the file: refused at once. 200,000 empty
    members (a 16 MB file) cost zipfile 100 MB and seconds to list."""
    from squeezebert_np.checkpoint.torch_bin import CENTRAL_DIRECTORY_MAGIC, MAX_MEMBERS
    path = torch_save({"w": torch.ones(2)}, tmp_path / "model.bin", "zip")
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("model/extra", CENTRAL_DIRECTORY_MAGIC * MAX_MEMBERS)
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match=f"more than {MAX_MEMBERS} members"):
            load_torch_bin(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 ** 20
