"""Turn a local directory or a hub repo id into local file paths.

(First version: local directories only. The hub download into the Hugging Face cache layout replaces this.)
"""
import os

from .errors import EntryNotFoundError


def cached_file(path_or_repo_id, filename, *, revision=None, cache_dir=None, local_files_only=False,
                token=None, missing_ok=False):
    """Local path of `filename` in a directory or a hub repo; None if absent and `missing_ok`."""
    path = os.path.join(os.fspath(path_or_repo_id), filename)
    if os.path.isfile(path):
        return path
    if missing_ok:
        return None
    raise EntryNotFoundError(f"{filename} not found in {path_or_repo_id}")
