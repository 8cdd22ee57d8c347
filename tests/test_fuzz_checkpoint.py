"""A fuzz suite of our own for the checkpoint readers (issue 15): safetensors, zip and legacy `.bin`.

Generators: safetensors files spliced from valid ones, headers built field by field from honest and hostile values
(dtypes, shapes, offsets, names, duplicates, metadata, lying length fields), headers with up to 200,000 entries;
torch zips with members duplicated, dropped, renamed, compressed or replaced; pickles assembled from opcodes
(hostile globals, calls, BUILD, memo, persistent ids, lying lengths); crafted storages with random offsets,
sizes, strides and element counts; spliced legacy files.

For every input the promise (README "Bad input"): a correct answer (byte-equal to `safetensors` / `torch.load`
where that accepts the file too) or our `CheckpointError`, never another exception; in bounded time and memory
(`tracemalloc` peak, which counts NumPy's buffers but not the read-only file mapping); no pickle code run (a
canary global that would record its call, and `os.system` that would create a file); nothing written.
"""
import io
import json
import math
import os
import pickle
import struct
import time
import tracemalloc
import uuid
import warnings
import zipfile

import numpy as np
import safetensors.numpy
import safetensors.torch
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from test_torch_bin import Storage, Tensor, craft_legacy, craft_zip
from squeezebert_np.checkpoint import safetensors_io
from squeezebert_np.checkpoint.files import read_checkpoint_file
from squeezebert_np.checkpoint.safetensors_io import load_safetensors
from squeezebert_np.checkpoint.torch_bin import load_torch_bin
from squeezebert_np.errors import CheckpointError



def fuzz(examples):
    return settings(max_examples=examples, deadline=None, suppress_health_check=[
        HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])


SECONDS_PER_INPUT = 10  # every input here is under ~5 MB; the readers take milliseconds to a second
CANARY_CALLS = []


def canary(*args):
    """A global a hostile pickle may name: the real pickle module would call it, our reader must not."""
    CANARY_CALLS.append(args)
    return {}


def folder_state(folder):
    return {entry.name: (entry.stat().st_size, entry.stat().st_mtime_ns) for entry in os.scandir(folder)}


def as_numpy(tensor):
    return (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).detach().numpy()


def reference_safetensors(path):
    return {name: as_numpy(t) for name, t in safetensors.torch.load_file(path).items()}


def reference_torch(path):
    return {name: as_numpy(t) for name, t in torch.load(path, weights_only=True).items()}


def check_promise(path, reader=read_checkpoint_file, reference=None, must_match=False):
    """Read `path` with `reader`; assert the promise. `reference` (a trusted reader) must then give the same
    arrays where it accepts the file; with `must_match`, it must accept every file we accept."""
    before, calls = folder_state(path.parent), len(CANARY_CALLS)
    size = path.stat().st_size
    tracemalloc.start()
    start = time.perf_counter()
    try:
        got = reader(path)
    except CheckpointError as err:  # anything else fails the test
        got = err
    finally:
        elapsed, peak = time.perf_counter() - start, tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < SECONDS_PER_INPUT
    assert peak < 8 * size + 32 * 2 ** 20
    assert folder_state(path.parent) == before and len(CANARY_CALLS) == calls
    if isinstance(got, CheckpointError):
        event(f"refused: {type(got).__name__}")
        assert str(path) in str(got) or len(str(got)) > 10  # a message naming the problem
        return got
    event("read")
    assert type(got) is dict and all(type(a) is np.ndarray and not a.flags.writeable for a in got.values())
    if reference is not None:
        try:
            expected = reference(path)
        except Exception:  # noqa: BLE001 - the reference refusing is fine, unless we promise to agree
            assert not must_match, "we read a file the reference refuses"
            event("read; the reference refuses it")
            return got
        event("read; equal to the reference")
        assert list(got) == list(expected) or sorted(got) == sorted(expected)
        for name, array in expected.items():
            assert got[name].dtype == array.dtype and got[name].shape == array.shape, name
            assert np.ascontiguousarray(got[name]).tobytes() == np.ascontiguousarray(array).tobytes(), name
    return got


def new_path(tmp_path, suffix):
    folder = tmp_path / uuid.uuid4().hex  # one folder per input: earlier arrays may still map their files
    folder.mkdir()
    return folder / f"model{suffix}"


# ---- byte-level mutations, for any format ----

@st.composite
def spliced(draw, whole):
    """`whole` with 1-4 edits: flip, overwrite with junk, insert, delete a span, or cut the end."""
    data = bytearray(whole)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        kind = draw(st.sampled_from(["flip", "junk", "insert", "delete", "cut"]))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "junk":
            data[at:at + 8] = draw(st.binary(min_size=8, max_size=8))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        else:
            del data[at:]
    return bytes(data)


# ---- safetensors ----

SAFE_DTYPES = list(safetensors_io.DTYPES)
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70), st.floats(allow_nan=False),
                 st.text(max_size=4), st.lists(st.integers(-3, 3), max_size=3),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
LIES = st.sampled_from([0] * 24 + [1, -1, 4, 2 ** 63, 2 ** 64, -(2 ** 64)])


@st.composite
def safetensors_files(draw):
    """A header written pair by pair (so names may repeat), each entry honest or lying in one or more fields."""
    pairs, position, names = [], 0, []
    if draw(st.booleans()):
        pairs.append(("__metadata__", draw(st.one_of(st.dictionaries(st.text(max_size=4), st.text(max_size=4),
                                                                         max_size=2), JUNK))))
    for _ in range(draw(st.integers(0, 5))):
        dtype = draw(st.one_of(st.sampled_from(SAFE_DTYPES), st.sampled_from(SAFE_DTYPES), JUNK))
        shape = draw(st.one_of(st.lists(st.integers(0, 4), max_size=3), st.lists(st.integers(0, 4), max_size=3),
                               JUNK, st.lists(st.sampled_from([-1, 2 ** 62, 2 ** 64, True, 1.0]), max_size=3)))
        honest = (np.dtype(safetensors_io.DTYPES[dtype]).itemsize * math.prod(shape)
                  if type(dtype) is str and dtype in safetensors_io.DTYPES and type(shape) is list
                  and all(type(n) is int and 0 <= n <= 4 for n in shape) else draw(st.integers(0, 64)))
        begin = position + draw(LIES)
        end = begin + honest + draw(LIES)
        position = max(position, end) if 0 <= end < 2 ** 20 else position
        entry = {"dtype": dtype, "shape": shape, "data_offsets": draw(st.one_of(st.just([begin, end]), JUNK))}
        if draw(st.integers(0, 9)) == 0:
            entry.pop(draw(st.sampled_from(sorted(entry))))
        if draw(st.integers(0, 9)) == 0:
            entry = draw(JUNK)
        name = draw(st.one_of(st.text(max_size=6), st.sampled_from(names or ["w"]), st.just("__metadata__")))
        names.append(name)
        pairs.append((name, entry))
    header = ("{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in pairs) + "}").encode()
    header += b" " * draw(st.integers(0, 8))
    length = len(header) + draw(LIES) if draw(st.integers(0, 4)) == 0 else len(header)
    data = draw(st.binary(min_size=position, max_size=position + 2)) if position < 4096 else bytes(position)
    return struct.pack("<Q", length % 2 ** 64) + header + data


@fuzz(300)
@given(content=safetensors_files())
def test_generated_safetensors_headers(tmp_path, content):
    path = new_path(tmp_path, ".safetensors")
    path.write_bytes(content)
    check_promise(path, load_safetensors, reference_safetensors, must_match=True)


VALID_SAFETENSORS = safetensors.numpy.save({
    "w": np.arange(12, dtype=np.float32).reshape(3, 4), "h": np.ones(3, np.float16), "i": np.arange(2),
    "e": np.zeros((0, 2), np.float32), "b": np.array([True, False])}, metadata={"format": "pt"})


@fuzz(300)
@given(content=spliced(VALID_SAFETENSORS))
def test_spliced_safetensors_files(tmp_path, content):
    """We accept a spliced file only if the library accepts it too, with the same arrays."""
    path = new_path(tmp_path, ".safetensors")
    path.write_bytes(content)
    check_promise(path, read_checkpoint_file, reference_safetensors, must_match=True)


@fuzz(10)
@given(count=st.integers(1, 200_000), twist=st.sampled_from(["none", "duplicate", "bad last", "nested"]))
def test_headers_with_many_entries(tmp_path, count, twist):
    """Up to twice the entry limit, with a repeated last name, a bad last entry, or an empty list per entry."""
    entry = '{"dtype":"U8","shape":[0],"data_offsets":[0,0]%s}' % (',"x":[]' if twist == "nested" else "")
    names = [f"t{i}" for i in range(count)] + ([f"t{count - 1}"] if twist == "duplicate" else [])
    body = ",".join(f'"{name}":{entry}' for name in names)
    if twist == "bad last":
        body += ',"z":{"dtype":["U8"],"shape":[0],"data_offsets":[0,0]}'
    header = ("{" + body + "}").encode()
    path = new_path(tmp_path, ".safetensors")
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    got = check_promise(path, load_safetensors, reference_safetensors if count < 1000 else None, must_match=True)
    if twist == "none" and count <= safetensors_io.MAX_TENSORS:
        assert len(got) == count
    elif twist == "nested" and 4 * count + 1 <= safetensors_io.MAX_CONTAINERS:  # an unknown field is ignored
        assert len(got) == count
    else:
        assert isinstance(got, CheckpointError)


# ---- torch zip files ----

def torch_zip_bytes(state, protocol=2, legacy=False):
    buffer = io.BytesIO()
    torch.save(state, buffer, _use_new_zipfile_serialization=not legacy, pickle_protocol=protocol)
    return buffer.getvalue()


SMALL_STATE = {"w": torch.arange(6.0).reshape(2, 3), "h": torch.tensor([1.0, 2.0]).half(),
               "i": torch.arange(3), "b": torch.tensor([0.5, -2.0]).bfloat16()}
SMALL_STATE["t"] = SMALL_STATE["w"].t()
VALID_ZIP = torch_zip_bytes(SMALL_STATE)
VALID_LEGACY = torch_zip_bytes(SMALL_STATE, legacy=True)


@st.composite
def reshaped_zips(draw):
    """A valid torch zip with members duplicated, dropped, renamed, compressed or replaced by junk or pickles."""
    with zipfile.ZipFile(io.BytesIO(VALID_ZIP)) as original:
        members = [(info.filename, original.read(info)) for info in original.infolist()]
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(members) - 1))
        name, data = members[index]
        kind = draw(st.sampled_from(["duplicate", "drop", "rename", "junk", "pickle", "grow"]))
        if kind == "duplicate":
            members.insert(draw(st.integers(0, len(members))), (name, draw(st.one_of(st.just(data), st.binary()))))
        elif kind == "drop" and len(members) > 1:
            members.pop(index)
        elif kind == "rename":
            members[index] = (draw(st.sampled_from(["model/data.pkl", f"{name}/x", "data.pkl", name.upper(),
                                                    name + "\x00", "../" + name])), data)
        elif kind == "junk":
            members[index] = (name, draw(st.binary(max_size=64)))
        elif kind == "pickle":
            members[index] = (name, draw(pickles()))
        else:
            members[index] = (name, data + draw(st.binary(min_size=1, max_size=8)))
    compression = draw(st.sampled_from([zipfile.ZIP_STORED] * 4 + [zipfile.ZIP_DEFLATED]))
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about duplicate names
        with zipfile.ZipFile(buffer, "w", compression) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return buffer.getvalue()


@fuzz(150)
@given(content=reshaped_zips())
def test_reshaped_torch_zips(tmp_path, content):
    path = new_path(tmp_path, ".bin")
    path.write_bytes(content)
    check_promise(path, load_torch_bin, reference_torch)


@fuzz(150)
@given(content=st.one_of(spliced(VALID_ZIP), spliced(VALID_LEGACY)))
def test_spliced_torch_files(tmp_path, content):
    path = new_path(tmp_path, ".bin")
    path.write_bytes(content)
    check_promise(path, read_checkpoint_file, reference_torch)


# ---- pickles assembled from opcodes ----

P = pickle
HOSTILE_GLOBALS = [("os", "system"), ("posix", "system"), ("builtins", "eval"), ("__builtin__", "exec"),
                   ("subprocess", "Popen"), ("builtins", "getattr"), ("torch", "load"), ("numpy", "frombuffer"),
                   ("test_fuzz_checkpoint", "canary"), ("copyreg", "_reconstructor"),
                   ("torch._utils", "_rebuild_qtensor"),
                   ("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"), ("torch", "FloatStorage"),
                   ("torch._utils", "_rebuild_parameter"), ("_codecs", "encode"), ("torch", "Tensor"),
                   ("torch._tensor", "_rebuild_from_type_v2"), ("torch.nn.parameter", "Parameter")]


def text_op(text):
    raw = text.encode()
    if len(raw) < 256:
        return P.SHORT_BINUNICODE + bytes([len(raw)]) + raw
    return P.BINUNICODE + struct.pack("<I", len(raw)) + raw


@st.composite
def opcodes(draw, marker="pwned"):
    name = draw(st.sampled_from(HOSTILE_GLOBALS))
    return draw(st.sampled_from([
        P.GLOBAL + f"{name[0]}\n{name[1]}\n".encode(),
        text_op(name[0]) + text_op(name[1]) + P.STACK_GLOBAL,
        P.MARK + P.INST + f"{name[0]}\n{name[1]}\n".encode(),
        text_op(f"touch {marker}") + P.TUPLE1 + P.REDUCE, P.REDUCE, P.BUILD, P.NEWOBJ, P.OBJ, P.EMPTY_TUPLE,
        P.TUPLE1, P.TUPLE2, P.TUPLE3, P.MARK, P.TUPLE, P.EMPTY_DICT, P.EMPTY_LIST, P.SETITEM, P.SETITEMS,
        P.APPEND, P.APPENDS, P.DICT, P.LIST, P.POP, P.POP_MARK, P.DUP, P.NONE, P.NEWTRUE, P.NEWFALSE,
        P.BININT1 + bytes([draw(st.integers(0, 255))]),
        P.BININT + struct.pack("<i", draw(st.integers(-2 ** 31, 2 ** 31 - 1))),
        P.LONG1 + b"\x09" + b"\xff" * 9, P.BINFLOAT + struct.pack(">d", 1.5), text_op("storage"), text_op("cpu"),
        text_op("0"), text_op("w"), P.BINPERSID, P.PERSID + b"0\n",
        P.BINPUT + bytes([draw(st.integers(0, 255))]), P.BINGET + bytes([draw(st.integers(0, 255))]),
        P.LONG_BINPUT + struct.pack("<I", draw(st.sampled_from([0, 1, 2 ** 20, 2 ** 31]))),
        P.LONG_BINGET + struct.pack("<I", draw(st.sampled_from([0, 1, 2 ** 31]))), P.MEMOIZE,
        P.BINBYTES8 + struct.pack("<Q", draw(st.sampled_from([0, 4, 2 ** 40]))) + b"abcd",
        P.BINUNICODE8 + struct.pack("<Q", 2 ** 50),
        P.FRAME + struct.pack("<Q", draw(st.sampled_from([0, 9, 2 ** 40]))),
        P.EXT1 + b"\x01", P.EXT2 + b"\x01\x00", P.EXT4 + b"\x01\x00\x00\x00", P.STOP, b"\xff", b"I1\n",
    ]))


@st.composite
def pickles(draw):
    body = b"".join(draw(st.lists(opcodes(), max_size=30)))
    return P.PROTO + bytes([draw(st.sampled_from([2, 4, 5]))]) + body + (P.STOP if draw(st.booleans()) else b"")


@fuzz(300)
@given(data_pkl=pickles(), container=st.sampled_from(["zip", "legacy"]))
def test_assembled_pickles(tmp_path, data_pkl, container):
    """Nothing a pickle names off the allowlist is called (the canary, and `os.system("touch pwned")`)."""
    path = new_path(tmp_path, ".bin")
    if container == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", data_pkl)
            archive.writestr("archive/data/0", bytes(16))
    else:
        path.write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + pickle.dumps(1001, protocol=2)
                         + pickle.dumps({"little_endian": True}, protocol=2) + data_pkl
                         + pickle.dumps(["0"], protocol=2) + struct.pack("<q", 4) + bytes(16))
    cwd = os.getcwd()
    os.chdir(path.parent)  # where `touch pwned` would land
    try:
        check_promise(path, load_torch_bin)
    finally:
        os.chdir(cwd)
    assert not (path.parent / "pwned").exists()


# ---- storages that lie ----

TORCH_DTYPES = [torch.FloatStorage, torch.HalfStorage, torch.DoubleStorage, torch.LongStorage, torch.IntStorage,
                torch.ShortStorage, torch.CharStorage, torch.ByteStorage, torch.BoolStorage, torch.BFloat16Storage]
INDEX = st.one_of(st.integers(0, 8), st.sampled_from([-1, 2 ** 31, 2 ** 62, 2 ** 63]))


@st.composite
def lying_storages(draw):
    """One storage of random dtype and element count, member/data bytes that may not match, 1-3 views of it."""
    storage_type = draw(st.sampled_from(TORCH_DTYPES))
    honest = draw(st.booleans())  # half the cases: every number in range, so the views are often in bounds
    index = st.integers(0, 3) if honest else INDEX
    numel = draw(st.integers(4 if honest else 0, 8))
    claimed = numel if honest else draw(st.one_of(st.just(numel), INDEX))
    itemsize = {torch.DoubleStorage: 8, torch.LongStorage: 8, torch.FloatStorage: 4, torch.IntStorage: 4,
                torch.HalfStorage: 2, torch.ShortStorage: 2, torch.BFloat16Storage: 2}.get(storage_type, 1)
    raw = draw(st.binary(min_size=numel * itemsize, max_size=numel * itemsize))
    if storage_type is torch.BoolStorage:
        raw = bytes(b & 1 for b in raw)  # torch reads bytes other than 0/1 as bools its own way
    storage = Storage("0", storage_type, claimed)
    views = {}
    for i in range(draw(st.integers(1, 3))):
        ndim = draw(st.integers(0, 3))
        size = tuple(draw(index) for _ in range(ndim))
        stride = tuple(draw(index) for _ in range(ndim if honest else draw(st.sampled_from([ndim, ndim + 1]))))
        views[f"v{i}"] = Tensor(storage, draw(index), size, stride)
    return views, {"0": raw}, numel


@fuzz(200)
@given(case=lying_storages(), crafter=st.sampled_from([craft_zip, craft_legacy]))
def test_lying_storages_and_views(tmp_path, case, crafter):
    """In bounds, our arrays equal torch's (as_strided of the same storage); out of bounds, CheckpointError."""
    views, storages, numel = case
    path = new_path(tmp_path, ".bin")
    if crafter is craft_legacy:
        craft_legacy(path, views, storages, counts={"0": numel})
    else:
        craft_zip(path, views, storages)
    check_promise(path, load_torch_bin, reference_torch)
