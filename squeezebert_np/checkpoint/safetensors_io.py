"""Read and write safetensors files with NumPy: memory-mapped, zero-copy, every header field checked.

The format (huggingface/safetensors; TORCH_BIN.md §9) is three parts:

    [8 bytes: N, little-endian u64] [N bytes: UTF-8 JSON header] [data section]

    header = {"__metadata__": {"format": "pt"},                       optional, str -> str
              "bias":   {"dtype": "F32", "shape": [768], "data_offsets": [0, 3072]},
              "weight": {"dtype": "F16", "shape": [768, 192, 1], "data_offsets": [3072, 298_128]}, ...}

`data_offsets` are byte offsets into the data section, which the tensors tile exactly: no gaps, no overlaps, no
trailing bytes (the safetensors library refuses these too). There is nothing to execute, so the only dangers are
numbers that lie; each is checked before an array is made. We are stricter than the library in one place: a
header that names a tensor twice (JSON allows it, the library keeps the last) is refused.

A hostile header must not cost more than a real one of its size. The header is at most 100 MB (the library's
limit) and describes at most `MAX_TENSORS` = 100,000 tensors (a SqueezeBERT checkpoint has about 200; transformers
shards checkpoints by size, so even the largest models put a few thousand in one file). Before `json.loads` builds
a Python object per JSON value, the header's `{`, `[` and `,` outside strings are counted (a C-speed scan), so
a 40 MB header of three million empty entries is refused in well under a second instead of costing a gigabyte;
every later check is linear or a sort.

Reading maps the file and returns read-only NumPy views of it (`np.frombuffer` over a read-only `mmap`): nothing
is copied, pages are read when first touched, and nothing can write into the file. BF16 (no NumPy dtype) is
widened to float32 exactly, which copies that tensor. `safetensors.numpy.load_file` copies every tensor instead.
Writing produces the same bytes as `safetensors.numpy.save` (tensors ordered by dtype, then name; header padded
with spaces to a multiple of 8, so every tensor stays aligned), through a temporary file and `os.replace`.
"""
import json
import math
import mmap
import os
import reprlib
import secrets
import stat
import struct

import numpy as np

from ..errors import CheckpointError, CheckpointFileError, SqueezeBertError, WriteError

# safetensors dtype name -> NumPy dtype (little-endian). BF16 is read as its raw bits and widened to float32.
DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
}
# The order the safetensors library lays tensors out in (descending order of its Dtype enum), for byte-equal files.
WRITE_ORDER = ["U64", "I64", "F64", "F32", "U32", "I32", "F16", "U16", "I16", "I8", "U8", "BOOL"]
NAME_OF_DTYPE = {np.dtype(DTYPES[name]): name for name in WRITE_ORDER}
MAX_HEADER_SIZE = 100_000_000  # the safetensors library's own limit (MAX_HEADER_SIZE in tensor.rs)
METADATA_KEY = "__metadata__"
MAX_NDIM = 32  # NumPy 1.x's limit on dimensions (NumPy 2: 64); no weight comes close
MAX_TENSORS = 100_000  # far above any real file (module docstring); bounds the work and memory per header
# What a header of MAX_TENSORS entries needs at most: 3 containers per entry ({...}, shape and data_offsets) plus
# the header and __metadata__ objects, and a few commas per entry (ndim + 3; an average ndim of 7 is allowed).
MAX_CONTAINERS = 3 * MAX_TENSORS + 2
MAX_COMMAS = 10 * MAX_TENSORS

_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxstring = _SHORT_REPR.maxother = 60


def describe(value):
    """A short repr of a value read from a file, for error messages: bounded in length and nesting depth
    (`reprlib`), even for a huge int, whose decimal repr Python refuses past 4300 digits."""
    try:
        return _SHORT_REPR.repr(value)
    except ValueError:
        return f"<a huge {type(value).__name__}>"


def looks_like_safetensors(head):
    """True if the first bytes are an 8-byte header length followed by `{` (how every safetensors file starts)."""
    return len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") >= 2


def open_checkpoint(path):
    """`open(path, "rb")` for a checkpoint file, or CheckpointFileError naming the path: missing, a folder,
    unreadable, or not a regular file (a FIFO would block forever and a device never ends)."""
    source = os.fspath(path)
    try:
        if not stat.S_ISREG(os.stat(source).st_mode):
            kind = "a folder" if os.path.isdir(source) else "not a regular file"
            raise CheckpointFileError(f"{source} is {kind}, not a checkpoint file")
        return open(source, "rb")
    except CheckpointFileError:
        raise
    except (OSError, ValueError) as err:  # ValueError: a NUL byte in the path
        error = CheckpointFileError(f"cannot open the checkpoint file {source}: "
                                    f"{getattr(err, 'strerror', None) or err}")
        error.errno = getattr(err, "errno", None)
        raise error from None


def map_file(file):
    """The whole open file as a read-only buffer: an `mmap` (pages are read on first touch and never written),
    or, where mapping is impossible (some network file systems), the bytes read into memory."""
    try:
        return mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        file.seek(0)
        return file.read()


# ---- reading: the header ----

def _reject_duplicates(pairs):
    """`object_pairs_hook` for json.loads: a dict, or ValueError naming the first repeated key (linear time)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"duplicate key {describe(duplicate)}")
    return obj


def _reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def header_length(head, file_size, source):
    """The header length N from the first 8 bytes of `head`, checked against the limit and the file size before
    anything is read or allocated (a corrupt length field can claim e.g. 2**60 bytes)."""
    if file_size < 8 or len(head) < 8:
        raise CheckpointError(f"{source}: {file_size} bytes is too short for a safetensors file")
    length = int.from_bytes(head[:8], "little")
    if length > MAX_HEADER_SIZE:
        raise CheckpointError(f"{source}: header length {length} is over the {MAX_HEADER_SIZE}-byte limit: not a "
                              f"safetensors file, or corrupt (first bytes {bytes(head[:16])!r})")
    if 8 + length > file_size:
        raise CheckpointError(f"{source}: header length {length} runs past the end of the {file_size}-byte file "
                              "(truncated, or not a safetensors file)")
    return length


def structure_counts(raw, exact=False):
    """`(containers, commas)`: how many `{` or `[`, and how many `,`, the JSON text holds. json.loads builds one
    Python object per container and at most two per comma, so these bound its memory before it runs.

    The quick count includes characters inside strings (names, metadata), so it can only overcount; `exact=True`
    skips strings: escaped quotes and backslashes are removed, then a position is inside a string when an odd
    number of quotes precede it (NumPy, in chunks, so memory stays small whatever the size).
    """
    if not exact:
        return raw.count(b"{") + raw.count(b"["), raw.count(b",")
    data = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    containers = commas = inside = 0
    for start in range(0, len(data), 1 << 20):
        chunk = np.frombuffer(data, np.uint8, count=min(1 << 20, len(data) - start), offset=start)
        parity = (np.cumsum(chunk == ord('"'), dtype=np.uint8) + np.uint8(inside)) & 1  # uint8 wraps: parity kept
        outside = parity == 0
        containers += int(np.count_nonzero(outside & ((chunk == ord("{")) | (chunk == ord("[")))))
        commas += int(np.count_nonzero(outside & (chunk == ord(","))))
        inside = int(parity[-1])
    return containers, commas


def check_structure(raw, source, what="the safetensors header", limits=(MAX_CONTAINERS, MAX_COMMAS)):
    """Refuse JSON that would make json.loads build more objects than `MAX_TENSORS` entries need (`limits`:
    at most so many containers and commas)."""
    counts = structure_counts(raw)
    if counts[0] > limits[0] or counts[1] > limits[1]:
        counts = structure_counts(raw, exact=True)
    if counts[0] > limits[0] or counts[1] > limits[1]:
        raise CheckpointError(f"{source}: {what} holds {counts[0]} JSON objects/arrays and {counts[1]} commas; "
                              f"at most {MAX_TENSORS} tensors need at most {limits[0]} and {limits[1]}")


def decode_header(raw, source):
    """The JSON header bytes -> dict, strictly: UTF-8, a JSON object of bounded size (`check_structure`), no
    duplicate keys, no NaN/Infinity."""
    raw = bytes(raw)
    check_structure(raw, source)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise CheckpointError(f"{source}: the safetensors header is not UTF-8 ({err})") from None
    try:
        header = json.loads(text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:
        raise CheckpointError(f"{source}: the safetensors header is not valid JSON ({err})") from None
    if type(header) is not dict:
        raise CheckpointError(f"{source}: the safetensors header is not a JSON object")
    if len(header) - (METADATA_KEY in header) > MAX_TENSORS:
        raise CheckpointError(f"{source}: the safetensors header describes {len(header) - (METADATA_KEY in header)} "
                              f"tensors, more than the limit of {MAX_TENSORS}")
    return header


def check_metadata(metadata, source):
    """`__metadata__` must be a str -> str mapping (the format allows nothing else)."""
    if type(metadata) is not dict or any(type(k) is not str or type(v) is not str for k, v in metadata.items()):
        raise CheckpointError(f"{source}: __metadata__ must map strings to strings, got {describe(metadata)}")
    return metadata


def check_entry(name, entry, source):
    """One tensor's header entry -> `(dtype name, shape tuple, begin, end)`, each field checked, and
    `end - begin == prod(shape) * itemsize`."""
    where = f"{source}: tensor {describe(name)}"
    if type(entry) is not dict or not {"dtype", "shape", "data_offsets"} <= entry.keys():
        raise CheckpointError(f"{where}: the entry must have dtype, shape and data_offsets, got {describe(entry)}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if type(dtype) is not str or dtype not in DTYPES:
        raise CheckpointError(f"{where}: unknown or unsupported dtype {describe(dtype)} "
                              f"(supported: {', '.join(DTYPES)})")
    if (type(shape) is not list or len(shape) > MAX_NDIM
            or any(type(n) is not int or not 0 <= n < 2 ** 64 for n in shape)):
        raise CheckpointError(f"{where}: shape must be a list of at most {MAX_NDIM} non-negative ints, "
                              f"got {describe(shape)}")
    if (type(offsets) is not list or len(offsets) != 2 or any(type(o) is not int for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] < 2 ** 64):
        raise CheckpointError(f"{where}: data_offsets must be [begin, end] with 0 <= begin <= end, "
                              f"got {describe(offsets)}")
    begin, end = offsets
    expected = math.prod(shape) * np.dtype(DTYPES[dtype]).itemsize
    if end - begin != expected:
        raise CheckpointError(f"{where}: shape {shape} of {dtype} needs {expected} bytes but data_offsets "
                              f"[{begin}, {end}] span {end - begin}")
    return dtype, tuple(shape), begin, end


def check_tiling(entries, data_size, source):
    """The tensors' byte ranges must tile the data section exactly: no overlap, no gap, nothing past the end."""
    position, previous = 0, None
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda item: item[1][2:]):
        if end > data_size:
            raise CheckpointError(f"{source}: tensor {describe(name)} ends at byte {end} of a data section of "
                                  f"{data_size} bytes (truncated file?)")
        if begin < position:
            raise CheckpointError(f"{source}: tensors {describe(previous)} and {describe(name)} overlap")
        if begin > position:
            raise CheckpointError(f"{source}: a gap of {begin - position} bytes before tensor {describe(name)}")
        position, previous = end, name
    if position != data_size:
        raise CheckpointError(f"{source}: {data_size - position} bytes after the last tensor are described by "
                              "no header entry")


def read_header(path):
    """Parse and check a safetensors file's header without reading any tensor.

    Returns `(entries, metadata, data_start)`: `entries` maps each name, in header order, to
    `(dtype name, shape, begin, end)` with offsets relative to `data_start`; `metadata` is the `__metadata__`
    dict or None.
    """
    source = os.fspath(path)
    with open_checkpoint(source) as file:
        return checked_header(map_file(file), source)


def checked_header(buffer, source):
    """The checks of `read_header`, on the whole file as a buffer."""
    length = header_length(buffer[:16], len(buffer), source)
    header = decode_header(memoryview(buffer)[8:8 + length], source)
    metadata = check_metadata(header.pop(METADATA_KEY), source) if METADATA_KEY in header else None
    entries = {name: check_entry(name, entry, source) for name, entry in header.items()}
    check_tiling(entries, len(buffer) - 8 - length, source)
    return entries, metadata, 8 + length


# ---- reading: the tensors ----

def empty_array(shape, dtype, what):
    """A read-only array with no elements. NumPy refuses a shape whose other dimensions multiply past its size
    limit even when one is 0, e.g. (0, 2**62); that becomes a CheckpointError."""
    try:
        array = np.empty(shape, dtype)
    except ValueError:
        raise CheckpointError(f"{what}: shape {describe(list(shape))} is too large for NumPy, "
                              "though it holds no element") from None
    array.flags.writeable = False
    return array


def tensor_view(buffer, dtype_name, shape, offset, what):
    """A read-only array of `shape` at byte `offset` of `buffer` (already bounds-checked). BF16 -> float32."""
    if 0 in shape:
        return empty_array(shape, np.float32 if dtype_name == "BF16" else DTYPES[dtype_name], what)
    array = np.frombuffer(buffer, dtype=DTYPES[dtype_name], count=math.prod(shape), offset=offset)
    if dtype_name == "BF16":
        array = (array.astype(np.uint32) << 16).view(np.float32)  # exact: bf16 is a float32's top half
    elif not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))  # big-endian machines only
    array = array.reshape(shape)
    array.flags.writeable = False
    return array


def load_safetensors(path):
    """Read a safetensors file into `{name: read-only np.ndarray}` (header order), memory-mapped, zero-copy.

    dtypes as stored (F64/F32/F16/I64/.../U8/BOOL), except BF16, widened to float32. The arrays keep the
    mapping alive; replacing the file with `os.replace` (as `save_safetensors` does) is safe meanwhile, but
    truncating it in place would make touching an array crash the process (SIGBUS), as with any mapping.
    """
    source = os.fspath(path)
    with open_checkpoint(source) as file:
        buffer = map_file(file)
    entries, _, data_start = checked_header(buffer, source)
    return {name: tensor_view(buffer, dtype, shape, data_start + begin, f"{source}: tensor {describe(name)}")
            for name, (dtype, shape, begin, _) in entries.items()}


# ---- writing ----

def checked_tensors(tensors):
    """`{name: array}` -> `[(name, safetensors dtype, array)]` in the library's order, every input checked."""
    if not isinstance(tensors, dict):
        raise CheckpointError(f"tensors must be a dict of name -> np.ndarray, got {type(tensors).__name__}")
    checked = []
    for name, array in tensors.items():
        if type(name) is not str or name == METADATA_KEY:
            raise CheckpointError(f"tensor names must be strings other than {METADATA_KEY!r}, got {describe(name)}")
        if not isinstance(array, np.ndarray):
            raise CheckpointError(f"tensor {name!r}: expected np.ndarray, got {type(array).__name__}")
        dtype_name = NAME_OF_DTYPE.get(array.dtype.newbyteorder("<"))
        if dtype_name is None:
            raise CheckpointError(f"tensor {name!r}: dtype {array.dtype} has no safetensors equivalent "
                                  f"(supported: {', '.join(str(d) for d in NAME_OF_DTYPE)})")
        checked.append((name, dtype_name, array))
    return sorted(checked, key=lambda item: (WRITE_ORDER.index(item[1]), item[0]))


def build_header(checked, metadata):
    """The header bytes: compact JSON (metadata first), padded with spaces to a multiple of 8 bytes."""
    if metadata is not None:
        if not isinstance(metadata, dict) or any(type(k) is not str or type(v) is not str
                                                 for k, v in metadata.items()):
            raise CheckpointError(f"metadata must map strings to strings, got {describe(metadata)}")
    header, position = ({METADATA_KEY: metadata} if metadata is not None else {}), 0
    for name, dtype_name, array in checked:
        header[name] = {"dtype": dtype_name, "shape": list(array.shape),
                        "data_offsets": [position, position + array.nbytes]}
        position += array.nbytes
    try:
        raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as err:
        raise CheckpointError(f"a tensor name or metadata string is not valid Unicode ({err})") from None
    return raw + b" " * (-len(raw) % 8)


def write_atomically(path, write):
    """Call `write(file)` on a new temporary file next to `path`, then `os.replace` it onto `path`.

    Readers never see a half-written file, a failure leaves no file behind, and arrays still mapping the old
    file stay valid (it keeps its inode). The temporary file is created with mode 0o666 minus the umask, like
    `open(path, "wb")`, unlike `tempfile.mkstemp`'s 0o600.
    """
    target = os.fspath(path)
    temporary = os.path.join(os.path.dirname(os.path.abspath(target)),
                             f".{os.path.basename(target)}.{secrets.token_hex(6)}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as err:
        raise _write_error(target, err) from None
    try:
        with os.fdopen(descriptor, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException as err:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        if isinstance(err, OSError) and not isinstance(err, SqueezeBertError):
            raise _write_error(target, err) from None
        raise


def make_folder(path):
    """`os.makedirs(path, exist_ok=True)`, with our WriteError when the system refuses (a file in the way...)."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as err:
        raise _write_error(os.fspath(path), err) from None


def _write_error(target, err):
    """Our WriteError for an OSError met while writing `target` (EFBIG under RLIMIT_FSIZE, ENOSPC, EACCES...)."""
    error = WriteError(f"cannot write {target}: {err.strerror or err}")
    error.errno = err.errno
    return error


def save_safetensors(tensors, path, metadata=None):
    """Write `{name: np.ndarray}` to `path` as safetensors, atomically; the bytes equal `safetensors.numpy.save`'s.

    Supported dtypes: float64/32/16, int64/32/16/8, uint64/32/16/8, bool (any byte order; written little-endian).
    transformers' own files carry `metadata={"format": "pt"}`. Arrays are written one at a time, so memory
    stays at the size of the largest non-contiguous array.
    """
    checked = checked_tensors(tensors)
    header = build_header(checked, metadata)

    def write(file):
        file.write(struct.pack("<Q", len(header)))
        file.write(header)
        for _, _, array in checked:
            contiguous = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
            file.write(contiguous.reshape(-1).view(np.uint8))

    write_atomically(path, write)
