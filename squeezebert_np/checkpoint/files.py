"""Which files hold a checkpoint's weights, and reading them into one state dict.

A Hugging Face model folder (or hub repo) holds its weights in one of four ways, looked for in this order, as
transformers does (safetensors first when both exist):

    model.safetensors                  one safetensors file
    model.safetensors.index.json       sharded: {"weight_map": {tensor name: shard file}}, shards next to it
    pytorch_model.bin                  one torch file (zip or legacy format)
    pytorch_model.bin.index.json       sharded torch files

Each file is read by what its first bytes say it is, not by its name (TORCH_BIN.md §1), so a Git LFS pointer or
an HTML error page saved under a weights name gets a clear error. The state dict comes back as the files hold it:
renaming keys, tying weights and checking shapes happen later (`state_dict.py`).
"""
import json
import os

from ..errors import CheckpointError, LocalEntryNotFoundError
from .safetensors_io import (MAX_HEADER_SIZE, MAX_TENSORS, check_structure, describe, load_safetensors,
                             looks_like_safetensors, open_checkpoint)
from .torch_bin import HEAD_SIZE, load_torch_bin

SAFE_WEIGHTS_NAME = "model.safetensors"
SAFE_WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
WEIGHTS_NAME = "pytorch_model.bin"
WEIGHTS_INDEX_NAME = "pytorch_model.bin.index.json"
WEIGHTS_FILES = (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, WEIGHTS_NAME, WEIGHTS_INDEX_NAME)  # preference order
# An index is {"metadata": {...}, "weight_map": {name: shard}}: one comma per tensor, a few objects. Like a
# safetensors header it is at most 100 MB and its JSON structure is counted before json.loads builds it.
INDEX_LIMITS = (1_000, MAX_TENSORS + 1_000)


def read_checkpoint_file(path):
    """Read one weights file into `{name: read-only np.ndarray}`, choosing the reader from its first bytes.

    safetensors -> `load_safetensors`; anything else -> `load_torch_bin`, which reads the zip and legacy torch
    formats and refuses the rest (LFS pointer, HTML page, tar, unknown) with a hint.
    """
    with open_checkpoint(path) as file:
        head = file.read(HEAD_SIZE)
    return load_safetensors(path) if looks_like_safetensors(head) else load_torch_bin(path)


def read_shard_index(path):
    """The `weight_map` of a sharded checkpoint's index file, checked: a non-empty `{tensor name: shard file}`
    whose shard names are plain file names (no folders, so an index cannot point outside its folder)."""
    source = os.fspath(path)
    with open_checkpoint(source) as file:
        raw = file.read(MAX_HEADER_SIZE + 1)
    if len(raw) > MAX_HEADER_SIZE:
        raise CheckpointError(f"{source}: an index file over {MAX_HEADER_SIZE} bytes is not a shard index")
    check_structure(raw, source, "the index", INDEX_LIMITS)
    try:
        index = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise CheckpointError(f"{source}: not a valid JSON index ({err})") from None
    weight_map = index.get("weight_map") if type(index) is dict else None
    if type(weight_map) is not dict or not weight_map:
        raise CheckpointError(f"{source}: the index needs a non-empty 'weight_map' object")
    for name, shard in weight_map.items():
        if (type(shard) is not str or shard in ("", ".", "..") or "/" in shard or "\\" in shard
                or shard != os.path.basename(shard)):
            raise CheckpointError(f"{source}: weight_map[{describe(name)}] must be a file name in the same "
                                  f"folder, got {describe(shard)}")
    return weight_map


def merge_shards(weight_map, shards, index_path):
    """`{shard file: state dict}` -> one state dict, checking it holds exactly the keys of `weight_map`, each
    from the shard the index names. Order: shard by shard (sorted names, as transformers reads them)."""
    merged = {}
    for shard, state_dict in shards.items():
        for name, array in state_dict.items():
            if weight_map.get(name) != shard:
                raise CheckpointError(f"{index_path}: shard {shard} holds {describe(name)}, which the index puts in "
                                      f"{weight_map.get(name, 'no shard')}")
            merged[name] = array
    missing = [name for name in weight_map if name not in merged]
    if missing:
        raise CheckpointError(f"{index_path}: {len(missing)} tensors of the index are in no shard, e.g. "
                              f"{describe(missing[0])} (in {weight_map[missing[0]]})")
    return merged


def load_weights(path_or_repo_id, *, revision=None, cache_dir=None, local_files_only=False, token=None, subfolder=""):
    """The state dict of a model folder or hub repo: `(state_dict, paths of the files read)`.

    Looks for the files of `WEIGHTS_FILES` in that order through `hub.cached_file`, so a local folder and a
    hub repo id (downloaded into the Hugging Face cache) work alike. A path to a single weights file is read as
    is. For a sharded checkpoint the paths are the index, then the shards. `subfolder`: the files are in that
    folder of the directory or repo.
    """
    from .. import hub  # the hub imports heavier things and is needed only here

    if os.path.isfile(os.fspath(path_or_repo_id)):
        return read_checkpoint_file(path_or_repo_id), [os.fspath(path_or_repo_id)]

    def fetch(filename):
        if subfolder:
            filename = f"{subfolder.strip('/')}/{filename}"
        return hub.cached_file(path_or_repo_id, filename, revision=revision, cache_dir=cache_dir,
                               local_files_only=local_files_only, token=token, missing_ok=True)

    unreachable = None
    for filename in WEIGHTS_FILES:
        try:   # offline, a file neither cached nor known missing is not the end: try the next, as transformers does
            path = fetch(filename)
        except LocalEntryNotFoundError as error:
            path, unreachable = None, error
        if path is None:
            continue
        if not filename.endswith(".index.json"):
            return read_checkpoint_file(path), [path]
        weight_map = read_shard_index(path)
        shard_paths = {}
        for shard in sorted(set(weight_map.values())):
            shard_paths[shard] = fetch(shard)
            if shard_paths[shard] is None:
                raise CheckpointError(f"{path} lists the shard {shard}, which is missing from {path_or_repo_id}")
        shards = {shard: read_checkpoint_file(shard_path) for shard, shard_path in shard_paths.items()}
        return merge_shards(weight_map, shards, path), [path, *shard_paths.values()]
    where = f"{path_or_repo_id} (subfolder {subfolder!r})" if subfolder else path_or_repo_id
    looked = f"no weights in {where}: looked for {', '.join(WEIGHTS_FILES)}"
    if unreachable is not None:
        raise LocalEntryNotFoundError(f"{looked}; {unreachable}")
    offline = "local_files_only=True" if local_files_only else hub.offline_reason()
    if offline and not os.path.isdir(os.fspath(path_or_repo_id)):
        raise LocalEntryNotFoundError(f"{looked}; none of them is in the cache, and downloads are off ({offline})")
    raise CheckpointError(looked)
