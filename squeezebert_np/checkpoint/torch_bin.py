"""Read `pytorch_model.bin` with NumPy: no torch, and no code from the file is ever run.

`torch.save` has written two containers (TORCH_BIN.md §1-3):

- the **zip format** (torch >= 1.6): a zip whose members are stored uncompressed, `<folder>/data.pkl` (the pickled
  state dict) plus one member `<folder>/data/<key>` of raw bytes per storage;
- the **legacy format** (torch < 1.6, or `_use_new_zipfile_serialization=False`): five pickles in a row (magic
  number, protocol version, sys info, the state dict, the list of storage keys), then each storage's bytes.

Either way the state dict is a pickle, and unpickling calls whatever the pickle names: a hostile file can call
`os.system`. So the pickle goes through an unpickler that resolves only the few globals a state dict needs, each to
our own stand-in (§5), and refuses any other name with `UnsafeCheckpointError` before anything runs. Before that,
its opcodes are walked once without running them (`pickletools.genops`), so that no length or memo index in the
pickle can make the unpickler allocate memory the file does not back. The stand-ins build no tensors: they record
`(storage, offset, size, stride)`. Arrays are made at the end, once every number has been checked against the
bytes the file really holds (§7).

What `load_torch_bin` returns: `{name: np.ndarray}` in the file's key order, native byte order, the stored dtype
(float32, float16, float64, int64, int32, int16, int8, uint8, bool), except bfloat16, which NumPy lacks and which
is widened to float32 exactly (§8). Every array is **read-only**. Zip files are memory-mapped, so their arrays are
zero-copy views of the file (tied weights and views share memory, as in torch); legacy files are read into memory,
because their data is not aligned. Use `np.array(a)` for a writable copy.
"""
import collections
import functools
import io
import math
import os
import pickle
import pickletools
import struct
import zipfile
import zlib

import numpy as np

from ..errors import CheckpointError, UnsafeCheckpointError
from .safetensors_io import (MAX_NDIM, MAX_TENSORS, describe, empty_array, looks_like_safetensors, map_file,
                             open_checkpoint)

# ---- telling formats apart by their first bytes (TORCH_BIN.md §1) ----

ZIP_MAGIC = b"PK\x03\x04"
LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER, the legacy format's first pickle
LEGACY_PROTOCOL_VERSION = 1001  # torch.serialization.PROTOCOL_VERSION, its second pickle
HEAD_SIZE = 512  # enough bytes to recognise every format below (tar puts "ustar" at offset 257)


def foreign_file_hint(head):
    """What a file is instead of a torch checkpoint, judged from its first bytes, or None if it may be one.

    Example: a clone made without git-lfs holds 130-byte text files starting "version https://git-lfs...".
    """
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"version https://git-lfs"):
        return ("a Git LFS pointer (a small text file), not the weights: the repository was cloned without "
                "git-lfs. Run `git lfs install && git lfs pull` in it, or download the file from the hub")
    if text.startswith((b"<!doctype", b"<html", b"<?xml")):
        return ("an HTML/XML page, not the weights: an error or login page was saved in place of the file. "
                "Download it again (a gated repository needs a token)")
    if head[257:262] == b"ustar":
        return ("a tar archive, the pre-2018 format of early torch versions, which this reader (like "
                "torch.load(weights_only=True)) does not read. Load it with a torch you trust and re-save it with "
                "torch.save(state_dict, path)")
    if looks_like_safetensors(head):
        return "a safetensors file, not a torch pickle: read it with load_safetensors or read_checkpoint_file"
    return None


# ---- the stand-ins: what the allowed globals resolve to (TORCH_BIN.md §4-6) ----

class _StandIn:
    """Base of everything our unpickler hands to a pickle: the BUILD opcode cannot change one (§6)."""
    __slots__ = ()

    def __setstate__(self, state):
        raise UnsafeCheckpointError(f"the pickle tries to set the state of {self!r}; a state dict never does")


class StorageType(_StandIn):
    """Stands for `torch.FloatStorage` & co.: a dtype tag. The storage class, not the tensor, carries the dtype."""
    __slots__ = ("name", "dtype")

    def __init__(self, name, dtype):
        self.name, self.dtype = name, np.dtype(dtype)

    def __repr__(self):
        return f"torch.{self.name}"


# §8. bfloat16 is read as its raw 16 bits ("u2") and widened to float32 by `widen_bfloat16`.
STORAGE_TYPES = {name: StorageType(name, dtype) for name, dtype in [
    ("DoubleStorage", "f8"), ("FloatStorage", "f4"), ("HalfStorage", "f2"), ("BFloat16Storage", "u2"),
    ("LongStorage", "i8"), ("IntStorage", "i4"), ("ShortStorage", "i2"), ("CharStorage", "i1"),
    ("ByteStorage", "u1"), ("BoolStorage", "?"),
]}


class TensorType(_StandIn):
    """Stands for `torch.Tensor` / `torch.nn.Parameter` in `_rebuild_from_type_v2`: a name only."""
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


class StorageRef(_StandIn):
    """A storage as the pickle names it: ('storage', StorageType, key, location, numel). The bytes come later."""
    __slots__ = ("key", "type", "numel")

    def __init__(self, key, storage_type, numel):
        self.key, self.type, self.numel = key, storage_type, numel

    def __repr__(self):
        return f"storage {describe(self.key)} ({self.type!r}, {self.numel} elements)"


class TensorRef(_StandIn):
    """A tensor as `_rebuild_tensor_v2` describes it: a view (offset, size, stride) of a storage, in elements."""
    __slots__ = ("storage", "offset", "size", "stride")

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride

    def __repr__(self):
        return f"tensor(size={self.size}, stride={self.stride}, offset={self.offset}, {self.storage!r})"


class Rebuilder(_StandIn):
    """A function the pickle may call (e.g. `torch._utils._rebuild_tensor_v2`), mapped to our own `func`."""
    __slots__ = ("name", "func")

    def __init__(self, name, func):
        self.name, self.func = name, func

    def __call__(self, *args):
        return self.func(*args)

    def __repr__(self):
        return self.name


def _check_index(value, what):
    """A non-negative int64 (a Python int, not a bool): what torch's offsets, sizes, strides and numels are."""
    if type(value) is not int or not 0 <= value < 2 ** 63:
        raise CheckpointError(f"{what} must be a non-negative int64, got {describe(value)}")
    return value


def _check_shape(values, what):
    if type(values) is not tuple or len(values) > MAX_NDIM:  # the length first: a memoized tuple can be huge
        raise CheckpointError(f"{what} must be a tuple of at most {MAX_NDIM} dimensions, got {describe(values)}")
    return tuple(_check_index(v, what) for v in values)


def rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    """Our `torch._utils._rebuild_tensor_v2` (and v1, which lacks the last three arguments).

    torch calls `tensor.set_(storage, storage_offset, size, stride)`; we only check the arguments and keep them.
    `requires_grad` and `backward_hooks` do not matter for weights; `metadata` carries conj/neg bits, which real
    tensors never have: refuse it rather than return wrong numbers.
    """
    if type(storage) is not StorageRef:
        raise CheckpointError(f"a tensor's storage must come from a persistent id, got {type(storage).__name__}")
    size, stride = _check_shape(size, "tensor size"), _check_shape(stride, "tensor stride")
    if len(size) != len(stride):
        raise CheckpointError(f"tensor size {describe(size)} and stride {describe(stride)} have different lengths")
    if type(requires_grad) is not bool or not isinstance(backward_hooks, (dict, type(None))):
        raise CheckpointError("malformed tensor: requires_grad must be a bool and backward_hooks a dict")
    if metadata:
        raise CheckpointError(f"tensor metadata {describe(metadata)} (conj/neg bits) is not supported")
    return TensorRef(storage, _check_index(storage_offset, "storage offset"), size, stride)


def rebuild_parameter(data, requires_grad, backward_hooks, state=None):
    """Our `torch._utils._rebuild_parameter(_with_state)`: an nn.Parameter is just its tensor here."""
    if type(data) is not TensorRef:
        raise CheckpointError(f"a Parameter must wrap a tensor, got {type(data).__name__}")
    return data


def rebuild_from_type_v2(func, new_type, args, state):
    """Our `torch._tensor._rebuild_from_type_v2`: a tensor with Python attributes; drop the attributes."""
    if type(func) is not Rebuilder or type(new_type) is not TensorType or type(args) is not tuple or len(args) > 7:
        raise CheckpointError("malformed _rebuild_from_type_v2 call")
    tensor = func(*args)
    if type(tensor) is not TensorRef:
        raise CheckpointError(f"_rebuild_from_type_v2 must rebuild a tensor, got {type(tensor).__name__}")
    return tensor


class StateDict(collections.OrderedDict):
    """Stands for `collections.OrderedDict`, the type of a state dict and of `backward_hooks`.

    torch pickles one as `OrderedDict()` (no argument), then SETITEMS, then BUILD with its attributes
    (`_metadata`, per-module versions). Here the call takes no argument and BUILD keeps nothing: otherwise each
    would copy a memoized container at every use, a few pickle bytes costing time and memory without bound.
    """

    def __init__(self, *args, **kwargs):
        if args or kwargs:
            raise CheckpointError("collections.OrderedDict is called with arguments; torch never pickles it so")
        super().__init__()

    def __setstate__(self, state):
        pass  # `_metadata` is not needed to read the weights


def encode_latin1(text, encoding, cache):
    """Our `_codecs.encode`: protocol 2 pickles `bytes` as `_codecs.encode(str, "latin1")`; allow only that.

    Each distinct string is encoded once per pickle (`cache`), so a memoized string encoded again and again
    (a few bytes of pickle each time) costs no new memory.
    """
    if type(text) is not str or encoding not in ("latin1", "latin-1"):
        raise CheckpointError("_codecs.encode is allowed only as encode(str, 'latin1')")
    if text not in cache:
        cache[text] = text.encode("latin-1")
    return cache[text]


def _rebuilder(module, name, func):
    return (module, name), Rebuilder(f"{module}.{name}", func)


# Every global a state dict pickle may name, and what it becomes (§5). Nothing else resolves. `_codecs.encode`
# is added per pickle (`unpickle`), with its own cache.
ALLOWED_GLOBALS = dict([
    (("collections", "OrderedDict"), StateDict),
    _rebuilder("torch._utils", "_rebuild_tensor", rebuild_tensor),
    _rebuilder("torch._utils", "_rebuild_tensor_v2", rebuild_tensor),
    _rebuilder("torch._utils", "_rebuild_parameter", rebuild_parameter),
    _rebuilder("torch._utils", "_rebuild_parameter_with_state", rebuild_parameter),
    _rebuilder("torch._tensor", "_rebuild_from_type_v2", rebuild_from_type_v2),
    (("torch", "Tensor"), TensorType("torch.Tensor")),
    (("torch.nn.parameter", "Parameter"), TensorType("torch.nn.parameter.Parameter")),
    *((("torch", name), storage_type) for name, storage_type in STORAGE_TYPES.items()),
])


# ---- the restricted unpickler ----

class RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` whose `find_class` looks names up in `allowed` and refuses the rest.

    Every way a pickle can reach a Python object by name (GLOBAL, STACK_GLOBAL of protocol 4, INST, EXT1/2/4)
    goes through `find_class`, so nothing outside `allowed` can be called. `persistent_id`s (the storages)
    go to `on_persistent_id`; without one, any persistent id is an error.
    """

    def __init__(self, file, source, allowed, on_persistent_id=None):
        super().__init__(file, encoding="utf-8")  # utf-8 like torch.load, for Python 2 era `str`s
        self.source, self.allowed, self.on_persistent_id = source, allowed, on_persistent_id

    def find_class(self, module, name):
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        allowed = ", ".join(sorted(f"{m}.{n}" for m, n in self.allowed)) or "none in this pickle"
        raise UnsafeCheckpointError(
            f"{self.source}: the pickle asks for the global {module:.100}.{name:.100}, which is not on the "
            f"allowlist; refused before anything ran (allowed: {allowed})")

    def persistent_load(self, pid):
        if self.on_persistent_id is None:
            raise CheckpointError(f"{self.source}: unexpected persistent id in this pickle")
        return self.on_persistent_id(pid)


class BufferReader:
    """The file interface `pickletools.genops` needs (read, readline, tell) over a buffer (bytes or mmap) from
    `position`, without copying it. Reads are clamped to what is there, so a length field that lies allocates
    nothing."""

    def __init__(self, buffer, position=0):
        self.buffer, self.position = buffer, position

    def read(self, n=-1):
        end = len(self.buffer) if n < 0 else min(self.position + n, len(self.buffer))
        chunk, self.position = self.buffer[self.position:end], end
        return chunk

    def readline(self):
        newline = self.buffer.find(b"\n", self.position)
        return self.read(-1 if newline < 0 else newline + 1 - self.position)

    def tell(self):
        return self.position


MEMO_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}
MAX_OPCODES = 64 * MAX_TENSORS   # torch.save spends ~32 opcodes a tensor; this bounds the walk (~3 s) of a hostile one


def pickle_end(buffer, start, source):
    """Walk the opcodes of the pickle at `buffer[start:]` without running any, and return where it ends.

    `genops` reads each opcode's argument, so a length field (BINBYTES8, BINUNICODE8, ...) claiming more bytes
    than follow fails here. Memo indices are checked too: the C unpickler grows its memo table to twice the
    largest index it sees, so a 12-byte pickle with `LONG_BINPUT 2**30` would zero-fill 16 GB. An honest pickle
    numbers its memo entries 0, 1, 2, ..., which is never more than its length in bytes. A state dict of at most
    MAX_TENSORS tensors needs far fewer than MAX_OPCODES opcodes, so a longer pickle is refused as soon as it
    passes that count (walking a 100 MB one would take ~40 s).
    """
    reader = BufferReader(buffer, start)
    try:
        for count, (opcode, argument, _) in enumerate(pickletools.genops(reader)):
            if opcode.name in MEMO_PUTS and argument > reader.position - start:
                raise CheckpointError(f"{source}: memo index {argument} in a pickle of "
                                      f"{reader.position - start} bytes")
            if count >= MAX_OPCODES:
                raise CheckpointError(f"{source}: a pickle of more than {MAX_OPCODES:,} opcodes is not a state dict "
                                      f"of at most {MAX_TENSORS:,} tensors")
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 - genops raises ValueError (and others) for corrupt opcodes
        raise CheckpointError(f"{source}: truncated or corrupt pickle at byte {reader.position} ({err})") from err
    return reader.position


def unpickle(buffer, start, source, allowed=None, on_persistent_id=None):
    """Load the pickle at `buffer[start:]` with `RestrictedUnpickler` (no globals at all unless `allowed`).

    Returns `(object, end position)`. The opcodes are checked first (`pickle_end`). Whatever a corrupt pickle
    then makes the unpickler raise (EOFError, UnpicklingError, TypeError from calling a non-callable...)
    becomes a CheckpointError; ours pass through.
    """
    end = pickle_end(buffer, start, source)
    if allowed:  # `_codecs.encode` with a cache of this pickle's own
        encode = Rebuilder("_codecs.encode", functools.partial(encode_latin1, cache={}))
        allowed = {**allowed, ("_codecs", "encode"): encode}
    try:
        return RestrictedUnpickler(io.BytesIO(buffer[start:end]), source, allowed or {}, on_persistent_id).load(), end
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure of a pickle made only of allowed names means "corrupt"
        raise CheckpointError(f"{source}: corrupt pickle ({type(err).__name__}: {describe(str(err))})") from err


def storage_table(source, pid_length):
    """A `persistent_load` for storages, and the dict of `StorageRef`s it fills in, by key.

    The persistent id is `('storage', StorageType, key, location, numel)` in the zip format, with a sixth
    element `view_metadata=None` in the legacy format (§2-3). The location (e.g. 'cuda:0') is ignored.
    """
    storages = {}

    def on_persistent_id(pid):
        if type(pid) is not tuple or len(pid) != pid_length or pid[0] != "storage":
            if type(pid) is tuple and pid and pid[0] == "module":
                raise CheckpointError(f"{source} holds a pickled nn.Module, not a state dict; re-save it with "
                                      "torch.save(model.state_dict(), path)")
            raise CheckpointError(f"{source}: unexpected persistent id {describe(pid)}")
        _, storage_type, key, location, numel = pid[:5]
        if type(storage_type) is not StorageType or type(key) is not str or type(location) is not str:
            raise CheckpointError(f"{source}: malformed storage id {describe(pid)}")
        if pid_length == 6 and pid[5] is not None:
            raise CheckpointError(f"{source}: storage views (view_metadata, from old torch versions) are not supported")
        numel = _check_index(numel, "storage numel")
        ref = storages.setdefault(key, StorageRef(key, storage_type, numel))
        if ref.type is not storage_type or ref.numel != numel:
            raise CheckpointError(f"{source}: storage {describe(key)} is named twice with different dtype or size")
        return ref

    return on_persistent_id, storages


def flat_state_dict(obj, source):
    """Check that the unpickled object is a flat `{str: tensor}` mapping and return its items, in order.

    `dict.items(obj)`, not `obj.items()`: BUILD can set attributes on the OrderedDict (that is how torch's
    `_metadata` arrives), which could shadow its methods (§6).
    """
    if type(obj) not in (dict, StateDict):
        raise CheckpointError(f"{source}: expected a state dict (a mapping of names to tensors), "
                              f"got {type(obj).__name__}")
    items = list(dict.items(obj))
    for name, value in items:
        if type(name) is not str or type(value) is not TensorRef:
            hint = " (a training checkpoint? save model.state_dict() instead)" if type(value) is not TensorRef else ""
            raise CheckpointError(f"{source}: expected a flat mapping str -> tensor, got {describe(name)} -> "
                                  f"{type(value).__name__}{hint}")
    return items


# ---- storages to arrays: bounds checks before any view (TORCH_BIN.md §7-8) ----

def widen_bfloat16(bits):
    """bfloat16 (raw uint16 bits) -> float32, exactly: bf16 is the top half of a float32 (§8).

    Example: 0x3F80 -> 0x3F800000 = 1.0. Equal to torch's `tensor.float()`, nan and -0.0 included.
    """
    return (bits.astype(np.uint32) << 16).view(np.float32)


def native_storage(raw, storage_type):
    """A storage's raw 1-D array -> read-only, native byte order; bf16 widened. Zero-copy when nothing changes."""
    if storage_type.name == "BFloat16Storage":
        array = widen_bfloat16(raw)
    elif not raw.dtype.isnative:
        array = raw.astype(raw.dtype.newbyteorder("="))
    else:
        array = raw
    array.flags.writeable = False
    return array


def strided_view(storage, offset, size, stride, what):
    """The tensor torch builds with `set_(storage, offset, size, stride)`, as a read-only NumPy view.

    `as_strided` checks no bounds and would read whatever memory lies past the storage, so first (§7):
    the last element `offset + sum((size[i] - 1) * stride[i])` must lie inside the storage, and the view
    may not have more elements than the storage (expanded views never occur in state dicts). Strides of
    size-1 dimensions never move, so they become 0 (torch allows any value there; in bytes it may overflow).
    """
    if len(size) > MAX_NDIM:
        raise CheckpointError(f"{what} has {len(size)} dimensions, more than {MAX_NDIM}")
    if 0 in size:
        return empty_array(size, storage.dtype, what)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage.size:
        raise CheckpointError(f"{what} reads element {last} of a storage of {storage.size} elements "
                              f"(offset {offset}, size {size}, stride {stride}): out of bounds")
    if math.prod(size) > storage.size:
        raise CheckpointError(f"{what} has {math.prod(size)} elements but its storage only {storage.size}")
    strides = [s * storage.itemsize if n > 1 else 0 for n, s in zip(size, stride)]
    return np.lib.stride_tricks.as_strided(storage[offset:], shape=size, strides=strides, writeable=False)


def build_arrays(items, storage_arrays, source):
    """`[(name, TensorRef)]` and `{key: storage array}` -> `{name: np.ndarray}`, views of those storages."""
    return {name: strided_view(storage_arrays[t.storage.key], t.offset, t.size, t.stride, f"{source}: {describe(name)}")
            for name, t in items}


def used_storages(items):
    """The storages the tensors use, each once, in order of first use."""
    return list({t.storage.key: t.storage for _, t in items}.values())


# ---- the zip format (TORCH_BIN.md §2, §10) ----

LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # zip local file header, 30 bytes: ..., name length, extra length


def find_data_pkl(names, source):
    """The one `<folder>/data.pkl` member. The folder is the file stem when saved to a path, `archive` when saved
    to a buffer, so never hard-code it (§2)."""
    found = [n for n in names if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(found) != 1:
        raise CheckpointError(f"{source}: a zip, but not a torch checkpoint: expected one <folder>/data.pkl, "
                              f"found {len(found)}")
    folder = found[0][: -len("/data.pkl")]
    if f"{folder}/constants.pkl" in names:
        raise CheckpointError(f"{source} is a TorchScript archive (torch.jit.save), not a state dict")
    return found[0], folder


def member_data_start(buffer, info, source):
    """Where a stored member's bytes begin: after its *local* header, whose name and extra-field lengths can
    differ from the central directory's (torch pads the local extra field to align data to 64 bytes)."""
    end = info.header_offset + LOCAL_HEADER.size
    if end > len(buffer):
        raise CheckpointError(f"{source}: truncated zip: local header of {info.filename} past the end")
    signature, *_, name_length, extra_length = LOCAL_HEADER.unpack_from(buffer, info.header_offset)
    name = bytes(buffer[end:end + name_length])
    if signature != ZIP_MAGIC or name != info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437"):
        raise CheckpointError(f"{source}: corrupt zip: the local header of {info.filename} does not match "
                              "the central directory")
    return end + name_length + extra_length


def zip_storage(buffer, info, ref, byteorder, source):
    """The 1-D raw array of a `data/<key>` member, zero-copy from the mapped file, after checking that the member
    holds exactly `numel * itemsize` bytes inside the file and that its CRC-32 matches."""
    nbytes = ref.numel * ref.type.dtype.itemsize
    if info.file_size != nbytes or info.compress_size != nbytes:
        raise CheckpointError(f"{source}: {ref!r} needs {nbytes} bytes but its member {info.filename} holds "
                              f"{info.file_size}")
    start = member_data_start(buffer, info, source)
    if start + nbytes > len(buffer):
        raise CheckpointError(f"{source}: truncated zip: {info.filename} runs past the end of the file")
    if zlib.crc32(memoryview(buffer)[start:start + nbytes]) != info.CRC:
        raise CheckpointError(f"{source}: corrupt zip: CRC-32 mismatch in {info.filename}")
    dtype = ref.type.dtype.newbyteorder(byteorder)
    if nbytes == 0:
        return np.empty(0, dtype)
    return np.frombuffer(buffer, dtype=dtype, count=ref.numel, offset=start)


def unique_members(infolist, source):
    """`{member name: ZipInfo}`, refusing a name that occurs twice: which one a reader takes is its choice
    (zipfile takes the last), so one file could give two different models."""
    infos = {info.filename: info for info in infolist}
    if len(infos) != len(infolist):
        seen = set()
        duplicate = next(info.filename for info in infolist if info.filename in seen or seen.add(info.filename))
        raise CheckpointError(f"{source}: corrupt zip: the member {describe(duplicate)} occurs twice")
    return infos


CENTRAL_DIRECTORY_MAGIC = b"PK\x01\x02"  # starts every member's entry in the zip's central directory
MAX_MEMBERS = MAX_TENSORS + 16  # one member per storage (at most one per tensor), plus data.pkl, byteorder, ...


def check_member_count(buffer, source):
    """Refuse a zip with more than `MAX_MEMBERS` members before zipfile builds an object for each (a few hundred
    bytes per 46-byte entry). Every entry zipfile reads starts with the central directory signature, so the
    signatures in the whole file bound the count (at most MAX_MEMBERS + 1 searches, each at C speed)."""
    position = count = 0
    while count <= MAX_MEMBERS:
        position = buffer.find(CENTRAL_DIRECTORY_MAGIC, position) + 1
        if position == 0:
            return
        count += 1
    raise CheckpointError(f"{source}: a zip of more than {MAX_MEMBERS} members is not a torch checkpoint "
                          f"(at most {MAX_TENSORS} tensors)")


def read_zip_records(file, source):
    """Parse the zip directory: `(data.pkl bytes, folder, byteorder, {member name: ZipInfo})`.

    Refuses compressed or encrypted members: torch.save never compresses, so such a file is not its (and this
    rules out zip bombs, §6). Every member must lie inside the file, as the directory's numbers say: a truncated
    file gets a clear message before anything is read.
    """
    size = os.fstat(file.fileno()).st_size
    try:
        with zipfile.ZipFile(file) as archive:
            infos = unique_members(archive.infolist(), source)
            pkl_name, folder = find_data_pkl(infos, source)
            for info in infos.values():
                if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
                    raise CheckpointError(f"{source}: member {info.filename} is compressed or encrypted; "
                                          "torch.save never writes such zips, so this is not its checkpoint")
                if info.header_offset + LOCAL_HEADER.size + info.compress_size > size:
                    raise CheckpointError(f"{source}: truncated or corrupt zip: member {info.filename} runs past "
                                          "the end of the file")
            data_pkl = archive.read(pkl_name)  # checks the CRC-32
            order_name = f"{folder}/byteorder"
            byteorder = archive.read(order_name) if order_name in infos else b"little"  # absent in old files
    except CheckpointError:
        raise
    except Exception as err:  # noqa: BLE001 - BadZipFile, EOFError, struct.error, OSError...: all mean "corrupt"
        raise CheckpointError(f"{source}: truncated or corrupt zip ({type(err).__name__}: {err})") from err
    if byteorder not in (b"little", b"big"):
        raise CheckpointError(f"{source}: byteorder record must be 'little' or 'big', got {describe(byteorder)}")
    return data_pkl, folder, "<" if byteorder == b"little" else ">", infos


def load_zip(file, source):
    """The zip format: unpickle `data.pkl`, then map each used `data/<key>` member of the file (§2, §10)."""
    buffer = map_file(file)
    check_member_count(buffer, source)
    data_pkl, folder, byteorder, infos = read_zip_records(file, source)
    on_persistent_id, _ = storage_table(source, pid_length=5)
    state, _ = unpickle(data_pkl, 0, source, ALLOWED_GLOBALS, on_persistent_id)
    items = flat_state_dict(state, source)
    storage_arrays = {}
    for ref in used_storages(items):
        info = infos.get(f"{folder}/data/{ref.key}")
        if info is None:
            raise CheckpointError(f"{source}: the pickle names storage {describe(ref.key)} but the zip has no "
                                  f"member {folder}/data/{ref.key:.80}")
        storage_arrays[ref.key] = native_storage(zip_storage(buffer, info, ref, byteorder, source), ref.type)
    return build_arrays(items, storage_arrays, source)


# ---- the legacy format (TORCH_BIN.md §3) ----

def read_legacy_header(buffer, source):
    """The first three pickles: magic number, protocol version, sys info -> `(byte order "<" or ">", end)`.

    Unpickled with no globals allowed at all: they are only an int, an int and a dict.
    """
    magic, position = unpickle(buffer, 0, source)
    if type(magic) is not int or magic != LEGACY_MAGIC_NUMBER:
        raise CheckpointError(f"{source} is not a torch checkpoint: neither a zip nor a pickle starting with "
                              "torch's magic number")
    version, position = unpickle(buffer, position, source)
    if type(version) is not int or version != LEGACY_PROTOCOL_VERSION:
        raise CheckpointError(f"{source}: legacy protocol version {describe(version)} is not "
                              f"{LEGACY_PROTOCOL_VERSION}")
    sys_info, position = unpickle(buffer, position, source)
    little_endian = sys_info.get("little_endian") if type(sys_info) is dict else None
    if type(little_endian) is not bool:
        raise CheckpointError(f"{source}: malformed sys_info pickle {describe(sys_info)}")
    return ("<" if little_endian else ">"), position


def read_legacy_storage(file, ref, byteorder, remaining, source):
    """One storage of the data section: an int64 element count that must equal the pickled numel, then
    `numel * itemsize` bytes, which must fit in what is left of the file before anything is allocated."""
    count_bytes = file.read(8)
    if len(count_bytes) != 8:
        raise CheckpointError(f"{source}: truncated file: the data of {ref!r} is missing")
    count = int.from_bytes(count_bytes, "little" if byteorder == "<" else "big", signed=True)
    nbytes = ref.numel * ref.type.dtype.itemsize
    if count != ref.numel:
        raise CheckpointError(f"{source}: {ref!r} has {count} elements in the data section")
    if nbytes > remaining - 8:
        raise CheckpointError(f"{source}: truncated file: {ref!r} needs {nbytes} bytes, "
                              f"{max(remaining - 8, 0)} are left")
    raw = np.empty(ref.numel, dtype=ref.type.dtype.newbyteorder(byteorder))
    if file.readinto(raw.view(np.uint8)) != nbytes:
        raise CheckpointError(f"{source}: truncated file while reading {ref!r}")
    return raw


def load_legacy(file, source):
    """The legacy format: five pickles, then the storages in the order of the pickled key list (§3).

    The pickles are found in the mapped file one after another (each ends at its STOP opcode); the storages
    are then read into memory, because the data section is not aligned and aligned arrays are much faster.
    """
    buffer = map_file(file)
    byteorder, position = read_legacy_header(buffer, source)
    on_persistent_id, storages = storage_table(source, pid_length=6)
    state, position = unpickle(buffer, position, source, ALLOWED_GLOBALS, on_persistent_id)
    items = flat_state_dict(state, source)
    keys, position = unpickle(buffer, position, source)
    if type(keys) is not list or any(type(k) is not str for k in keys) or sorted(set(keys)) != sorted(storages):
        raise CheckpointError(f"{source}: the storage key list does not match the storages the pickle names")
    file.seek(position)
    raw = {key: read_legacy_storage(file, storages[key], byteorder, len(buffer) - file.tell(), source)
           for key in keys}
    storage_arrays = {ref.key: native_storage(raw[ref.key], ref.type) for ref in used_storages(items)}
    return build_arrays(items, storage_arrays, source)


# ---- the entry point ----

def load_torch_bin(path):
    """Read a `pytorch_model.bin` (zip or legacy format) into `{name: read-only np.ndarray}`, key order kept.

    Refuses with `UnsafeCheckpointError` any pickle that names a global off the allowlist (nothing runs), and
    with `CheckpointError` anything truncated, corrupt or out of bounds, and files that are something else
    (a Git LFS pointer, an HTML page, the pre-2018 tar format, safetensors), with a hint.
    """
    source = os.fspath(path)
    with open_checkpoint(source) as file:
        head = file.read(HEAD_SIZE)
        if not head:
            raise CheckpointError(f"{source} is empty")
        if head.startswith(ZIP_MAGIC):
            file.seek(0)
            return load_zip(file, source)
        hint = foreign_file_hint(head)
        if hint:
            raise CheckpointError(f"{source} is {hint}")
        return load_legacy(file, source)

