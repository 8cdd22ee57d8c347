# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Checkpoint files: safetensors, `pytorch_model.bin`, and why pickles are dangerous
#
# A checkpoint is a dictionary from names (`transformer.encoder.layers.0.attention.query.weight`) to arrays. Hugging
# Face stores it in one of two containers: **safetensors** (a JSON header plus raw bytes) or **`pytorch_model.bin`**
# (a zip holding a Python *pickle* plus raw bytes). The official SqueezeBERT repositories ship only the second.
#
# **Before this:** Python's `bytes` and `struct`; what a tensor's shape and dtype are. Lesson 01 is not needed.
# **Time:** about 30 minutes; no exercise. **Leaves for the next lesson:** the state dict, transformers' key names and
# the `(out, in / groups, 1)` conv weights that 03 explains.
#
# **What you'll do:** write a small checkpoint; read a safetensors header and a tensor with nothing but `struct`,
# `json` and `np.frombuffer`; open a `pytorch_model.bin` as a zip and walk its pickle opcode by opcode; build a
# malicious pickle and watch `squeezebert_np`'s reader refuse it.
#
# **What you'll learn:** the exact byte layout of both formats; how torch describes a tensor (storage, offset,
# size, stride) inside a pickle; why `pickle.load` on a downloaded file can run any code, and how an allowlist of
# globals stops that before anything runs.
#
# **What you'll need:** `squeezebert_np`. Optional: `torch`, to write the `.bin` file (that part is skipped with a
# message without it). Optional: the official weights in `$SQUEEZEBERT_DIR` (default `weights/` at the repository
# root), for a last look at the real files.

# %%
import io
import json
import os
import pickle
import pickletools
import shutil
import struct
import tempfile
import zipfile

import numpy as np
import safetensors.numpy

from squeezebert_np import SqueezeBertConfig, SqueezeBertForMaskedLM, course
from squeezebert_np.checkpoint import safetensors_io, torch_bin
from squeezebert_np.errors import UnsafeCheckpointError
from squeezebert_np.synthetic import synthetic_state_dict

# %% [markdown]
# ## A small checkpoint to look at
#
# A two-layer SqueezeBERT with hidden size 32 and a 99-token vocabulary keeps the files small enough to read. Its
# weights come from `synthetic_state_dict`: every key and shape of the real layout, values drawn from a seed.

# %%
config = SqueezeBertConfig(vocab_size=99, hidden_size=32, embedding_size=32, num_hidden_layers=2,
                           num_attention_heads=4, intermediate_size=64, max_position_embeddings=64)
model = SqueezeBertForMaskedLM(config, synthetic_state_dict(config, SqueezeBertForMaskedLM, seed=0))
state = model.state_dict()
workdir = tempfile.mkdtemp(prefix="squeezebert_np_02_")
model.save_pretrained(workdir)                      # config.json + model.safetensors
print(len(state), "keys, e.g.", list(state)[:2])
print(sorted(os.listdir(workdir)))

# %% [markdown]
# ## safetensors, by hand
#
# ```
# [8 bytes: N, little-endian uint64] [N bytes: JSON header] [data: every tensor's raw bytes, back to back]
# ```
#
# The header maps each name to its dtype, shape and `data_offsets` (begin, end) *relative to the data section*.

# %%
path = os.path.join(workdir, "model.safetensors")
with open(path, "rb") as f:
    raw = f.read()
n = struct.unpack("<Q", raw[:8])[0]                 # "<Q": little-endian unsigned 64-bit
header = json.loads(raw[8:8 + n])
data_start = 8 + n
print(f"file {len(raw)} bytes, header {n} bytes, metadata {header.pop('__metadata__')}")
for name in list(header)[:3]:
    print(f"  {name}: {header[name]}")

# %%
def read_tensor(raw, entry, data_start):
    dtype = {"F32": "<f4", "F16": "<f2", "I64": "<i8"}[entry["dtype"]]
    begin, end = entry["data_offsets"]
    return np.frombuffer(raw, dtype, count=(end - begin) // np.dtype(dtype).itemsize,
                         offset=data_start + begin).reshape(entry["shape"])

key = "transformer.encoder.layers.0.attention.query.weight"
by_hand = read_tensor(raw, header[key], data_start)
print(key, by_hand.shape, by_hand.dtype)
assert np.array_equal(by_hand, state[key])
assert np.array_equal(by_hand, safetensors_io.load_safetensors(path)[key])      # the package: memory-mapped, zero-copy

# %% [markdown]
# The query weight has shape `(32, 8, 1)`: a `Conv1d` weight `(out, in / groups, kernel)`, with 4 groups (notebook
# 03 is about that). Three more facts are visible in the header: the tensors **tile** the data section exactly (no
# gaps, no overlaps, nothing after the last one), the header is padded with spaces so that the data starts at a
# multiple of 8, and the tied MLM decoder weight is **not stored** (it *is* the word-embedding matrix; transformers
# v5 saves it once, and loaders re-tie it).

# %%
spans = sorted(tuple(e["data_offsets"]) for e in header.values())
assert spans[0][0] == 0 and spans[-1][1] == len(raw) - data_start
assert all(end == next_begin for (_, end), (next_begin, _) in zip(spans, spans[1:]))
assert data_start % 8 == 0 and raw[data_start - 1:data_start] in (b" ", b"}")
assert "cls.predictions.decoder.weight" not in header
assert state["cls.predictions.decoder.weight"] is state["transformer.embeddings.word_embeddings.weight"]
assert all(np.array_equal(v, state[k]) for k, v in safetensors.numpy.load_file(path).items())
print(f"{len(header)} tensors tile {len(raw) - data_start} data bytes; the safetensors library reads the same")

# %% [markdown]
# ## `pytorch_model.bin`: a zip with a pickle inside
#
# `torch.save(state_dict, path)` writes a zip whose members are stored uncompressed: `data.pkl` (the dictionary,
# pickled, with every tensor replaced by a *reference* to a storage) and one member `data/<key>` of raw bytes per
# storage. We write one from our state dict with torch, if torch is installed. Arrays that are the same object (the
# tied decoder weight) become one torch tensor, so they share one storage, as in the official files.

# %%
try:
    import torch
except ImportError:
    torch = None
    print("torch is not installed: skipping the pytorch_model.bin part (pip install torch to run it)")

# %%
bin_path = None
if torch is not None:
    tensors = {}                                    # id(array) -> tensor: shared arrays stay shared
    bin_state = {k: tensors.setdefault(id(v), torch.from_numpy(np.array(v))) for k, v in state.items()}
    bin_path = os.path.join(workdir, "pytorch_model.bin")
    torch.save(bin_state, bin_path)
    with zipfile.ZipFile(bin_path) as z:
        members = z.infolist()
    print(f"{len(members)} members, e.g.:")
    for m in members[:6]:
        print(f"  {m.filename:45} {m.file_size:>6} bytes  {'stored' if m.compress_type == 0 else 'compressed'}")

# %% [markdown]
# Now the pickle. `pickletools.dis` lists its opcodes **without running any of them**. A pickle is a little stack
# machine: push things, `GLOBAL` looks up a Python object by module and name, `REDUCE` *calls* it with the tuple on
# the stack. Here is the beginning, up to the first tensor:

# %%
if bin_path:
    with zipfile.ZipFile(bin_path) as z:
        pkl_name = next(name for name in z.namelist() if name.endswith("/data.pkl"))
        data_pkl = z.read(pkl_name)
    listing = io.StringIO()
    pickletools.dis(data_pkl, out=listing)
    print("\n".join(listing.getvalue().splitlines()[:37]))

# %% [markdown]
# Read it as a function call: `_rebuild_tensor_v2(storage, 0, (99, 32), (32, 1), False, OrderedDict())`, where
# `storage` is the *persistent id* `('storage', FloatStorage, '0', 'cpu', 3168)` (the `BINPERSID` opcode): "the
# float32 storage with key `0`, 3168 elements". Torch would then fetch member `data/0`, view it with offset 0,
# size (99, 32) and stride (32, 1). We can do exactly that by hand:

# %%
if bin_path:
    folder = pkl_name[:-len("data.pkl")]
    with zipfile.ZipFile(bin_path) as z:
        assert z.read(folder + "byteorder") == b"little"
        storage = np.frombuffer(z.read(folder + "data/0"), "<f4")             # 3168 floats
    offset, size, stride = 0, (99, 32), (32, 1)                                # from the listing above
    view = np.lib.stride_tricks.as_strided(storage[offset:], size, [s * 4 for s in stride])
    first = "transformer.embeddings.word_embeddings.weight"
    assert storage.size == 3168 and np.array_equal(view, state[first])
    assert np.array_equal(view, torch_bin.load_torch_bin(bin_path)[first])     # the package's reader
    print(first, view.shape, "read by hand from", folder + "data/0")

# %% [markdown]
# Over the whole pickle, only three globals are named, and the two tied decoder keys (weight and bias) are
# `BINGET`s (memo lookups: "the same object again"), not new tensors: 46 keys, 44 storages. Every `GLOBAL` in a
# state dict is one of a handful of names: that is what makes an allowlist possible.

# %%
if bin_path:
    ops = list(pickletools.genops(data_pkl))
    named = sorted({arg for op, arg, _ in ops if op.name == "GLOBAL"})
    print("globals:", named)
    n_storages = sum(op.name == "BINPERSID" for op, _, _ in ops)
    print("storages:", n_storages, "for", len(state), "keys")
    assert n_storages == len(state) - 2
    assert named == ["collections OrderedDict", "torch FloatStorage", "torch._utils _rebuild_tensor_v2"]
    assert all(np.array_equal(v, state[k]) for k, v in torch_bin.load_torch_bin(bin_path).items())
    assert all(np.array_equal(v.numpy(), state[k]) for k, v in torch.load(bin_path, weights_only=True).items())

# %% [markdown]
# ## Why unpickling an untrusted file is dangerous
#
# `GLOBAL` can name *any* importable object and `REDUCE` calls it. An object controls how it is pickled through
# `__reduce__`; here is one that pickles as "call `exec` on this string". The string writes a marker file; a real
# attack would do anything the user can do. We put it into a zip laid out like a `pytorch_model.bin`.

# %%
marker = os.path.join(workdir, "PWNED.txt")

class Payload:
    def __reduce__(self):
        return exec, (f"open({marker!r}, 'w').write('this ran while loading a checkpoint')",)

evil_pkl = pickle.dumps({"transformer.embeddings.word_embeddings.weight": Payload()}, protocol=2)
evil_path = os.path.join(workdir, "evil", "pytorch_model.bin")
os.makedirs(os.path.dirname(evil_path))
with zipfile.ZipFile(evil_path, "w") as z:
    for member, data in [("data.pkl", evil_pkl), ("byteorder", b"little"), ("version", b"3\n")]:
        z.writestr("archive/" + member, data)
pickletools.dis(evil_pkl)

# %% [markdown]
# `GLOBAL '__builtin__ exec'`, then `REDUCE`: the listing shows the attack without running it. Now load the file
# with `squeezebert_np`. Its unpickler's `find_class` (the only way a pickle reaches a Python object by name) answers
# only the names on its allowlist, each mapped to a harmless stand-in of the package's own; anything else raises
# `UnsafeCheckpointError` *before the object is ever called*.

# %%
try:
    torch_bin.load_torch_bin(evil_path)
    raise AssertionError("the malicious checkpoint was accepted")
except UnsafeCheckpointError as err:
    print("refused:", str(err)[:150], "...")
assert not os.path.exists(marker), "the payload ran"
print("marker file exists?", os.path.exists(marker))
print("the allowlist:", sorted(f"{m}.{n}" for m, n in torch_bin.ALLOWED_GLOBALS))

# %% [markdown]
# `SqueezeBertForMaskedLM.from_pretrained` goes through the same reader, so it refuses the folder too; and torch's
# own `torch.load(..., weights_only=True)` (the default since torch 2.6) applies the same idea. For contrast, what a
# plain `pickle.load` does with the same bytes:

# %%
try:
    SqueezeBertForMaskedLM.from_pretrained(os.path.dirname(evil_path), config=config)
except UnsafeCheckpointError:
    print("from_pretrained: refused")
if torch is not None:
    try:
        torch.load(evil_path, weights_only=True)
    except pickle.UnpicklingError:
        print("torch.load(weights_only=True): refused")
assert not os.path.exists(marker)
pickle.loads(evil_pkl)                       # DON'T do this with a file you did not make
print("after a plain pickle.loads, the marker says:", open(marker).read())
os.remove(marker)

# %% [markdown]
# ## The official files (only if you have them)
#
# With the official folders in `$SQUEEZEBERT_DIR` (default `weights/` at the repository root, e.g. from
# `python -m squeezebert_np.download squeezebert/squeezebert-uncased --to weights/squeezebert-uncased`), this cell
# looks at what each one really holds: container, dtype on disk, number of keys, whether the pooler is there.

# %%
from squeezebert_np.checkpoint.files import WEIGHTS_FILES, read_checkpoint_file
weights_dir = course.weights_dir()    # $SQUEEZEBERT_DIR or weights/ at the repository root
found = False
for name in ["squeezebert-uncased", "squeezebert-mnli", "squeezebert-mnli-headless"]:
    files = [f for f in WEIGHTS_FILES if os.path.isfile(os.path.join(weights_dir, name, f))]
    if files and not files[0].endswith(".json"):
        found = True
        with open(os.path.join(weights_dir, name, files[0]), "rb") as f:
            head = f.read(4)
        sd = read_checkpoint_file(os.path.join(weights_dir, name, files[0]))
        dtypes = sorted({str(a.dtype) for a in sd.values()})
        print(f"{name}: {files[0]} ({'zip' if head == torch_bin.ZIP_MAGIC else 'legacy'}), {len(sd)} keys, "
              f"dtypes {dtypes}, pooler {'yes' if any('pooler' in k for k in sd) else 'no'}")
if not found:
    print(f"no official weights in {weights_dir}: skipped (everything above ran on the small synthetic checkpoint)")

# %% [markdown]
# ## What we saw
#
# - **safetensors** = 8-byte length + JSON header + raw bytes. Nothing in it can run; the only danger is numbers that
#   lie (offsets past the end, overlapping tensors), so a careful reader checks them all.
# - **`pytorch_model.bin`** = zip + pickle + raw storages. The pickle describes each tensor as
#   `_rebuild_tensor_v2(storage, offset, size, stride, ...)`; the bytes sit in `data/<key>`.
# - A pickle can call **any** importable function. Reading `.bin` files safely means resolving only an allowlist of
#   names, as `squeezebert_np.checkpoint.torch_bin` does (and `torch.load(weights_only=True)`).
#
# Next, **03**: what those `(out, in / groups, 1)` weights compute.

# %%
shutil.rmtree(workdir)                      # the temporary files of this notebook
