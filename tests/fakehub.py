"""A fake Hugging Face hub for tests: two HTTP origins on 127.0.0.1, faithful to HUB.md §10.

The hub origin answers the download protocol (`/{repo}/resolve/{rev}/{path}`, `/api/resolve-cache/...`) and the
API (`/api/models/{repo}`, `.../revision/{rev}`, `.../tree/{rev}`); the CDN origin (another port, so "cross-origin"
is real) serves LFS blobs by sha256 with HTTP ranges. Every request on both origins is logged, and faults can be
queued: HTTP errors, a connection cut after N bytes, a stall, corrupted bytes, a server that ignores `Range`.

Use it as a context manager; it serves from threads, so subprocesses can use it too:

    from fakehub import FakeHub

    repos = {"squeezebert/squeezebert-uncased": {"main": {"config.json": b"{}", "pytorch_model.bin": b"..."}}}
    with FakeHub(repos=repos) as hub:
        # in this process (pytest's monkeypatch), or for a subprocess: subprocess.run(..., env=hub.environ(cache))
        for name, value in hub.env_vars(cache).items():
            monkeypatch.setenv(name, value)
        ...
        hub.log                     # [Request(origin="hub", method="HEAD", path="/squeezebert/...", headers={...})]
        hub.fail(500, times=2)      # the next two hub requests answer 500
        hub.cut(after=1000)         # the next CDN download sends 1000 bytes, then drops the connection

Repos: `repos` maps a repo id to branches (`"main"`, `"refs/pr/1"`, ...), each a dict of path -> bytes; every
branch gets a deterministic 40-hex commit. Add more with `set_files` (a new commit on a branch), `add_pr`,
`add_tag`; look commits up with `commit`. `gated={repo: token}` and `private={repo: token}` protect repos: the
request needs `Authorization: Bearer <token>`. Files whose name ends in one of `lfs_suffixes` are LFS files
(302 to the CDN), the others git files (307 to resolve-cache).
"""
import hashlib
import importlib.metadata
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

LFS_SUFFIXES = (".bin", ".safetensors", ".h5", ".msgpack", ".onnx", ".pt", ".pth", ".ckpt", ".npz", ".gguf")
LAST_MODIFIED = "2020-09-18T21:47:00.000Z"


def git_blob_sha1(data):
    """The git object id of a blob: the etag the hub gives git (non-LFS) files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(data):
    """The text git stores in place of an LFS file."""
    sha256 = hashlib.sha256(data).hexdigest()
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {len(data)}\n".encode()


@dataclass
class Request:
    """One request as the server saw it; header names are lower case."""
    origin: str          # "hub" or "cdn"
    method: str
    path: str            # with the query string
    headers: dict
    status: int = 0      # the status answered (0 if the connection was dropped before)

    def header(self, name):
        return self.headers.get(name.lower())


@dataclass
class _Fault:
    kind: str            # "status", "delay", "cut", "stall", "corrupt", "ignore_range", "wrong_range", "headers",
    #                      "extra" or "replace"
    times: int
    origin: str | None
    method: str | None
    path: str | None
    status: int = 500
    after: int = 0
    seconds: float = 0.0
    values: dict = field(default_factory=dict)

    def matches(self, origin, method, path, headers):
        return (self.times > 0 and self.origin in (None, origin) and self.method in (None, method)
                and (self.path is None or self.path in path)
                and (self.kind not in ("ignore_range", "wrong_range") or "range" in headers))


@dataclass
class _Repo:
    branches: dict = field(default_factory=dict)   # branch or refs/pr/N -> commit
    tags: dict = field(default_factory=dict)       # tag -> commit
    commits: dict = field(default_factory=dict)    # commit -> {path: bytes}
    gated_token: str | None = None
    private_token: str | None = None

    def resolve(self, revision):
        if revision in self.branches:
            return self.branches[revision]
        if revision in self.tags:
            return self.tags[revision]
        return revision if revision in self.commits else None


class FakeHub:
    """The fake hub. See the module docstring."""

    def __init__(self, repos=None, *, gated=None, private=None, lfs_suffixes=LFS_SUFFIXES, tree_page_size=1000):
        self.repos = {}
        self.blobs = {}                 # sha256 -> bytes, served by the CDN
        self.log = []
        self.lfs_suffixes = tuple(lfs_suffixes)
        self.tree_page_size = tree_page_size
        self._faults = []
        self._lock = threading.Lock()
        self._servers = []
        for repo_id, branches in (repos or {}).items():
            self.add_repo(repo_id, branches)
        for repo_id, token in (gated or {}).items():
            self.repos[repo_id].gated_token = token
        for repo_id, token in (private or {}).items():
            self.repos[repo_id].private_token = token

    # ---- repos ----

    def add_repo(self, repo_id, branches=None, *, gated=None, private=None):
        """Create a repo with `branches` ({"main": {path: bytes}, "refs/pr/1": {...}}); tokens protect it."""
        self.repos[repo_id] = _Repo(gated_token=gated, private_token=private)
        for branch, files in (branches or {"main": {}}).items():
            self.set_files(repo_id, files, branch=branch)
        return self

    def set_files(self, repo_id, files, *, branch="main"):
        """Make a new commit holding exactly `files` on `branch` (created if new); return the commit."""
        repo = self.repos[repo_id]
        files = {path: bytes(data) for path, data in files.items()}
        blobs = sorted((path, git_blob_sha1(data)) for path, data in files.items())
        listing = json.dumps([repo_id, branch, len(repo.commits), blobs])
        commit = hashlib.sha1(listing.encode()).hexdigest()
        with self._lock:
            repo.commits[commit] = files
            repo.branches[branch] = commit
            for path, data in files.items():
                if self.is_lfs(path):
                    self.blobs[hashlib.sha256(data).hexdigest()] = data
        return commit

    def add_pr(self, repo_id, files, *, number=None):
        """Open a pull request holding `files`; return its revision name "refs/pr/N"."""
        repo = self.repos[repo_id]
        taken = [int(b.rsplit("/", 1)[1]) for b in repo.branches if b.startswith("refs/pr/")]
        name = f"refs/pr/{number or max(taken, default=0) + 1}"
        self.set_files(repo_id, files, branch=name)
        return name

    def add_tag(self, repo_id, tag, revision="main"):
        """Tag the commit `revision` points to now; return that commit."""
        repo = self.repos[repo_id]
        repo.tags[tag] = repo.resolve(revision)
        return repo.tags[tag]

    def commit(self, repo_id, revision="main"):
        """The 40-hex commit a branch, tag or refs/pr/N points to."""
        return self.repos[repo_id].resolve(revision)

    def is_lfs(self, path):
        return path.endswith(self.lfs_suffixes)

    # ---- faults (each applies to the next `times` matching requests; faults of different kinds combine) ----

    def fail(self, status=500, *, times=1, origin="hub", method=None, path=None):
        """Answer `status` with no X-Error-Code (a 5xx, a 429, ...)."""
        return self._add(_Fault("status", times, origin, method, path, status=status))

    def delay(self, seconds, *, times=1, origin="hub", method=None, path=None):
        """Wait `seconds` before answering (the client's read timeout fires first if it is shorter)."""
        return self._add(_Fault("delay", times, origin, method, path, seconds=seconds))

    def cut(self, after, *, times=1, origin="cdn", path=None):
        """Announce the full length, send `after` bytes of the body, then drop the connection."""
        return self._add(_Fault("cut", times, origin, "GET", path, after=after))

    def stall(self, seconds, *, after=0, times=1, origin="cdn", path=None):
        """Send `after` bytes of the body, then go silent for `seconds` before sending the rest."""
        return self._add(_Fault("stall", times, origin, "GET", path, after=after, seconds=seconds))

    def corrupt(self, *, times=1, origin="cdn", path=None):
        """Send bytes that differ from the file (same length): the sha256 no longer matches."""
        return self._add(_Fault("corrupt", times, origin, "GET", path))

    def ignore_range(self, *, times=1, origin="cdn", path=None):
        """Answer a ranged GET with 200 and the whole body, as some proxies do."""
        return self._add(_Fault("ignore_range", times, origin, "GET", path))

    def headers(self, values, *, times=1, origin="hub", method=None, path=None):
        """Answer with these headers changed (a value of None removes the header): a bad size, a Location to
        file://, a Link loop, an ETag that is not the content's."""
        return self._add(_Fault("headers", times, origin, method, path, values=dict(values)))

    def wrong_range(self, shift=1, *, times=1, origin="cdn", path=None):
        """Answer a ranged GET with a 206 for a range that starts `shift` bytes off the one asked for."""
        return self._add(_Fault("wrong_range", times, origin, "GET", path, after=shift))

    def extra(self, nbytes, *, times=1, origin="cdn", path=None):
        """Send `nbytes` more than the file, with no Content-Length (the body ends when the connection closes)."""
        return self._add(_Fault("extra", times, origin, "GET", path, after=nbytes))

    def replace_body(self, data, *, times=1, origin="cdn", path=None):
        """Serve `data` instead of the file (with its own length): content that is not what the etag says."""
        return self._add(_Fault("replace", times, origin, "GET", path, values={"data": bytes(data)}))

    def clear_faults(self):
        with self._lock:
            self._faults.clear()

    def _add(self, fault):
        with self._lock:
            self._faults.append(fault)
        return self

    def _take_faults(self, origin, method, path, headers):
        """{kind: fault}: the first matching fault of each kind applies (a cut and an ignored range can combine)."""
        taken = {}
        with self._lock:
            for fault in self._faults:
                if fault.kind not in taken and fault.matches(origin, method, path, headers):
                    fault.times -= 1
                    taken[fault.kind] = fault
        return taken

    # ---- the request log ----

    def requests(self, *, origin=None, method=None, path=None):
        """The logged requests that match (path: a substring)."""
        with self._lock:
            log = list(self.log)
        return [r for r in log if origin in (None, r.origin) and method in (None, r.method)
                and (path is None or path in r.path)]

    def clear_log(self):
        with self._lock:
            self.log.clear()

    # ---- serving ----

    def start(self):
        self.hub_server = self._serve("hub")
        self.cdn_server = self._serve("cdn")
        self.endpoint = f"http://127.0.0.1:{self.hub_server.server_port}"
        self.cdn_endpoint = f"http://127.0.0.1:{self.cdn_server.server_port}"
        return self

    def stop(self):
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _serve(self, origin):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self, origin))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._servers.append(server)
        return server

    # ---- environment for clients ----

    def env_vars(self, cache_dir, *, home=None, timeout=5):
        """The variables that point a client (ours or huggingface_hub) at this hub and at `cache_dir`.

        HF_HOME goes next to the cache (never inside it: scan_cache_dir would see a stray folder), so no real token
        file is read; proxies are bypassed for 127.0.0.1; Xet, telemetry, progress bars and transformers' background
        safetensors-conversion lookup are off.
        """
        cache_dir = os.fspath(cache_dir)
        return {
            "HF_ENDPOINT": self.endpoint,
            "HF_HUB_CACHE": cache_dir,
            "HF_HOME": os.fspath(home) if home else cache_dir.rstrip("/\\") + "-home",
            "HF_HUB_ETAG_TIMEOUT": str(timeout),
            "HF_HUB_DOWNLOAD_TIMEOUT": str(timeout),
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "DISABLE_SAFETENSORS_CONVERSION": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }

    def environ(self, cache_dir, **extra):
        """A full environment for a subprocess: os.environ without any HF_* / token / offline variables, plus
        `env_vars(cache_dir)` and `extra` (e.g. HF_TOKEN="...", HF_HUB_OFFLINE="1")."""
        env = {k: v for k, v in os.environ.items() if not _is_hub_variable(k)}
        env.update(self.env_vars(cache_dir))
        env.update({k: str(v) for k, v in extra.items()})
        return env

    # ---- routing: (origin, method, path, headers) -> (status, headers, body) ----

    def _route(self, origin, path, headers):
        parts = urlsplit(path)
        segments = [unquote(s) for s in parts.path.strip("/").split("/")]
        query = parse_qs(parts.query)
        if origin == "cdn":
            return self._cdn(segments)
        if segments[:3] == ["api", "resolve-cache", "models"]:
            return self._resolve_cache(segments[3:], headers)
        if segments[:2] == ["api", "models"]:
            return self._api(segments[2:], query, headers)
        if "resolve" in segments[1:3]:
            return self._resolve(segments, headers)
        return _error(404, None, "Not Found")

    def _split_repo(self, segments):
        """(repo_id, rest): a known one- or two-segment repo id, else the first two segments."""
        for n in (2, 1):
            if "/".join(segments[:n]) in self.repos:
                return "/".join(segments[:n]), segments[n:]
        return "/".join(segments[:2]), segments[2:]

    def _access(self, repo_id, headers):
        """None if the request may see the repo, else the error response (HUB.md §4)."""
        repo = self.repos.get(repo_id)
        bearer = (headers.get("authorization") or "").removeprefix("Bearer ").strip()
        if repo is None or (repo.private_token and bearer != repo.private_token):
            return _error(401, "RepoNotFound", "Repository not found")
        if repo.gated_token and bearer != repo.gated_token:
            return _error(401, "GatedRepo", f"Access to model {repo_id} is restricted. You must have access to it "
                                            "and be authenticated to access it. Please log in.")
        return None

    def _commit_or_error(self, repo_id, revision, headers):
        denied = self._access(repo_id, headers)
        if denied:
            return None, denied
        commit = self.repos[repo_id].resolve(revision)
        if commit is None:
            return None, _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return commit, None

    def _resolve(self, segments, headers):
        """`/{repo}/resolve/{rev}/{path}`: 307 to resolve-cache (git files) or 302 to the CDN (LFS files)."""
        repo_id, rest = self._split_repo(segments)
        if len(rest) < 3 or rest[0] != "resolve":
            return _error(404, None, "Not Found")
        revision, filename = rest[1], "/".join(rest[2:])
        commit, failure = self._commit_or_error(repo_id, revision, headers)
        if failure:
            return failure
        files = self.repos[repo_id].commits[commit]
        if filename not in files:
            status, head, body = _error(404, "EntryNotFound", f"{filename} does not exist on \"{revision}\"")
            return status, {**head, "X-Repo-Commit": commit}, body
        data = files[filename]
        if self.is_lfs(filename):
            sha256 = hashlib.sha256(data).hexdigest()
            return 302, {
                "Location": f"{self.cdn_endpoint}/blobs/{sha256}?X-Amz-Signature=fake&Expires=4102444800",
                "X-Repo-Commit": commit, "X-Linked-Etag": f'"{sha256}"', "X-Linked-Size": str(len(data)),
                "ETag": f'"{git_blob_sha1(lfs_pointer(data))}"', "Content-Length": "0"}, b""
        etag = git_blob_sha1(data)
        location = f"/api/resolve-cache/models/{repo_id}/{commit}/{quote(filename)}?etag=%22{etag}%22"
        return 307, {"Location": location, "X-Repo-Commit": commit, "ETag": f'"{etag}"', "Content-Length": "0"}, b""

    def _resolve_cache(self, segments, headers):
        """`/api/resolve-cache/models/{repo}/{commit}/{path}`: the git file itself. Needs no query string."""
        commit_at = next((i for i, s in enumerate(segments) if re.fullmatch(r"[0-9a-f]{40}", s)), None)
        if commit_at is None:
            return _error(404, None, "Not Found")
        repo_id, commit = "/".join(segments[:commit_at]), segments[commit_at]
        filename = "/".join(segments[commit_at + 1:])
        commit, failure = self._commit_or_error(repo_id, commit, headers)
        if failure:
            return failure
        files = self.repos[repo_id].commits[commit]
        if filename not in files:
            return _error(404, "EntryNotFound", f"{filename} does not exist")
        data = files[filename]
        return 200, {"ETag": f'"{git_blob_sha1(data)}"', "X-Repo-Commit": commit,
                     "Content-Type": "text/plain; charset=utf-8", "Accept-Ranges": "bytes"}, data

    def _api(self, segments, query, headers):
        """`/api/models/{repo}[/revision/{rev}]` (repo info) and `/api/models/{repo}/tree/{rev}[/{path}]`."""
        repo_id, rest = self._split_repo(segments)
        if not rest or rest[0] == "revision":
            revision = rest[1] if len(rest) > 1 else "main"
            commit, failure = self._commit_or_error(repo_id, revision, headers)
            return failure or _json(self._model_info(repo_id, commit, blobs=query.get("blobs") == ["true"]))
        if rest[0] == "tree" and len(rest) >= 2:
            commit, failure = self._commit_or_error(repo_id, rest[1], headers)
            if failure:
                return failure
            recursive, under = query.get("recursive") == ["true"], "/".join(rest[2:])
            entries = self._tree(repo_id, commit, under, recursive)
            if under and not entries:
                return _error(404, "EntryNotFound", f"{under} does not exist on \"{rest[1]}\"")
            start = int(query.get("cursor", ["0"])[0])
            page = entries[start:start + self.tree_page_size]
            status, head, body = _json(page)
            if start + self.tree_page_size < len(entries):
                next_query = f"recursive={str(recursive).lower()}&expand=false&cursor={start + self.tree_page_size}"
                next_url = f"{self.endpoint}/api/models/{repo_id}/tree/{quote(rest[1], safe='')}?{next_query}"
                head["Link"] = f'<{next_url}>; rel="next"'
            return status, head, body
        return _error(404, None, "Not Found")

    def _model_info(self, repo_id, commit, *, blobs):
        repo = self.repos[repo_id]
        siblings = []
        for path, data in sorted(repo.commits[commit].items()):
            sibling = {"rfilename": path}
            if blobs:
                sibling.update(self._blob_fields(path, data, size_key="size", oid_key="blobId"))
            siblings.append(sibling)
        return {"_id": hashlib.md5(repo_id.encode()).hexdigest()[:24], "id": repo_id, "modelId": repo_id,
                "sha": commit, "private": bool(repo.private_token), "gated": "manual" if repo.gated_token else False,
                "disabled": False, "downloads": 0, "likes": 0, "library_name": "transformers",
                "tags": ["transformers", "pytorch", "squeezebert"], "lastModified": LAST_MODIFIED,
                "createdAt": LAST_MODIFIED, "siblings": siblings}

    def _blob_fields(self, path, data, *, size_key, oid_key):
        """size and git oid of a file; for LFS files the oid is the pointer's and `lfs` holds sha256 and size."""
        if not self.is_lfs(path):
            return {size_key: len(data), oid_key: git_blob_sha1(data)}
        pointer = lfs_pointer(data)
        lfs = {"sha256" if oid_key == "blobId" else "oid": hashlib.sha256(data).hexdigest(), "size": len(data),
               "pointerSize": len(pointer)}
        return {size_key: len(data), oid_key: git_blob_sha1(pointer), "lfs": lfs}

    def _tree(self, repo_id, commit, under, recursive):
        files = self.repos[repo_id].commits[commit]
        prefix = under + "/" if under else ""
        folders, entries = set(), []
        for path in sorted(files):
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix):].split("/")
            for depth in range(1, len(parts)):
                folders.add(prefix + "/".join(parts[:depth]))
            if recursive or len(parts) == 1:
                entries.append({"type": "file", "path": path,
                                **self._blob_fields(path, files[path], size_key="size", oid_key="oid")})
        for folder in sorted(folders):
            if recursive or "/" not in folder[len(prefix):]:
                entries.append({"type": "directory", "oid": hashlib.sha1(folder.encode()).hexdigest(),
                                "size": 0, "path": folder})
        return sorted(entries, key=lambda e: e["path"])

    def _cdn(self, segments):
        """`/blobs/{sha256}`: the LFS bytes (the signature in the query is not checked)."""
        if len(segments) != 2 or segments[0] != "blobs" or segments[1] not in self.blobs:
            return 404, {"Content-Type": "application/xml"}, b"<Error><Code>NoSuchKey</Code></Error>"
        return 200, {"ETag": f'"{segments[1]}"', "Content-Type": "application/octet-stream",
                     "Accept-Ranges": "bytes"}, self.blobs[segments[1]]


# ---- huggingface_hub on the other side: the pinned version, and the current release when it is provided ----

def hub_versions():
    """("pinned", None) always; ("current", DIR) when SQUEEZEBERT_HUB_CURRENT is set, else a skip saying why."""
    import pytest
    current = os.environ.get("SQUEEZEBERT_HUB_CURRENT")
    return [pytest.param(None, id="pinned"),
            pytest.param(current, id="current", marks=pytest.mark.skipif(
                not current, reason="SQUEEZEBERT_HUB_CURRENT is not set (a `pip install --target DIR "
                                    "huggingface_hub==<current release>` folder): only the pinned version runs"))]


def run_huggingface_hub(code, env, where, *args):
    """Run `code` with huggingface_hub: the installed one, or the one in the folder `where`. Returns the JSON of the
    last stdout line; checks the child imported the huggingface_hub it was meant to."""
    env = dict(env)
    if where:
        env["PYTHONPATH"] = os.pathsep.join([where, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    code = textwrap.dedent(code) + "\nimport huggingface_hub as _h; print(json.dumps([_h.__version__, _h.__file__]))"
    result = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    *lines, imported = result.stdout.strip().splitlines()
    version, path = json.loads(imported)
    pinned = importlib.metadata.version("huggingface_hub")
    if where:
        assert os.path.realpath(path).startswith(os.path.realpath(where) + os.sep), path
        assert version != pinned, f"the child ran the pinned huggingface_hub {version} again"
    else:
        assert version == pinned, (version, pinned)
    return json.loads(lines[-1])


def _is_hub_variable(name):
    return name.startswith(("HF_", "HUGGING_FACE_", "HUGGINGFACE_")) or name in ("TRANSFORMERS_OFFLINE",
                                                                                 "TRANSFORMERS_CACHE")


def _error(status, code, message):
    head = {"Content-Type": "application/json", "X-Error-Message": message}
    if code:
        head["X-Error-Code"] = code
    return status, head, json.dumps({"error": message}).encode()


def _json(obj):
    return 200, {"Content-Type": "application/json; charset=utf-8"}, json.dumps(obj).encode()


def _byte_range(value, size):
    """(start, end) of a `Range: bytes=a-[b]` header within `size`, or None if unsatisfiable."""
    match = re.fullmatch(r"bytes=(\d+)-(\d*)", value.strip())
    if not match:
        return 0, size - 1
    start = int(match[1])
    end = min(int(match[2]), size - 1) if match[2] else size - 1
    return (start, end) if start < size and start <= end else None


def _handler_class(hub, origin):
    class Handler(BaseHTTPRequestHandler):
        server_version = "FakeHub/1.0"

        def do_GET(self):
            self._answer()

        def do_HEAD(self):
            self._answer()

        def log_message(self, *args):
            pass  # quiet: the request log is in hub.log

        def _answer(self):
            request = Request(origin, self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
            with hub._lock:
                hub.log.append(request)
            faults = hub._take_faults(origin, self.command, self.path, request.headers)
            if "delay" in faults:
                time.sleep(faults["delay"].seconds)
            if "status" in faults:
                status, head, body = _error(faults["status"].status, None, "Injected fault")
            else:
                status, head, body = hub._route(origin, self.path, request.headers)
            if "replace" in faults and status == 200:
                body = faults["replace"].values["data"]
            if status == 200 and "range" in request.headers and "ignore_range" not in faults:
                shift = faults["wrong_range"].after if "wrong_range" in faults else 0
                status, head, body = self._ranged(head, body, request.headers["range"], shift)
            request.status = status
            self._send(status, head, body, faults)

        def _ranged(self, head, body, value, shift=0):
            span = _byte_range(value, len(body))
            if span is None:
                return 416, {"Content-Range": f"bytes */{len(body)}"}, b""
            start, end = span
            start = max(0, min(start + shift, end))
            return 206, {**head, "Content-Range": f"bytes {start}-{end}/{len(body)}"}, body[start:end + 1]

        def _send(self, status, head, body, faults):
            self.send_response(status)
            head = {"Content-Length": str(len(body)), **head}
            if "headers" in faults:
                head.update(faults["headers"].values)
            if "extra" in faults and self.command == "GET":
                head["Content-Length"] = None
                body = body + b"x" * faults["extra"].after
            for name, value in head.items():
                if value is not None:
                    self.send_header(name, value)
            if head.get("Content-Length") is None:
                self.close_connection = True          # the body ends when the connection closes
            self.end_headers()
            if self.command == "HEAD":
                return
            if "corrupt" in faults and body:
                body = bytes([body[0] ^ 0xFF]) + body[1:]
            try:
                if "cut" in faults:
                    self.wfile.write(body[:faults["cut"].after])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if "stall" in faults:
                    self.wfile.write(body[:faults["stall"].after])
                    self.wfile.flush()
                    time.sleep(faults["stall"].seconds)
                    body = body[faults["stall"].after:]
                self.wfile.write(body)
            except OSError:
                self.close_connection = True  # the client gave up (timeout): nothing more to say

    return Handler
