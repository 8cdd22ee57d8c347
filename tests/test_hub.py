"""The stdlib hub client (squeezebert_np/hub.py) against the fake hub (tests/fakehub.py), and against
huggingface_hub 2.4.0 on the same fake hub (HUB.md §10): protocol, cache layout, revisions, faults, interop.

huggingface_hub reads its environment variables at import, so it runs in subprocesses with the fake hub's
environment; our client reads them per call, so it runs in this process under monkeypatch.
"""
import errno
import hashlib
import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from fakehub import FakeHub, git_blob_sha1, hub_versions, run_huggingface_hub
from squeezebert_np import hub
from squeezebert_np.errors import (EntryNotFoundError, GatedRepoError, HubArgumentError, HubError,
                                   LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError)

REPO = "squeezebert/squeezebert-uncased"
CONFIG = json.dumps({"model_type": "squeezebert", "vocab_size": 30528, "hidden_size": 768}).encode()
WEIGHTS = hashlib.sha256(b"seed").digest() * 9000          # 288 kB, an LFS file
FILES = {"config.json": CONFIG, "vocab.txt": b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n",
         "pytorch_model.bin": WEIGHTS, "README.md": b"# SqueezeBERT\n"}
PR_FILES = {**FILES, "model.safetensors": WEIGHTS[::-1]}
GATED, PRIVATE = "org/gated", "org/private"


@pytest.fixture
def fake_hub():
    """A fresh fake hub: REPO (main, a tag v1.0, refs/pr/1), a gated and a private repo."""
    repos = {REPO: {"main": FILES, "refs/pr/1": PR_FILES}, GATED: {"main": FILES}, PRIVATE: {"main": FILES}}
    with FakeHub(repos=repos, gated={GATED: "hf_gated"}, private={PRIVATE: "hf_private"}) as fake:
        fake.add_tag(REPO, "v1.0")
        yield fake


@pytest.fixture
def cache(fake_hub, tmp_path, monkeypatch):
    """Point our client at the fake hub and an empty cache; fast retries."""
    for name in list(os.environ):
        if name.startswith(("HF_", "HUGGING_FACE_", "HUGGINGFACE_")) or name == "TRANSFORMERS_OFFLINE":
            monkeypatch.delenv(name)
    for name, value in fake_hub.env_vars(tmp_path / "cache").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "2")
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "2")
    monkeypatch.setattr(hub, "BACKOFF_SECONDS", 0.01)
    return tmp_path / "cache"


def storage(cache, repo_id=REPO):
    return cache / hub.repo_folder_name(repo_id)


def leftovers(cache):
    """Temporary files that must never survive a call."""
    return [p for p in cache.rglob("*") if p.name.endswith((".incomplete", ".tmp"))]


def cache_tree(root):
    """Every path under root: ("link", target), ("dir",) or ("file", mode, content)."""
    tree = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            tree[rel] = ("link", os.readlink(path))
        elif path.is_dir():
            tree[rel] = ("dir",)
        else:
            tree[rel] = ("file", oct(path.stat().st_mode), path.read_bytes())
    return tree


def run_python(code, env, *args, where=None):
    """Run `code` in a fresh interpreter with huggingface_hub (the pinned one, or the one in the folder `where`);
    return the JSON it prints on its last line."""
    return run_huggingface_hub(code, env, where, *args)


# ---- protocol and cache layout (HUB.md §2, §3, §5) ----

def test_download_writes_the_standard_cache_layout(fake_hub, cache):
    commit = fake_hub.commit(REPO)
    config = hub.hf_hub_download(REPO, "config.json")
    weights = hub.hf_hub_download(REPO, "pytorch_model.bin")

    repo = storage(cache)
    assert config == str(repo / "snapshots" / commit / "config.json")
    assert os.readlink(config) == f"../../blobs/{git_blob_sha1(CONFIG)}"          # git file: etag = git sha1
    assert os.readlink(weights) == f"../../blobs/{hashlib.sha256(WEIGHTS).hexdigest()}"   # LFS: sha256
    assert open(config, "rb").read() == CONFIG and open(weights, "rb").read() == WEIGHTS
    assert (repo / "refs" / "main").read_text() == commit                         # no trailing newline
    assert (cache / "CACHEDIR.TAG").read_text() == hub.CACHEDIR_TAG
    assert (cache / ".locks" / repo.name / f"{git_blob_sha1(CONFIG)}.lock").exists()
    assert leftovers(cache) == []


def test_request_sequence_matches_huggingface_hub(fake_hub, cache):
    hub.hf_hub_download(REPO, "config.json")
    hub.hf_hub_download(REPO, "pytorch_model.bin")
    def kind(r):
        return "cdn" if r.origin == "cdn" else "resolve-cache" if "/resolve-cache/" in r.path else "resolve"

    assert [(r.method, kind(r)) for r in fake_hub.log] == [
        ("HEAD", "resolve"), ("HEAD", "resolve-cache"), ("GET", "resolve-cache"),   # git file: 307 on the hub
        ("HEAD", "resolve"), ("GET", "cdn")]                                        # LFS file: 302 to the CDN
    assert all(r.header("accept-encoding") == "identity" for r in fake_hub.log)
    assert all(r.header("range") is None for r in fake_hub.log)


def test_token_goes_to_the_hub_never_to_the_cdn(fake_hub, cache, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    hub.hf_hub_download(REPO, "config.json")
    hub.hf_hub_download(REPO, "pytorch_model.bin")
    assert all(r.header("authorization") == "Bearer hf_secret" for r in fake_hub.requests(origin="hub"))
    assert fake_hub.requests(origin="cdn") and all(r.header("authorization") is None
                                                   for r in fake_hub.requests(origin="cdn"))


@pytest.mark.parametrize("revision, ref", [("main", "refs/main"), ("v1.0", "refs/v1.0"),
                                           ("refs/pr/1", "refs/refs/pr/1"), ("COMMIT", None)])
def test_revision_kinds(fake_hub, cache, revision, ref):
    files = PR_FILES if revision == "refs/pr/1" else FILES
    commit = fake_hub.commit(REPO, "refs/pr/1" if revision == "refs/pr/1" else "main")
    revision = commit if revision == "COMMIT" else revision
    path = hub.hf_hub_download(REPO, "config.json", revision=revision)
    assert path == str(storage(cache) / "snapshots" / commit / "config.json")
    if ref:
        assert (storage(cache) / ref).read_text() == commit
    else:
        assert not (storage(cache) / "refs").exists()                # a commit needs no ref
    if revision.startswith("refs/pr/"):
        assert open(hub.hf_hub_download(REPO, "model.safetensors", revision=revision), "rb").read() == \
            files["model.safetensors"]
        assert fake_hub.requests(path="/resolve/refs%2Fpr%2F1/")     # quoted with safe="" (HUB.md §1)


def test_a_moved_branch_is_noticed(fake_hub, cache):
    first = hub.hf_hub_download(REPO, "config.json")
    new_commit = fake_hub.set_files(REPO, {**FILES, "config.json": b'{"model_type": "squeezebert"}'})
    second = hub.hf_hub_download(REPO, "config.json")
    assert second != first and open(second, "rb").read() == b'{"model_type": "squeezebert"}'
    assert (storage(cache) / "refs" / "main").read_text() == new_commit
    assert open(first, "rb").read() == CONFIG                        # the old snapshot is intact


def test_a_cached_commit_needs_no_request(fake_hub, cache):
    commit = fake_hub.commit(REPO)
    path = hub.hf_hub_download(REPO, "pytorch_model.bin", revision=commit)
    with pytest.raises(EntryNotFoundError):
        hub.hf_hub_download(REPO, "tokenizer_config.json", revision=commit)
    fake_hub.clear_log()
    assert hub.hf_hub_download(REPO, "pytorch_model.bin", revision=commit) == path
    assert hub.cached_file(REPO, "tokenizer_config.json", revision=commit, missing_ok=True) is None   # .no_exist
    assert fake_hub.log == []


def test_a_cached_branch_asks_once_and_downloads_nothing(fake_hub, cache):
    hub.hf_hub_download(REPO, "pytorch_model.bin")
    fake_hub.clear_log()
    hub.hf_hub_download(REPO, "pytorch_model.bin")
    assert [(r.origin, r.method) for r in fake_hub.log] == [("hub", "HEAD")]


@pytest.mark.parametrize("how", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "local_files_only"])
def test_offline_uses_the_cache_only(fake_hub, cache, monkeypatch, how):
    path = hub.hf_hub_download(REPO, "config.json")
    hub.cached_file(REPO, "vocab.json", missing_ok=True)            # leaves a .no_exist marker
    fake_hub.clear_log()
    if how == "local_files_only":
        kwargs = {"local_files_only": True}
    else:
        kwargs = {}
        monkeypatch.setenv(how, "1")
    assert hub.hf_hub_download(REPO, "config.json", **kwargs) == path
    assert hub.cached_file(REPO, "vocab.json", missing_ok=True, **kwargs) is None
    with pytest.raises(EntryNotFoundError) as known_missing:
        hub.hf_hub_download(REPO, "vocab.json", **kwargs)
    assert not isinstance(known_missing.value, LocalEntryNotFoundError)
    # not cached, not known missing, but the revision is cached: an optional file, skipped as transformers does
    assert hub.cached_file(REPO, "pytorch_model.bin", missing_ok=True, **kwargs) is None
    with pytest.raises(LocalEntryNotFoundError, match="'pytorch_model.bin' of .* is not in the cache"):
        hub.cached_file(REPO, "pytorch_model.bin", **kwargs)
    with pytest.raises(LocalEntryNotFoundError, match="nothing of .* is in the cache"):    # nothing of refs/pr/1
        hub.cached_file(REPO, "config.json", revision="refs/pr/1", missing_ok=True, **kwargs)
    with pytest.raises(LocalEntryNotFoundError):
        hub.hf_hub_download(REPO, "config.json", revision="refs/pr/1", **kwargs)
    assert fake_hub.log == []


def test_hf_hub_offline_0_wins_over_transformers_offline(monkeypatch):
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    assert hub.offline_reason() == "TRANSFORMERS_OFFLINE=1"
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert hub.offline_reason() is None                              # huggingface_hub's `a or b` rule


# ---- cached_file: what the rest of the package calls ----

def test_a_local_directory_wins_over_a_repo_id(fake_hub, cache, tmp_path, monkeypatch):
    local = tmp_path / "work" / REPO
    local.mkdir(parents=True)
    (local / "config.json").write_bytes(b"{}")
    monkeypatch.chdir(tmp_path / "work")
    assert hub.cached_file(REPO, "config.json") == os.path.join(REPO, "config.json")
    assert hub.cached_file(REPO, "vocab.txt", missing_ok=True) is None
    with pytest.raises(EntryNotFoundError, match="not found in the directory"):
        hub.cached_file(REPO, "vocab.txt")
    assert fake_hub.log == []


def test_missing_ok_covers_only_a_file_the_repo_lacks(fake_hub, cache):
    commit = fake_hub.commit(REPO)
    assert hub.cached_file(REPO, "tokenizer_config.json", missing_ok=True) is None
    assert (storage(cache) / ".no_exist" / commit / "tokenizer_config.json").is_file()
    assert (storage(cache) / "refs" / "main").read_text() == commit
    with pytest.raises(EntryNotFoundError, match="tokenizer_config.json"):
        hub.cached_file(REPO, "tokenizer_config.json")
    with pytest.raises(RepositoryNotFoundError, match="'squeezebert/nope' is not a local directory, and repo"):
        hub.cached_file("squeezebert/nope", "config.json", missing_ok=True)
    with pytest.raises(RevisionNotFoundError):
        hub.cached_file(REPO, "config.json", revision="v9", missing_ok=True)


# ---- errors (HUB.md §4) ----

def test_repository_not_found_says_what_to_do(fake_hub, cache):
    with pytest.raises(RepositoryNotFoundError, match="not found.*HF_TOKEN") as caught:
        hub.hf_hub_download("squeezebert/nope", "config.json")
    assert not isinstance(caught.value, GatedRepoError)
    assert leftovers(cache) == [] and not storage(cache, "squeezebert/nope").exists()


def test_private_repo_needs_its_token(fake_hub, cache):
    with pytest.raises(RepositoryNotFoundError, match="no token was sent"):
        hub.hf_hub_download(PRIVATE, "config.json")
    with pytest.raises(RepositoryNotFoundError, match="token sent has no access"):
        hub.hf_hub_download(PRIVATE, "config.json", token="hf_wrong")
    assert open(hub.hf_hub_download(PRIVATE, "config.json", token="hf_private"), "rb").read() == CONFIG


def test_gated_repo_says_accept_conditions_and_pass_a_token(fake_hub, cache, monkeypatch):
    with pytest.raises(GatedRepoError, match=f"accept its conditions at {fake_hub.endpoint}/{GATED}"):
        hub.hf_hub_download(GATED, "config.json")
    monkeypatch.setenv("HF_TOKEN", "hf_gated")
    assert open(hub.hf_hub_download(GATED, "pytorch_model.bin"), "rb").read() == WEIGHTS
    with pytest.raises(GatedRepoError):
        hub.hf_hub_download(GATED, "config.json", token=False)       # False: never send a token


def test_revision_and_entry_not_found(fake_hub, cache):
    with pytest.raises(RevisionNotFoundError, match="'v9' not found"):
        hub.hf_hub_download(REPO, "config.json", revision="v9")
    with pytest.raises(EntryNotFoundError, match="'tf_model.h5' not found in 'squeezebert/squeezebert-uncased'"):
        hub.hf_hub_download(REPO, "tf_model.h5")


@pytest.mark.parametrize("repo_id", ["../etc", "a/b/c", "org--x/y", "org/na..me", "-org/x", "", "org/ x"])
def test_invalid_repo_ids_are_refused_before_any_request(fake_hub, cache, repo_id):
    with pytest.raises(RepositoryNotFoundError, match="is not a local directory, and .* is not a valid hub repo id"):
        hub.cached_file(repo_id, "config.json")
    assert fake_hub.log == []


@pytest.mark.parametrize("filename", ["../config.json", "/etc/passwd", "a//b", "sub/../../x", "a\0b", "x\n",
                                      "a" * 1001])
def test_filenames_cannot_leave_the_cache(fake_hub, cache, filename):
    with pytest.raises(HubArgumentError, match="invalid filename"):      # a ValueError and a HubError
        hub.hf_hub_download(REPO, filename)


@pytest.mark.parametrize("revision", ["main/", "v1/../main", "/main", "a//b", "\0", "main\r\n"])
def test_revisions_cannot_leave_the_cache(fake_hub, cache, revision):
    for call in (lambda: hub.hf_hub_download(REPO, "config.json", revision=revision),
                 lambda: hub.snapshot_download(REPO, revision=revision)):
        with pytest.raises(HubArgumentError, match="invalid revision"):
            call()
    assert fake_hub.log == []


# ---- faults: survived, or reported clearly with nothing partial left (HUB.md §3, §8) ----

def assert_nothing_partial(cache, filename="pytorch_model.bin"):
    assert leftovers(cache) == []
    assert not list(storage(cache).glob(f"snapshots/*/{filename}"))
    assert not list(storage(cache).glob(f"blobs/{hashlib.sha256(WEIGHTS).hexdigest()}*"))


def test_a_dropped_connection_resumes_with_range(fake_hub, cache):
    fake_hub.cut(after=100_000)
    path = hub.hf_hub_download(REPO, "pytorch_model.bin")
    assert open(path, "rb").read() == WEIGHTS
    gets = fake_hub.requests(origin="cdn")
    assert [r.header("range") for r in gets] == [None, "bytes=100000-"]
    assert [r.status for r in gets] == [200, 206]
    assert all(r.header("authorization") is None for r in gets)


def test_a_tls_connection_cut_mid_download_resumes(fake_hub, cache, monkeypatch):
    import ssl
    real_get, cuts = hub._get, []

    def get(url, token, start):
        response = real_get(url, token, start)
        if not cuts:                                   # the first body stops with a TLS error after 10 kB
            real_read1, sent = response.read1, []

            def read1(n):
                if sum(sent) >= 10_000:
                    cuts.append(sum(sent))
                    raise ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
                sent.append(len(chunk := real_read1(min(n, 10_000))))
                return chunk
            response.read1 = read1
        return response
    monkeypatch.setattr(hub, "_get", get)
    assert open(hub.hf_hub_download(REPO, "pytorch_model.bin"), "rb").read() == WEIGHTS
    assert len(cuts) == 1 and cuts[0] >= 10_000
    assert [r.header("range") for r in fake_hub.requests(origin="cdn")] == [None, f"bytes={cuts[0]}-"]


def test_a_server_that_ignores_range_means_starting_over(fake_hub, cache):
    fake_hub.cut(after=50_000).ignore_range()
    assert open(hub.hf_hub_download(REPO, "pytorch_model.bin"), "rb").read() == WEIGHTS
    assert [r.status for r in fake_hub.requests(origin="cdn")] == [200, 200]


def test_a_cut_server_that_also_ignores_range_is_given_up(fake_hub, cache):
    fake_hub.cut(after=50_000, times=100).ignore_range(times=100)   # starts over each time, never gets further
    with pytest.raises(HubError, match="failed 5 times in a row"):
        hub.hf_hub_download(REPO, "pytorch_model.bin")
    assert len(fake_hub.requests(origin="cdn")) == hub.MAX_ATTEMPTS
    assert_nothing_partial(cache)


def test_a_stall_longer_than_the_download_timeout_resumes(fake_hub, cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_DOWNLOAD_TIMEOUT", "0.5")
    fake_hub.stall(2.0, after=70_000)
    assert open(hub.hf_hub_download(REPO, "pytorch_model.bin"), "rb").read() == WEIGHTS
    assert [r.header("range") for r in fake_hub.requests(origin="cdn")][:2] == [None, "bytes=70000-"]


def test_a_slow_head_is_retried_when_nothing_is_cached(fake_hub, cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "0.5")
    fake_hub.delay(2.0, method="HEAD")
    assert open(hub.hf_hub_download(REPO, "config.json"), "rb").read() == CONFIG
    assert len(fake_hub.requests(method="HEAD", path="/resolve/")) >= 2


def test_5xx_are_retried_with_backoff(fake_hub, cache):
    fake_hub.fail(500, times=2).fail(503, origin="cdn")
    assert open(hub.hf_hub_download(REPO, "pytorch_model.bin"), "rb").read() == WEIGHTS
    assert [r.status for r in fake_hub.log] == [500, 500, 302, 503, 200]


def test_a_hub_that_keeps_failing_is_reported_after_bounded_retries(fake_hub, cache):
    fake_hub.fail(502, times=100)
    with pytest.raises(LocalEntryNotFoundError, match="could not reach the hub.*HTTP 502"):
        hub.hf_hub_download(REPO, "config.json")
    assert len(fake_hub.log) == hub.MAX_ATTEMPTS
    assert leftovers(cache) == []


def test_an_outage_falls_back_to_the_cached_copy_at_once(fake_hub, cache):
    path = hub.hf_hub_download(REPO, "config.json")
    fake_hub.clear_log()
    fake_hub.fail(500, times=100)
    assert hub.hf_hub_download(REPO, "config.json") == path
    assert len(fake_hub.log) == 1                                    # no retries when a copy is at hand


def test_each_cut_that_brings_bytes_is_resumed(fake_hub, cache):
    fake_hub.cut(after=10_000, times=100)                            # 29 cuts, progress every time
    assert open(hub.hf_hub_download(REPO, "pytorch_model.bin"), "rb").read() == WEIGHTS
    assert len(fake_hub.requests(origin="cdn")) == 29


def test_a_connection_cut_every_time_gives_up(fake_hub, cache):
    fake_hub.cut(after=0, times=100)
    with pytest.raises(HubError, match="failed 5 times in a row"):
        hub.hf_hub_download(REPO, "pytorch_model.bin")
    assert len(fake_hub.requests(origin="cdn")) == hub.MAX_ATTEMPTS
    assert_nothing_partial(cache)


def test_corrupted_bytes_are_caught_by_sha256(fake_hub, cache):
    fake_hub.corrupt()
    with pytest.raises(HubError, match="corrupt: its sha256 is"):
        hub.hf_hub_download(REPO, "pytorch_model.bin")
    assert_nothing_partial(cache)
    assert open(hub.hf_hub_download(REPO, "pytorch_model.bin"), "rb").read() == WEIGHTS   # next time is fine


def test_disk_full_removes_the_temporary_file(fake_hub, cache, monkeypatch):
    class FullDisk:
        """A file that takes 64 kB, then fails like a full disk."""
        def __init__(self, f):
            self.f, self.room = f, 64_000

        def write(self, data):
            if len(data) > self.room:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.room -= len(data)
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    monkeypatch.setattr(hub, "open", lambda path, mode="r", **kw: FullDisk(open(path, mode, **kw))
                        if path.endswith(".incomplete") else open(path, mode, **kw), raising=False)
    with pytest.raises(HubError, match="no space left on the device.*HF_HUB_CACHE") as caught:
        hub.hf_hub_download(REPO, "pytorch_model.bin")
    assert caught.value.__cause__.errno == errno.ENOSPC
    assert_nothing_partial(cache)


def test_network_down(fake_hub, cache, monkeypatch):
    path = hub.hf_hub_download(REPO, "config.json")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"            # nothing listens there
    monkeypatch.setenv("HF_ENDPOINT", closed)
    assert hub.hf_hub_download(REPO, "config.json") == path          # the cached copy
    with pytest.raises(LocalEntryNotFoundError, match=f"could not reach the hub at {closed}.*not in the cache"):
        hub.hf_hub_download(REPO, "vocab.txt")


def closed_endpoint():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"            # nothing listens there


def test_network_down_a_file_known_missing_is_answered_at_once(fake_hub, cache, monkeypatch):
    """A .no_exist marker answers "not in the repo" when the hub cannot be asked: no retries, no wait (transformers
    reads the marker before any request; huggingface_hub falls back to it)."""
    assert hub.cached_file(REPO, "tokenizer_config.json", missing_ok=True) is None     # writes the marker
    monkeypatch.setenv("HF_ENDPOINT", closed_endpoint())
    monkeypatch.setattr(hub, "BACKOFF_SECONDS", 5.0)             # a retry would now take seconds: none may happen
    assert hub.cached_file(REPO, "tokenizer_config.json", missing_ok=True) is None
    with pytest.raises(EntryNotFoundError, match="known from the cache") as caught:
        hub.hf_hub_download(REPO, "tokenizer_config.json")
    assert not isinstance(caught.value, LocalEntryNotFoundError)


@pytest.mark.parametrize("how", ["offline", "network down"])
def test_after_snapshot_download_optional_files_are_known_missing(fake_hub, cache, monkeypatch, how):
    """`python -m squeezebert_np.download` then offline use: the snapshot's file listing (trees/<commit>.json) says
    which optional files the repo lacks, so from_pretrained needs no network for them."""
    folder = hub.snapshot_download(REPO)
    assert not (storage(cache) / ".no_exist").exists()
    monkeypatch.setenv(*(("HF_HUB_OFFLINE", "1") if how == "offline" else ("HF_ENDPOINT", closed_endpoint())))
    monkeypatch.setattr(hub, "BACKOFF_SECONDS", 5.0)
    fake_hub.clear_log()
    for name in ("tokenizer_config.json", "model.safetensors", "model.safetensors.index.json"):
        assert hub.cached_file(REPO, name, missing_ok=True) is None
    assert hub.cached_file(REPO, "config.json") == os.path.join(folder, "config.json")
    assert fake_hub.log == []
    os.remove(storage(cache) / "trees" / f"{fake_hub.commit(REPO)}.json")      # without the listing: unknown
    monkeypatch.setattr(hub, "BACKOFF_SECONDS", 0.01)                        # now retries are allowed
    with pytest.raises(LocalEntryNotFoundError, match="'tokenizer_config.json' of .* is not in the cache"):
        hub.cached_file(REPO, "tokenizer_config.json")
    assert hub.cached_file(REPO, "tokenizer_config.json", missing_ok=True) is None     # optional: skipped


@pytest.mark.parametrize("name, value", [("HF_ENDPOINT", "hf-mirror.com"), ("HF_ENDPOINT", "127.0.0.1:8080"),
                                         ("HF_ENDPOINT", "ftp://mirror"), ("HF_HUB_ETAG_TIMEOUT", "-1"),
                                         ("HF_HUB_ETAG_TIMEOUT", "0"), ("HF_HUB_ETAG_TIMEOUT", "nan"),
                                         ("HF_HUB_DOWNLOAD_TIMEOUT", "soon")])
def test_a_malformed_setting_is_named_even_with_a_cached_copy(fake_hub, cache, monkeypatch, name, value):
    hub.snapshot_download(REPO)                                       # main is cached, refs/pr/1 is not
    monkeypatch.setenv(name, value)
    calls = [lambda: hub.hf_hub_download(REPO, "model.safetensors", revision="refs/pr/1")]   # fetches bytes
    if name != "HF_HUB_DOWNLOAD_TIMEOUT":                            # read only when bytes are fetched
        calls += [lambda: hub.hf_hub_download(REPO, "config.json"), lambda: hub.snapshot_download(REPO)]
    for call in calls:
        with pytest.raises(HubArgumentError, match=name):
            call()


def test_a_redirect_without_location_and_a_malformed_listing(fake_hub, cache, monkeypatch):
    class NoLocation:
        status, headers = 302, {}

        def close(self):
            pass
    monkeypatch.setattr(hub, "_open", lambda *a, **k: NoLocation())
    with pytest.raises(HubError, match="HTTP 302 without a Location"):
        hub._get("http://127.0.0.1:1/x", None, 0)
    monkeypatch.undo()
    for name, value in fake_hub.env_vars(cache).items():
        monkeypatch.setenv(name, value)
    real = hub._get_json
    monkeypatch.setattr(hub, "_get_json", lambda url, token, ask: ([{"type": "file"}, 7], None) if "/tree/" in url
                        else real(url, token, ask))
    with pytest.raises(LocalEntryNotFoundError, match="unexpected file listing"):
        hub.snapshot_download(REPO)


def test_a_server_that_is_not_a_hub(fake_hub, cache, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", fake_hub.cdn_endpoint)
    with pytest.raises(LocalEntryNotFoundError, match="HTTP 404"):
        hub.hf_hub_download(REPO, "config.json")


def test_parallel_downloads_of_one_file(fake_hub, cache):
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(4) as pool:
        paths = list(pool.map(lambda _: hub.hf_hub_download(REPO, "pytorch_model.bin"), range(4)))
    assert len(set(paths)) == 1 and open(paths[0], "rb").read() == WEIGHTS
    assert leftovers(cache) == [] and len(list(storage(cache).glob("blobs/*"))) == 1


def test_without_symlinks_the_snapshot_holds_the_file(fake_hub, cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_DISABLE_SYMLINKS", "1")
    path = hub.hf_hub_download(REPO, "pytorch_model.bin")
    assert not os.path.islink(path) and open(path, "rb").read() == WEIGHTS
    assert leftovers(cache) == []


# ---- settings (HUB.md §6) ----

def test_cache_location_from_the_environment(monkeypatch, tmp_path):
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert hub.hub_cache_dir() == str(tmp_path / ".cache" / "huggingface" / "hub")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub.hub_cache_dir() == str(tmp_path / "xdg" / "huggingface" / "hub")
    monkeypatch.setenv("HF_HOME", "~/hf")
    assert hub.hub_cache_dir() == str(tmp_path / "hf" / "hub")
    monkeypatch.setenv("HUGGINGFACE_HUB_CACHE", "$HOME/legacy")
    assert hub.hub_cache_dir() == str(tmp_path / "legacy")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "new"))
    assert hub.hub_cache_dir() == str(tmp_path / "new")
    assert hub.hub_cache_dir(tmp_path / "arg") == str(tmp_path / "arg")


def test_cache_dir_argument(fake_hub, cache, tmp_path):
    path = hub.hf_hub_download(REPO, "config.json", cache_dir=tmp_path / "elsewhere")
    assert path.startswith(str(tmp_path / "elsewhere" / hub.repo_folder_name(REPO)))
    assert not cache.exists()


def test_endpoint_and_token_sources(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_ENDPOINT", "https://mirror.example/")
    assert hub.hub_endpoint() == "https://mirror.example"
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_DISABLE_IMPLICIT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "token"))
    assert hub.resolve_token() is None
    (tmp_path / "token").write_text("hf_file\n")
    assert hub.resolve_token() == "hf_file"
    monkeypatch.setenv("HUGGING_FACE_HUB_TOKEN", "hf_legacy")
    assert hub.resolve_token() == "hf_legacy"
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    assert hub.resolve_token() == "hf_env" and hub.resolve_token("hf_arg") == "hf_arg"
    assert hub.resolve_token(False) is None
    monkeypatch.setenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
    assert hub.resolve_token() is None and hub.resolve_token(True) == "hf_env"


def test_progress_bar_only_on_a_terminal(fake_hub, cache, monkeypatch):
    class Terminal:
        def __init__(self, tty):
            self.tty, self.text = tty, ""

        def isatty(self):
            return self.tty

        def write(self, text):
            self.text += text

        def flush(self):
            pass

    monkeypatch.setattr(hub, "PROGRESS_MIN_BYTES", 100_000)
    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS")
    for tty, quiet, disabled, shown in [(True, False, None, True), (False, False, None, False),
                                        (True, True, None, False), (True, False, "1", False)]:
        monkeypatch.setattr(sys, "stderr", Terminal(tty))
        if disabled:
            monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", disabled)
        hub.hf_hub_download(REPO, "pytorch_model.bin", cache_dir=cache / str(len(fake_hub.log)), quiet=quiet)
        assert ("100% |" in sys.stderr.text and "pytorch_model.bin" in sys.stderr.text) is shown
    assert hub._progress("config.json", 500, False, Terminal(True)).__class__ is hub._NoProgress   # small file


# ---- snapshots (HUB.md §7) ----

def test_snapshot_download_lists_pages_and_fetches_every_file(fake_hub, cache):
    fake_hub.tree_page_size = 2
    fake_hub.set_files(REPO, {**FILES, "sub/folder/notes.txt": b"notes"})
    commit = fake_hub.commit(REPO)
    folder = hub.snapshot_download(REPO)
    assert folder == str(storage(cache) / "snapshots" / commit)
    assert sorted(p.relative_to(folder).as_posix() for p in storage(cache).glob(f"snapshots/{commit}/**/*")
                  if not p.is_dir()) == sorted([*FILES, "sub/folder/notes.txt"])
    assert os.readlink(os.path.join(folder, "sub/folder/notes.txt")) == f"../../../../blobs/{git_blob_sha1(b'notes')}"
    tree = json.loads((storage(cache) / "trees" / f"{commit}.json").read_text())
    assert tree["format_version"] == 1 and tree["files"]["pytorch_model.bin"]["lfs_sha256"] == \
        hashlib.sha256(WEIGHTS).hexdigest()
    api = [r.path for r in fake_hub.requests(path="/api/models/")]
    assert api[0] == f"/api/models/{REPO}/revision/main"
    assert api[1] == f"/api/models/{REPO}/tree/{commit}?recursive=true&expand=false"
    assert len(api) == 1 + 4                    # the revision, then 7 tree entries (5 files, 2 folders) by 2

    fake_hub.clear_log()
    assert hub.snapshot_download(REPO, revision=commit) == folder     # a cached commit: no request at all
    assert fake_hub.log == []


def test_snapshot_offline_and_incomplete(fake_hub, cache, monkeypatch):
    folder = hub.snapshot_download(REPO)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fake_hub.clear_log()
    assert hub.snapshot_download(REPO) == folder
    os.remove(os.path.join(folder, "vocab.txt"))
    with pytest.raises(LocalEntryNotFoundError, match="incomplete.*'vocab.txt'"):
        hub.snapshot_download(REPO)
    with pytest.raises(LocalEntryNotFoundError, match="no snapshot"):
        hub.snapshot_download(REPO, revision="refs/pr/1")
    assert fake_hub.log == []


def test_snapshot_errors(fake_hub, cache):
    with pytest.raises(RevisionNotFoundError):
        hub.snapshot_download(REPO, revision="v9")
    with pytest.raises(GatedRepoError):
        hub.snapshot_download(GATED)
    assert hub.snapshot_download(GATED, token="hf_gated")


# ---- interop with huggingface_hub 2.4.0, both ways (HUB.md §10) ----

HF_DOWNLOADS = [("config.json", None), ("pytorch_model.bin", None), ("config.json", "refs/pr/1"),
                ("model.safetensors", "refs/pr/1"), ("README.md", "v1.0")]

HF_SCRIPT = """
import json, sys, huggingface_hub as h
repo, downloads, missing, revision = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
paths = [h.hf_hub_download(repo, f, revision=rev) for f, rev in downloads]
try:
    h.hf_hub_download(repo, missing, revision=revision)
    error = None
except Exception as e:
    error = type(e).__name__
print(json.dumps({"paths": paths, "error": error}))
"""


@pytest.mark.parametrize("symlinks", [True, False])
@pytest.mark.parametrize("where", hub_versions())
def test_huggingface_hub_reads_what_we_download_offline(fake_hub, cache, monkeypatch, symlinks, where):
    if not symlinks:
        monkeypatch.setenv("HF_HUB_DISABLE_SYMLINKS", "1")
    ours = [hub.hf_hub_download(REPO, f, revision=rev) for f, rev in HF_DOWNLOADS]
    assert hub.cached_file(REPO, "tokenizer_config.json", missing_ok=True) is None
    fake_hub.clear_log()
    seen = run_python("""
        import json, sys, huggingface_hub as h
        from huggingface_hub.file_download import _CACHED_NO_EXIST
        repo, downloads = sys.argv[1], json.loads(sys.argv[2])
        paths = [h.hf_hub_download(repo, f, revision=rev) for f, rev in downloads]
        tried = [h.try_to_load_from_cache(repo, f, revision=rev) for f, rev in downloads]
        info = h.scan_cache_dir()
        refs = sorted(r for repo_info in info.repos for rev in repo_info.revisions for r in rev.refs)
        print(json.dumps({"paths": paths, "tried": tried, "warnings": [str(w) for w in info.warnings], "refs": refs,
                          "no_exist": h.try_to_load_from_cache(repo, "tokenizer_config.json") is _CACHED_NO_EXIST}))
        """, fake_hub.environ(cache, HF_HUB_OFFLINE="1"), REPO, json.dumps(HF_DOWNLOADS), where=where)
    assert seen["paths"] == ours and seen["tried"] == ours
    assert seen["warnings"] == [] and seen["refs"] == ["main", "refs/pr/1", "v1.0"] and seen["no_exist"]
    assert fake_hub.log == []


@pytest.mark.parametrize("where", hub_versions())
def test_we_read_what_huggingface_hub_downloads_offline(fake_hub, cache, tmp_path, where):
    theirs = run_python(HF_SCRIPT, fake_hub.environ(tmp_path / "theirs"), REPO, json.dumps(HF_DOWNLOADS),
                        "tokenizer_config.json", "main", where=where)
    fake_hub.clear_log()
    ours = [hub.hf_hub_download(REPO, f, revision=rev, cache_dir=tmp_path / "theirs", local_files_only=True)
            for f, rev in HF_DOWNLOADS]
    assert ours == theirs["paths"]
    assert hub.cached_file(REPO, "tokenizer_config.json", cache_dir=tmp_path / "theirs", local_files_only=True,
                           missing_ok=True) is None
    assert fake_hub.log == []


@pytest.mark.parametrize("symlinks", [True, False])
@pytest.mark.parametrize("where", hub_versions())
def test_both_clients_write_identical_cache_trees_and_requests(fake_hub, cache, tmp_path, monkeypatch, symlinks, where):
    env = {} if symlinks else {"HF_HUB_DISABLE_SYMLINKS": "1"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for f, rev in HF_DOWNLOADS:
        hub.hf_hub_download(REPO, f, revision=rev)
    with pytest.raises(EntryNotFoundError):
        hub.hf_hub_download(REPO, "tokenizer_config.json")
    our_requests = [(r.origin, r.method, r.path) for r in fake_hub.log]
    fake_hub.clear_log()
    theirs = run_python(HF_SCRIPT, fake_hub.environ(tmp_path / "theirs", **env), REPO, json.dumps(HF_DOWNLOADS),
                        "tokenizer_config.json", "main", where=where)
    assert theirs["error"] == "RemoteEntryNotFoundError"
    assert [(r.origin, r.method, r.path) for r in fake_hub.log] == our_requests
    assert cache_tree(tmp_path / "theirs") == cache_tree(cache)


@pytest.mark.parametrize("where", hub_versions())
def test_both_clients_write_identical_snapshots(fake_hub, cache, tmp_path, where):
    hub.snapshot_download(REPO)
    run_python("import huggingface_hub as h, json, sys; print(json.dumps(h.snapshot_download(sys.argv[1])))",
               fake_hub.environ(tmp_path / "theirs"), REPO, where=where)
    assert cache_tree(tmp_path / "theirs") == cache_tree(cache)


ERROR_CASES = [("squeezebert/nope", "main", "config.json", "RepositoryNotFoundError", RepositoryNotFoundError),
               (GATED, "main", "config.json", "GatedRepoError", GatedRepoError),
               (REPO, "v9", "config.json", "RevisionNotFoundError", RevisionNotFoundError),
               (REPO, "main", "tf_model.h5", "RemoteEntryNotFoundError", EntryNotFoundError)]


@pytest.mark.parametrize("where", hub_versions())
def test_errors_match_huggingface_hub(fake_hub, cache, where):
    theirs = run_python("""
        import json, sys, huggingface_hub as h
        names = []
        for repo, revision, filename in json.loads(sys.argv[1]):
            try:
                h.hf_hub_download(repo, filename, revision=revision)
                names.append(None)
            except Exception as e:
                names.append(type(e).__name__)
        print(json.dumps(names))
        """, fake_hub.environ(cache), json.dumps([case[:3] for case in ERROR_CASES]), where=where)
    assert theirs == [case[3] for case in ERROR_CASES]
    for repo_id, revision, filename, _, ours in ERROR_CASES:
        with pytest.raises(ours) as caught:
            hub.hf_hub_download(repo_id, filename, revision=revision)
        assert type(caught.value) is ours


# ---- a host name that does not resolve (issue 14 §3) ----

UNRESOLVABLE = "http://squeezebert-np-test.invalid"       # RFC 2606: .invalid never resolves


def test_a_host_name_that_does_not_resolve_fails_at_once_and_says_what_to_do(fake_hub, cache, monkeypatch):
    """No retry with backoff for a DNS failure (it is not transient): the old client waited 15 s."""
    import time
    monkeypatch.setenv("HF_ENDPOINT", UNRESOLVABLE)
    monkeypatch.setattr(hub, "BACKOFF_SECONDS", 1.0)             # the real backoff: one retry would cost 1 s
    start = time.monotonic()
    with pytest.raises(LocalEntryNotFoundError) as caught:
        hub.cached_file(REPO, "tokenizer_config.json", missing_ok=True)
    assert time.monotonic() - start < 1.0
    message = str(caught.value)
    for fragment in ("'squeezebert-np-test.invalid' does not resolve", f"nothing of '{REPO}' (revision 'main') is "
                     "in the cache", "network", "HF_ENDPOINT", "local directory", "python -m squeezebert_np.download"):
        assert fragment in message, message
    assert "tokenizer_config.json" not in message      # the user asked for the repo, not for this optional file
    with pytest.raises(LocalEntryNotFoundError, match="does not resolve.*nothing of"):
        hub.snapshot_download(REPO)
    assert time.monotonic() - start < 2.0


def test_5xx_and_cut_connections_still_retry_but_dns_failures_do_not(monkeypatch):
    import urllib.error
    calls = []

    def fake_open(method, url, token, timeout, **_):
        calls.append(url)
        raise errors.pop(0)
    monkeypatch.setattr(hub, "_open", fake_open)
    monkeypatch.setattr(hub, "BACKOFF_SECONDS", 0.0)
    errors = [urllib.error.URLError(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))]
    with pytest.raises(urllib.error.URLError):
        hub._open_with_retries("HEAD", "http://x.invalid/", None, 1, hub.MAX_ATTEMPTS)
    assert len(calls) == 1
    calls.clear()
    errors = [ConnectionResetError(), urllib.error.URLError(ConnectionRefusedError()), TimeoutError(),
              ConnectionResetError(), ConnectionResetError()]
    with pytest.raises(ConnectionResetError):
        hub._open_with_retries("HEAD", "http://x/", None, 1, hub.MAX_ATTEMPTS)
    assert len(calls) == hub.MAX_ATTEMPTS


# ---- hostile and faulty servers (issue 15: hub items 3-7) ----

def tree_url(fake_hub, repo_id=REPO):
    return f"{fake_hub.endpoint}/api/models/{repo_id}/tree/{fake_hub.commit(repo_id)}?recursive=true&expand=false"


def assert_cache_clean(cache):
    """Nothing partial, and every blob verified against its name (sha256, or the git blob sha1)."""
    assert leftovers(cache) == []
    for blob in storage(cache).glob("blobs/*"):
        data = blob.read_bytes()
        assert blob.name in (hashlib.sha256(data).hexdigest(), git_blob_sha1(data)), blob
    for link in storage(cache).glob("snapshots/*/*"):
        assert link.resolve().exists(), link


def test_a_listing_whose_next_page_loops_is_refused(fake_hub, cache):
    fake_hub.headers({"Link": f'<{tree_url(fake_hub)}>; rel="next"'}, times=1000, path="/tree/")
    with pytest.raises(LocalEntryNotFoundError, match="links back to an earlier page"):
        hub.snapshot_download(REPO)
    assert len(fake_hub.requests(path="/tree/")) == 1
    assert_cache_clean(cache)


def test_listing_pages_are_bounded_and_must_bring_files(fake_hub, cache, monkeypatch):
    fake_hub.tree_page_size = 1                                        # 4 files: 4 pages
    monkeypatch.setattr(hub, "MAX_LIST_PAGES", 3)
    with pytest.raises(LocalEntryNotFoundError, match="more than 3 pages"):
        hub.snapshot_download(REPO)
    assert len(fake_hub.requests(path="/tree/")) == 3
    fake_hub.clear_log()
    # an empty page that links on (to a new URL each time: no loop, no progress either)
    fake_hub.tree_page_size = 0
    with pytest.raises(LocalEntryNotFoundError, match="empty page"):
        hub.snapshot_download(REPO)
    assert len(fake_hub.requests(path="/tree/")) == 1
    fake_hub.tree_page_size = 1000
    fake_hub.headers({"Link": '<file:///etc/passwd>; rel="next"'}, path="/tree/")
    with pytest.raises(HubError, match="only http and https"):
        hub.snapshot_download(REPO)


def test_a_corrupt_git_file_is_caught_by_its_blob_sha1(fake_hub, cache):
    fake_hub.corrupt(origin="hub", path="config.json")
    with pytest.raises(HubError, match="corrupt: its git blob sha1"):
        hub.hf_hub_download(REPO, "config.json")
    assert not list(storage(cache).glob("snapshots/*/config.json")) and not list(storage(cache).glob("blobs/*"))
    assert_cache_clean(cache)
    assert open(hub.hf_hub_download(REPO, "config.json"), "rb").read() == CONFIG     # then it works


def test_a_git_file_cut_short_with_no_size_announced_is_not_cached(fake_hub, cache):
    fake_hub.headers({"Content-Length": None}, origin="hub", path="config.json", times=3)  # HEADs, GET
    fake_hub.cut(after=10, origin="hub", path="config.json")
    with pytest.raises(HubError, match="corrupt: its git blob sha1"):
        hub.hf_hub_download(REPO, "config.json")
    assert not list(storage(cache).glob("blobs/*"))
    assert_cache_clean(cache)


def test_a_206_for_the_wrong_range_means_starting_over(fake_hub, cache):
    fake_hub.cut(after=20, origin="hub", path="config.json")
    fake_hub.wrong_range(shift=3, origin="hub", path="config.json")
    assert open(hub.hf_hub_download(REPO, "config.json"), "rb").read() == CONFIG
    gets = fake_hub.requests(method="GET", path="config.json")
    assert [r.header("range") for r in gets] == [None, "bytes=20-", None]      # the bad 206 was not used
    assert_cache_clean(cache)


def test_content_that_changed_between_cut_and_resume_means_starting_over(fake_hub, cache):
    fake_hub.cut(after=100_000)
    fake_hub.headers({"ETag": '"an-older-version"'}, origin="cdn")            # the first answer's ETag
    assert open(hub.hf_hub_download(REPO, "pytorch_model.bin"), "rb").read() == WEIGHTS
    assert [r.header("range") for r in fake_hub.requests(origin="cdn")] == [None, "bytes=100000-", None]
    assert_cache_clean(cache)


def test_reading_stops_at_the_announced_size(fake_hub, cache):
    fake_hub.extra(20_000_000)                                                  # 20 MB more than the 288 kB
    with pytest.raises(HubError, match="more than the 288000 bytes it announced"):
        hub.hf_hub_download(REPO, "pytorch_model.bin")
    assert_nothing_partial(cache)


@pytest.mark.parametrize("token", ["hf_SECRET\r\nX: 1", "hf_SECRET X", "hf_SECRET\x00", "hf_SECRÉT", "hf_" * 400])
def test_a_malformed_token_is_refused_before_any_request_without_showing_it(fake_hub, cache, monkeypatch, token):
    with pytest.raises(HubArgumentError, match="token given") as caught:
        hub.hf_hub_download(REPO, "config.json", token=token)
    assert "SECRET" not in str(caught.value) and "SECR" not in repr(caught.value)
    monkeypatch.setenv("HF_TOKEN", token.replace("\r\n", "\x01").replace("\0", "\x7f"))
    with pytest.raises(HubArgumentError, match="HF_TOKEN") as caught:
        hub.snapshot_download(REPO)
    assert "SECR" not in str(caught.value)
    assert fake_hub.log == []


def test_a_token_never_appears_in_a_message(fake_hub, cache):
    secret = "hf_private"
    for call in (lambda: hub.hf_hub_download("org/nope", "config.json", token=secret),
                 lambda: hub.hf_hub_download(PRIVATE, "nope.txt", token=secret),
                 lambda: hub.hf_hub_download(GATED, "config.json", token=secret)):
        with pytest.raises(HubError) as caught:
            call()
        assert secret not in str(caught.value) and secret not in repr(caught.value)
    with pytest.raises(HubArgumentError, match="must be a string"):
        hub.hf_hub_download(REPO, "config.json", token=b"hf_x")


@pytest.mark.parametrize("headers, fragment", [
    ({"Location": "file:///nonexistent/adv_probe"}, "refused a redirect"),
    ({"Location": "data:,hello"}, "refused a redirect"),
    ({"Location": "http://127.0.0.1:99999/x"}, "bad port"),
    ({"X-Linked-Size": "²"}, "malformed X-Linked-Size"),
    ({"X-Linked-Size": "9" * 5000}, "malformed X-Linked-Size"),
])
def test_hostile_headers_get_our_error(fake_hub, cache, headers, fragment):
    fake_hub.headers(headers, method="HEAD", path="pytorch_model.bin")
    with pytest.raises(HubError, match=fragment) as caught:
        hub.hf_hub_download(REPO, "pytorch_model.bin")
    assert len(str(caught.value)) < 600
    assert fake_hub.requests(origin="cdn") == []
    assert_nothing_partial(cache)


def test_a_redirect_to_file_during_the_download_is_refused(fake_hub, cache, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_bytes(CONFIG)
    fake_hub.fail(302, origin="hub", method="GET", path="config.json")     # a 302 ...
    fake_hub.headers({"Location": secret.as_uri()}, origin="hub", method="GET", path="config.json")  # ... to file:
    with pytest.raises(HubError, match="only http and https"):
        hub.hf_hub_download(REPO, "config.json")
    assert not list(storage(cache).glob("blobs/*"))


def test_a_partial_file_left_by_a_killed_download_is_resumed(fake_hub, cache):
    """huggingface_hub's name, blobs/<etag>.incomplete: the next call continues it with a Range request."""
    sha = hashlib.sha256(WEIGHTS).hexdigest()
    (storage(cache) / "blobs").mkdir(parents=True)
    (storage(cache) / "blobs" / f"{sha}.incomplete").write_bytes(WEIGHTS[:123_456])
    assert open(hub.hf_hub_download(REPO, "pytorch_model.bin"), "rb").read() == WEIGHTS
    assert [r.header("range") for r in fake_hub.requests(origin="cdn")] == ["bytes=123456-"]
    assert_cache_clean(cache)


def test_a_corrupt_partial_file_is_downloaded_again_from_the_start(fake_hub, cache):
    sha = hashlib.sha256(WEIGHTS).hexdigest()
    (storage(cache) / "blobs").mkdir(parents=True)
    (storage(cache) / "blobs" / f"{sha}.incomplete").write_bytes(b"\0" * 1000)
    assert open(hub.hf_hub_download(REPO, "pytorch_model.bin"), "rb").read() == WEIGHTS
    assert [r.header("range") for r in fake_hub.requests(origin="cdn")] == ["bytes=1000-", None]
    assert_cache_clean(cache)


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
@pytest.mark.parametrize("limit", [50, 100_000])
def test_a_file_size_limit_leaves_no_partial_file_and_gives_our_error(fake_hub, cache, limit):
    """RLIMIT_FSIZE (a full disk for this process): 50 bytes is less than CACHEDIR.TAG and a ref; 100 kB less than
    the weights. Our error, no *.tmp / *.incomplete left, CACHEDIR.TAG whole or absent."""
    code = """
        import json, resource, sys
        from squeezebert_np import hub
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.RLIM_INFINITY))
        try:
            hub.hf_hub_download("squeezebert/squeezebert-uncased", "pytorch_model.bin")
            print(json.dumps(None))
        except Exception as e:
            print(json.dumps([type(e).__name__, str(e)]))
        """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code), str(limit)], env=fake_hub.environ(cache),
                            capture_output=True, text=True, timeout=60,
                            cwd=os.path.dirname(os.path.dirname(os.path.abspath(hub.__file__))))
    assert result.returncode == 0, result.stderr
    error = json.loads(result.stdout)
    assert error is not None and error[0] == "HubError", error
    assert "no space left" in error[1] or "cannot write" in error[1], error
    assert leftovers(cache) == []
    tag = cache / "CACHEDIR.TAG"
    assert not tag.exists() or tag.read_text() == hub.CACHEDIR_TAG
    assert_nothing_partial(cache)


def test_a_listing_nested_too_deep_or_too_large_is_our_error(fake_hub, cache, monkeypatch):
    fake_hub.headers({"Content-Length": None}, path="/tree/")
    monkeypatch.setattr(fake_hub, "_tree", lambda *a: "[" * 100_000)     # json.dumps of it: a string, so patch body
    import fakehub
    monkeypatch.setattr(fakehub, "_json", lambda obj: (200, {"Content-Type": "application/json"},
                                                       obj.encode() if isinstance(obj, str) else json.dumps(obj).encode()))
    monkeypatch.setattr(fake_hub, "tree_page_size", 10 ** 6)
    with pytest.raises(LocalEntryNotFoundError, match="unreadable answer"):
        hub.snapshot_download(REPO)
    monkeypatch.setattr(hub, "MAX_JSON_BYTES", 1000)
    monkeypatch.setattr(fake_hub, "_tree", lambda *a: " " * 5000 + "[]")
    with pytest.raises(LocalEntryNotFoundError, match="more than 1000 bytes"):
        hub.snapshot_download(REPO)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_a_download_killed_with_sigkill_is_resumed_by_the_next_run(fake_hub, cache):
    """A real kill: the child downloads, the server stalls after 100 kB, the child is SIGKILLed; the next call
    continues blobs/<etag>.incomplete from where it stopped."""
    import signal
    import time
    sha = hashlib.sha256(WEIGHTS).hexdigest()
    partial = storage(cache) / "blobs" / f"{sha}.incomplete"
    fake_hub.stall(30, after=100_000)
    code = "from squeezebert_np import hub; hub.hf_hub_download('squeezebert/squeezebert-uncased', 'pytorch_model.bin')"
    child = subprocess.Popen([sys.executable, "-c", code], env=fake_hub.environ(cache),
                             cwd=os.path.dirname(os.path.dirname(os.path.abspath(hub.__file__))))
    try:
        deadline = time.monotonic() + 30
        while not (partial.exists() and partial.stat().st_size == 100_000) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert partial.stat().st_size == 100_000
    fake_hub.clear_faults()
    fake_hub.clear_log()
    assert open(hub.hf_hub_download(REPO, "pytorch_model.bin"), "rb").read() == WEIGHTS
    assert [r.header("range") for r in fake_hub.requests(origin="cdn")] == ["bytes=100000-"]
    assert_cache_clean(cache)
