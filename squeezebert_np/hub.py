"""Download files from the Hugging Face hub into the Hugging Face cache, with the standard library only.

`cached_file(path_or_repo_id, filename)` is what the rest of the package calls: a file of a local directory, or of a
hub repo through the cache. `hf_hub_download(repo_id, filename)` does the hub part for one file and
`snapshot_download(repo_id)` for every file of a repo.

The protocol and the cache layout are huggingface_hub's (version 2.4.0; the sections cited are those of HUB.md, the
project's write-up of it), so a file downloaded by either library is found by the other, offline too:

    1. HEAD {endpoint}/{repo_id}/resolve/{revision}/{filename}  ->  commit, etag, size, location      (HUB.md §2)
       redirects that stay on the hub are followed; at the CDN's we stop and read the metadata from the 302
    2. GET location (on the CDN: without Authorization) into blobs/<etag>.incomplete; a dropped connection
       (or a run killed half-way) resumes with Range; the size and the hash the etag is (sha256 for LFS files,
       git blob sha1 for the others) are checked; then renamed to blobs/<etag>                            (§3, §8)
    3. snapshots/<commit>/<filename> -> ../../blobs/<etag>, and refs/<revision> holds the commit           (§5)

    $HF_HUB_CACHE/models--squeezebert--squeezebert-uncased/
        blobs/<etag>                          40-hex git sha1 (small files) or 64-hex sha256 (LFS files)
        refs/main                             the commit "main" pointed to, no newline
        snapshots/<commit>/config.json        a relative symlink to the blob
        .no_exist/<commit>/vocab.json         empty: the file is known not to exist at that commit

Settings come from huggingface_hub's environment variables (HF_ENDPOINT, HF_HUB_CACHE, HF_HUB_OFFLINE, HF_TOKEN,
...; §6), read at each call rather than at import.
"""
import contextlib
import errno
import functools
import hashlib
import http.client
import json
import math
import os
import platform
import re
import shutil
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

from .errors import (EntryNotFoundError, GatedRepoError, HubArgumentError, HubError, LocalEntryNotFoundError,
                     RepositoryNotFoundError, RevisionNotFoundError)

try:
    import fcntl
except ImportError:  # Windows: no lock; the atomic rename keeps the cache correct anyway
    fcntl = None

DEFAULT_ENDPOINT = "https://huggingface.co"
# the Authorization header goes to these and to HF_ENDPOINT only, never to the CDN (HUB.md §3)
HUB_ORIGINS = ("https://huggingface.co", "https://hf.co", "https://hub-ci.huggingface.co")
CHUNK_SIZE = 1024 * 1024       # at most 1 MiB per read; every byte received is written, so a resume loses nothing
MAX_ATTEMPTS = 5               # tries of one request on network errors, timeouts and RETRY_STATUSES
BACKOFF_SECONDS = 1.0          # waits between tries: 1, 2, 4, 8 s
MAX_REDIRECTS = 20
MAX_TOKEN_LENGTH = 1000        # hub tokens are ~40 characters; a longer "token" is something else pasted by mistake
MAX_LIST_PAGES = 1000          # tree listing pages of one commit (1000 files each on the hub)
MAX_SIZE_DIGITS = 18           # a size header of more digits (>= 1 EB) is malformed
MAX_JSON_BYTES = 64 * 1000 * 1000   # an API answer (repo info, one listing page of 1000 files: ~0.2 MB) at most
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
PROGRESS_MIN_BYTES = 10 * 1000 * 1000   # smaller files download too fast for a bar to help
COMMIT_RE = re.compile(r"[0-9a-f]{40}")
# the same bytes huggingface_hub writes, so the cache looks the same whoever created it
CACHEDIR_TAG = ("Signature: 8a477f597d28d172789f06886806bc55\n"
                "# This file is a cache directory tag created by huggingface_hub.\n"
                "# For information about cache directory tags, see:\n"
                "#\thttps://bford.info/cachedir/\n")
# errors that mean "the hub could not be asked": no answer, a cut answer, a timeout
# ssl.SSLError: a TLS connection cut mid-download (SSLEOFError) is a dropped connection like any other
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, ssl.SSLError)
_KNOWN_MISSING = object()          # what _cache_lookup returns for a file known to be absent (see there)


# ---- settings: the environment, read at each call (HUB.md §6) ----

def _env_true(value):
    return (value or "").upper() in {"1", "ON", "YES", "TRUE"}


def _expand(path):
    return os.path.expandvars(os.path.expanduser(path))


def hf_home():
    """HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface."""
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return _expand(os.environ.get("HF_HOME") or os.path.join(xdg, "huggingface"))


def hub_cache_dir(cache_dir=None):
    """`cache_dir`, else HF_HUB_CACHE, else the legacy HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub (HUB.md §5)."""
    if cache_dir is not None:
        return _expand(os.fspath(cache_dir))
    env = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    return _expand(env or os.path.join(hf_home(), "hub"))


def hub_endpoint():
    """HF_ENDPOINT without its trailing slash (a mirror, or a test server), else https://huggingface.co."""
    endpoint = (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    try:
        parts = urlsplit(endpoint)
        parts.port                      # a port that is out of range or not a number raises here
    except ValueError:                  # e.g. "http://[::1": an unclosed IPv6 bracket
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise HubArgumentError(f"HF_ENDPOINT must be an http:// or https:// URL such as {DEFAULT_ENDPOINT}, "
                               f"got {endpoint!r}")
    return endpoint


def offline_reason():
    """"HF_HUB_OFFLINE=1" or "TRANSFORMERS_OFFLINE=1" if that variable forbids network access, else None.

    As in huggingface_hub, a set HF_HUB_OFFLINE wins over TRANSFORMERS_OFFLINE, even when it says "0".
    """
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(name):
            return f"{name}={os.environ[name]}" if _env_true(os.environ[name]) else None
    return None


def resolve_token(token=None):
    """The token to send: `token` if it is a string, none if it is False; otherwise HF_TOKEN (legacy
    HUGGING_FACE_HUB_TOKEN), then the file HF_TOKEN_PATH (default $HF_HOME/token, written by `hf auth login`).
    With HF_HUB_DISABLE_IMPLICIT_TOKEN set, only an explicit token (a string, or True) is sent."""
    if isinstance(token, str):
        return _checked_token(token.strip(), "the token given") or None
    if token not in (None, True, False):
        raise HubArgumentError(f"token must be a string, True, False or None, not {type(token).__name__}")
    if token is False or (token is None and _env_true(os.environ.get("HF_HUB_DISABLE_IMPLICIT_TOKEN"))):
        return None
    name = "HF_TOKEN" if os.environ.get("HF_TOKEN") else "HUGGING_FACE_HUB_TOKEN"
    found = _checked_token(_clean_token(os.environ.get(name)), name)
    if found is None:
        path = _expand(os.environ.get("HF_TOKEN_PATH") or os.path.join(hf_home(), "token"))
        with contextlib.suppress(OSError, UnicodeDecodeError):
            with open(path, encoding="utf-8") as f:
                found = _checked_token(_clean_token(f.read(MAX_TOKEN_LENGTH + 1)), f"the token file {path}")
    if token is True and found is None:
        raise HubError("token=True but no token was found: set HF_TOKEN, pass the token itself, or run `hf auth login`")
    return found


def _clean_token(text):
    return (text or "").replace("\r", "").replace("\n", "").strip() or None


def _checked_token(token, source):
    """`token` if it can go into an Authorization header: printable ASCII without spaces, at most MAX_TOKEN_LENGTH
    characters. Otherwise HubArgumentError, naming what is wrong and where the token came from, never its value
    (it is a secret: a message may end up in a log)."""
    if not token:
        return token
    if len(token) > MAX_TOKEN_LENGTH:
        problem = f"is {len(token)} characters long (at most {MAX_TOKEN_LENGTH})"
    else:
        bad = next((i for i, c in enumerate(token) if not "!" <= c <= "~"), None)
        if bad is None:
            return token
        c = token[bad]
        kind = ("a line break" if c in "\r\n" else "a space" if c.isspace() else
                "a control character" if ord(c) < 32 or ord(c) == 127 else "a non-ASCII character")
        problem = f"contains {kind} (at position {bad})"
    raise HubArgumentError(f"{source} {problem}: a hub token is printable ASCII without spaces (hf_...); "
                           "nothing was sent")


def _seconds(name, default=10.0):
    """A timeout in seconds from the environment (HF_HUB_ETAG_TIMEOUT for metadata, HF_HUB_DOWNLOAD_TIMEOUT for
    downloads; 10 s each). It bounds each wait for the server, not the whole download."""
    value = os.environ.get(name)
    try:
        seconds = float(value) if value else default
    except ValueError:
        seconds = None
    if seconds is None or not 0 < seconds < math.inf:
        raise HubArgumentError(f"{name} must be a positive number of seconds, got {value!r}")
    return seconds


# ---- the cache layout (HUB.md §5) ----

def repo_folder_name(repo_id):
    """"squeezebert/squeezebert-uncased" -> "models--squeezebert--squeezebert-uncased"."""
    return "models--" + repo_id.replace("/", "--")


def _ref_path(storage, revision):
    return os.path.join(storage, "refs", *revision.split("/"))   # "refs/pr/1" -> refs/refs/pr/1


def _snapshot_path(storage, commit, filename):
    return os.path.join(storage, "snapshots", commit, *filename.split("/"))


def _no_exist_path(storage, commit, filename):
    return os.path.join(storage, ".no_exist", commit, *filename.split("/"))


def _read_ref(storage, revision):
    """The commit a revision stands for: itself if it is one, else what refs/<revision> says (None if unknown)."""
    if COMMIT_RE.fullmatch(revision):
        return revision
    with contextlib.suppress(OSError):
        with open(_ref_path(storage, revision), encoding="utf-8") as f:
            return f.read().strip() or None
    return None


def _write_ref(storage, revision, commit):
    """refs/<revision> = commit, atomically and without a newline; nothing to do for a commit or an unchanged ref."""
    if revision == commit or _read_ref(storage, revision) == commit:
        return
    path = _ref_path(storage, revision)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    _write_atomically(path, commit)


def _write_atomically(path, text, mode=0o666):
    """Write `text` to a temporary file next to `path`, then rename it over `path`: readers see the old file or the
    new one, never a part; on any failure (a full disk) the temporary file is removed and `path` is untouched.
    `mode` is before the umask (huggingface_hub writes trees/*.json with mkstemp's 0o600)."""
    tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            os.remove(tmp)


def _cache_lookup(storage, revision, filename):
    """What the cache knows of `filename` at `revision`: its snapshot path, _KNOWN_MISSING, or None (unknown).

    The order of huggingface_hub's try_to_load_from_cache: the ref gives the commit, a .no_exist marker says the file
    is absent at that commit, else the snapshot file is used if it is there. One more source than huggingface_hub
    reads: the full file listing of the commit that `snapshot_download` keeps (trees/<commit>.json). A file it does
    not list is known to be missing, so that after `python -m squeezebert_np.download` the optional files
    (tokenizer_config.json, model.safetensors...) need no network to be found absent."""
    commit = _read_ref(storage, revision)
    if commit is None:
        return None
    if os.path.isfile(_no_exist_path(storage, commit, filename)):
        return _KNOWN_MISSING
    path = _snapshot_path(storage, commit, filename)
    if os.path.isfile(path):
        return path
    listing = _read_tree_cache(storage, commit)
    return _KNOWN_MISSING if listing is not None and filename not in listing else None


def _revision_cached(storage, revision):
    """True if the cache holds something of `revision`: its snapshot folder (a file downloaded at that commit)."""
    commit = _read_ref(storage, revision)
    return commit is not None and os.path.isdir(os.path.join(storage, "snapshots", commit))


def _remember_missing(storage, revision, commit, filename):
    """Touch .no_exist/<commit>/<filename> and write the ref, as huggingface_hub does on EntryNotFound."""
    with contextlib.suppress(OSError):   # only an optimisation: never fail the call for it
        path = _no_exist_path(storage, commit, filename)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "a").close()
        _write_ref(storage, revision, commit)


def _link(blob, pointer, *, new_blob):
    """Make snapshots/<commit>/<file> a relative symlink to blobs/<etag> ("../../blobs/<etag>", one more "../" per
    sub-folder). Without symlinks (HF_HUB_DISABLE_SYMLINKS, or Windows without developer mode) a new blob is moved
    there and a blob that other snapshots may share is copied, as huggingface_hub does. Either way the snapshot
    entry appears by an atomic rename, never half-made."""
    os.makedirs(os.path.dirname(pointer), exist_ok=True)
    tmp = f"{pointer}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        if not _env_true(os.environ.get("HF_HUB_DISABLE_SYMLINKS")):
            with contextlib.suppress(OSError):
                os.symlink(os.path.relpath(os.path.abspath(blob), os.path.dirname(os.path.abspath(pointer))), tmp)
                os.replace(tmp, pointer)
                return
        if new_blob:
            os.replace(blob, pointer)
        else:
            shutil.copyfile(blob, tmp)
            os.replace(tmp, pointer)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


@contextlib.contextmanager
def _blob_lock(cache, repo_id, etag):
    """Hold .locks/<repo folder>/<etag>.lock (flock, mode 0o664) like huggingface_hub, so two processes do not
    download the same blob at once. Best effort: the cache stays correct without it (the atomic rename)."""
    path = os.path.join(cache, ".locks", repo_folder_name(repo_id), f"{etag}.lock")
    fd = None
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o664)
    if fd is not None and hasattr(os, "fchmod"):
        with contextlib.suppress(OSError):  # group-writable whatever the umask: a shared cache's users can all lock
            os.fchmod(fd, 0o664)
    if fd is not None and fcntl is not None:
        with contextlib.suppress(OSError):  # some network file systems have no flock
            fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)                  # closing releases the lock


def _tag_cache_dir(cache):
    """CACHEDIR.TAG tells backup tools to skip the cache (written by huggingface_hub 2.x; harmless)."""
    path = os.path.join(cache, "CACHEDIR.TAG")
    if not os.path.exists(path):
        with contextlib.suppress(OSError):    # never fail a download for it; never leave it truncated either
            _write_atomically(path, CACHEDIR_TAG)


def _check_repo_id(repo_id):
    """"org/name" or a legacy "name": letters, digits, "-", "_", "."; no "--" or ".." (the cache folder name
    would be ambiguous); at most 96 characters. Same rules as huggingface_hub's validate_repo_id."""
    valid = (isinstance(repo_id, str) and re.fullmatch(r"[\w.-]+(/[\w.-]+)?", repo_id) and len(repo_id) <= 96
             and "--" not in repo_id and ".." not in repo_id
             and not any(part[0] in "-." or part[-1] in "-." for part in repo_id.split("/")))
    if not valid:
        raise RepositoryNotFoundError(f"{repo_id!r} is not a valid hub repo id: expected org/name, made of "
                                      "letters, digits, '-', '_' and '.'")


def _check_relative(kind, value):
    """A filename or revision becomes a path in the cache: it must stay inside it."""
    if not isinstance(value, str):
        raise HubArgumentError(f"the {kind} must be a string, not {type(value).__name__}")
    parts = value.replace("\\", "/").split("/")
    if not value or value.startswith(("/", "\\")) or ".." in parts or "" in parts or ":" in parts[0]:
        raise HubArgumentError(f"invalid {kind} {value!r}: it must be a relative path without '..'")
    if any(c < " " or c == "\x7f" for c in value) or len(value) > 1000:
        raise HubArgumentError(f"invalid {kind} {value[:100]!r}: control characters (or more than 1000 "
                               "characters) cannot be part of a file name")


# ---- HTTP: one request at a time, redirects handled by hand (HUB.md §2, §9) ----

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Hand every 3xx back to the caller. urllib's own redirect handler would turn the HEAD into a GET, forward
    Authorization to the CDN, and lose the hub's metadata headers, which are on the 302 (HUB.md §9)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _origin(url):
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:       # a port out of range or not a number
        raise HubError(f"malformed URL from the server: {_short(url)} (bad port)") from None
    return parts.scheme, (parts.hostname or "").lower(), port


def _short(text, limit=200):
    """`text` as repr, cut to `limit` characters: server-sent values go into messages bounded."""
    text = repr(text)
    return text if len(text) <= limit else text[:limit] + "...'"


def _redirect_target(url, location):
    """The absolute URL a Location header points to; only http(s) (urllib would also open file:, data:, ftp:)."""
    try:
        target = urljoin(url, location)
        scheme = urlsplit(target).scheme
    except ValueError:
        raise HubError(f"malformed redirect from {urlsplit(url).netloc}: Location {_short(location)}") from None
    if scheme not in ("http", "https"):
        raise HubError(f"refused a redirect from {urlsplit(url).netloc} to a {scheme or 'relative'}: URL "
                       f"({_short(location)}): only http and https are followed")
    _origin(target)          # a malformed port is refused here
    return target


def _size_header(value, name):
    """A size header (Content-Length, X-Linked-Size): None if absent, else ASCII digits, at most 18 of them."""
    if value is None or value == "":
        return None
    value = value.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= MAX_SIZE_DIGITS):
        raise HubError(f"malformed {name} header from the server: {_short(value)}")
    return int(value)


def _is_hub(url):
    """True for the hub's own origins (HF_ENDPOINT, huggingface.co, hf.co), false for a CDN."""
    return _origin(url) in {_origin(u) for u in (*HUB_ORIGINS, hub_endpoint())}


@functools.lru_cache(maxsize=1)
def _user_agent():
    try:
        from importlib.metadata import version
        ours = version("squeezebert_np")
    except Exception:  # not installed (running from a checkout): the version is cosmetic here
        ours = "unknown"
    return f"squeezebert_np/{ours}; python/{platform.python_version()}"


def _open(method, url, token, timeout, *, start=0):
    """Send one request and return the response if it is a 2xx or a 3xx (not followed); 4xx and 5xx raise
    urllib.error.HTTPError. Authorization is added only for hub origins (HUB.md §3); `start` asks for a range."""
    request = urllib.request.Request(url, method=method)
    request.add_header("User-Agent", _user_agent())
    request.add_header("Accept-Encoding", "identity")   # so that Content-Length is the size of the file
    if start:
        request.add_header("Range", f"bytes={start}-")
    if token and _is_hub(url):
        request.add_unredirected_header("Authorization", f"Bearer {token}")
    opener = urllib.request.build_opener(_NoRedirect)   # built per call: proxies (HTTPS_PROXY, NO_PROXY) are read now
    try:
        return opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as response:
        if 300 <= response.code < 400:
            return response
        raise
    except ValueError as error:      # urllib's word for a URL it cannot send, e.g. from a redirect's Location
        message = str(error).replace(token, "<token>") if token else str(error)   # never the secret
        raise HubError(f"cannot request {_short(url)}: {_short(message)}") from None


def _backoff(attempt):
    return min(BACKOFF_SECONDS * 2 ** (attempt - 1), 8 * BACKOFF_SECONDS)


def _open_with_retries(method, url, token, timeout, attempts):
    """`_open`, tried up to `attempts` times with exponential backoff on network errors, timeouts, 408, 429 and
    5xx. Other errors are not retried: asking again would get the same answer."""
    for attempt in range(1, attempts + 1):
        try:
            return _open(method, url, token, timeout)
        except urllib.error.HTTPError as error:
            if error.code not in RETRY_STATUSES or attempt == attempts:
                raise
            error.close()
        except NETWORK_ERRORS as error:
            if attempt == attempts or _unresolvable(error):
                raise
        time.sleep(_backoff(attempt))


def _unresolvable(error):
    """True if the host name did not resolve (socket.gaierror inside a URLError). That is no transient fault:
    asking again in a second gets the same answer, so it is not retried (a 5xx, a reset or a timeout is)."""
    return isinstance(getattr(error, "reason", None), socket.gaierror)


def _follow_hub_redirects(method, url, token, timeout, attempts):
    """(response, url): follow redirects while they stay on the same origin or go to a hub origin, like
    huggingface_hub 2.4.0. A redirect elsewhere (the CDN) is returned as it is: it carries the file metadata."""
    for _ in range(MAX_REDIRECTS):
        response = _open_with_retries(method, url, token, timeout, attempts)
        location = response.headers.get("Location")
        if not (300 <= response.status < 400 and location):
            return response, url
        target = _redirect_target(url, location)
        if _origin(target) != _origin(url) and not _is_hub(target):
            return response, url
        response.close()
        url = target
    raise HubError(f"more than {MAX_REDIRECTS} redirects from {url}")


# ---- errors: the hub's X-Error-Code -> our exception types (HUB.md §4) ----

class _Unreachable(Exception):
    """The hub could not answer the question (network down, timeout, 5xx, not a hub): use the cache if possible."""


@dataclass
class _Ask:
    """What a request is about, for error messages."""
    repo_id: str
    revision: str
    filename: str | None = None
    token_sent: bool = False


def _hub_error(response, ask):
    """Our exception for an error response from the hub, in the order of huggingface_hub's hf_raise_for_status.
    Answers that are none of the known cases become _Unreachable: the caller falls back to the cache."""
    code, message = response.headers.get("X-Error-Code"), (response.headers.get("X-Error-Message") or "")[:300]
    endpoint, repo = hub_endpoint(), repr(ask.repo_id)
    if code == "RevisionNotFound":
        return RevisionNotFoundError(f"revision {ask.revision!r} not found in repository {repo}: use a branch, a tag, "
                                     "a 40-hex commit or refs/pr/N that exists there")
    if code == "EntryNotFound":
        error = EntryNotFoundError(f"{ask.filename!r} not found in {repo} at revision {ask.revision!r}")
        error.commit = response.headers.get("X-Repo-Commit")
        return error
    if code == "GatedRepo":
        whose = "the token sent has no access" if ask.token_sent else "no token was sent"
        return GatedRepoError(f"repository {repo} is gated and {whose}: accept its conditions at "
                              f"{endpoint}/{ask.repo_id} while logged in, then pass a token of that account "
                              f"(token=..., --token, HF_TOKEN, or `hf auth login`). The hub said: {message}")
    if message == "Access to this resource is disabled.":
        return RepositoryNotFoundError(f"repository {repo} is disabled on {endpoint}: {message}")
    if response.code == 401 and message == "Invalid credentials in Authorization header":
        return HubError(f"{endpoint} rejected the token (invalid credentials): check HF_TOKEN, token= or --token")
    if code == "RepoNotFound" or response.code == 401:
        private = "the token sent has no access to it" if ask.token_sent else "no token was sent"
        return RepositoryNotFoundError(f"repository {repo} not found on {endpoint} (HTTP {response.code}). Check "
                                       f"the id (org/name). If it is private or gated, {private}: pass a token "
                                       "(token=..., --token, HF_TOKEN, or `hf auth login`).")
    return _Unreachable(f"HTTP {response.code} {message or response.reason}".strip())


def _ask_hub(method, url, token, ask, *, attempts):
    """`_follow_hub_redirects` with errors turned into our exceptions or _Unreachable."""
    try:
        return _follow_hub_redirects(method, url, token, _seconds("HF_HUB_ETAG_TIMEOUT"), attempts)
    except urllib.error.HTTPError as error:
        error.close()
        raise _hub_error(error, ask) from None
    except NETWORK_ERRORS as error:
        raise _Unreachable(_describe(error)) from None


def _describe(error):
    reason = getattr(error, "reason", None) or error
    if isinstance(reason, socket.gaierror):
        return f"the host name {urlsplit(hub_endpoint()).hostname!r} does not resolve"
    text = str(reason)[:200]                # may quote what the server sent: bounded
    return f"{type(reason).__name__}: {text}" if text else type(reason).__name__


def _unreachable_message(problem, repo_id, revision, what, cache):
    """What failed, what the user asked for and whether any of it is cached, and what to do."""
    storage = os.path.join(cache, repo_folder_name(repo_id))
    nothing = not _revision_cached(storage, revision)
    missing = (f"nothing of {repo_id!r} (revision {revision!r}) is in the cache {cache}" if nothing
               else f"{what} is not in the cache {cache}")
    return (f"could not reach the hub at {hub_endpoint()} ({problem}), and {missing}. Check the network connection "
            "(and HF_ENDPOINT, proxies), give a local directory instead of a repo id, or run "
            f"`python -m squeezebert_np.download {repo_id}` on a machine with network and use its cache "
            "(HF_HUB_CACHE).")


# ---- step 1: metadata (HUB.md §2) ----

@dataclass
class _Metadata:
    commit: str          # X-Repo-Commit: what the revision points to now
    etag: str            # the blob's name in the cache: git sha1, or sha256 for LFS files
    size: int | None
    location: str        # where to GET the bytes: the CDN, or the hub's resolve-cache URL pinned to the commit


def _fetch_metadata(url, token, ask, *, attempts):
    """HEAD the resolve URL and read commit, etag, size and location (HUB.md §2, the metadata table)."""
    response, url = _ask_hub("HEAD", url, token, ask, attempts=attempts)
    with response:
        headers, redirect = response.headers, 300 <= response.status < 400
        commit = headers.get("X-Repo-Commit")
        etag = (headers.get("X-Linked-Etag") or headers.get("ETag") or "").removeprefix("W/").strip('"')
        size = headers.get("X-Linked-Size") or (None if redirect else headers.get("Content-Length"))
        location = _redirect_target(url, headers["Location"]) if headers.get("Location") else url
    if not commit or not COMMIT_RE.fullmatch(commit):
        raise _Unreachable(f"the answer has no valid X-Repo-Commit header; is {hub_endpoint()} a Hugging Face hub?")
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,128}", etag):   # it becomes a file name: no "/", no ".."
        raise _Unreachable(f"the answer has no valid ETag ({_short(etag)})")
    return _Metadata(commit, etag, _size_header(size, "X-Linked-Size / Content-Length"), location)


# ---- step 2: the bytes (HUB.md §3, §8) ----

def _download_blob(location, token, blob, size, etag, filename, quiet):
    """Download into blobs/<etag>.incomplete, verify it, and only then rename it to blobs/<etag>: a file appears in
    the cache whole and verified or not at all. The partial file's name is the same for every run, so a download
    killed half-way (Ctrl-C, SIGTERM, SIGKILL) is resumed by the next call (we hold the blob's lock meanwhile).
    huggingface_hub 2.4/2.5 write <etag>.<random>.incomplete instead and never resume across runs: where flock
    silently does nothing (some network file systems), two processes could append to one shared file. Here that
    cannot go unnoticed: the file is verified against its hash before it is renamed, and a resumed partial file that
    fails verification is downloaded once more from the start. A download that fails here (corrupt, cut too often,
    disk full) removes its partial file."""
    tmp = f"{blob}.incomplete"
    progress = _progress(filename, size, quiet)
    try:
        for attempt in (1, 2):
            with open(tmp, "ab") as out:
                resumed = out.tell()
                _stream(location, token, out, size, filename, progress)
            try:
                _check_blob(tmp, size, etag, filename)
                break
            except HubError:
                os.remove(tmp)
                if not resumed or attempt == 2:     # a partial file left by another run may be the culprit
                    raise
        os.replace(tmp, blob)
    except KeyboardInterrupt:
        raise                                       # keep the partial file: the next call resumes it
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(error, OSError) and not isinstance(error, HubError):
            raise HubError(_write_failure_message(error, filename, size, os.path.dirname(blob))) from error
        raise
    finally:
        progress.close()


def _stream(url, token, out, size, filename, progress):
    """Append the body at `url` to `out` (which may hold the start of it already) until `size` bytes are there.

    After a dropped connection or a timeout, ask for the rest with `Range: bytes=<done>-`. The answer must be a 206
    whose Content-Range starts at <done> (and whose ETag is the first answer's): anything else (a 200, another
    range, changed content) means starting over. Reading stops at the announced size: more bytes are an error.
    Gives up after MAX_ATTEMPTS failures in a row that brought no byte beyond the most ever received."""
    done = out.tell()
    if size is not None and done > size:
        done = _restart(out)
    best, failures, first_etag = done, 0, None
    while True:
        if size is not None and done == size and done:
            return                                    # a resumed partial file that was already whole
        try:
            with _get(url, token, done) as response:
                etag = response.headers.get("ETag")
                restart = _restart_reason(response, done, size, etag, first_etag)
                if restart:
                    done = _restart(out)
                    reason = restart
                    if response.status == 200 and restart.startswith("the server ignored"):
                        pass                          # the whole body follows: read it from the start
                    else:
                        raise _Retry(reason)
                first_etag = first_etag or etag
                if size is None:
                    size = _content_size(response, done)
                while chunk := response.read1(CHUNK_SIZE if size is None else min(CHUNK_SIZE, size - done + 1)):
                    if size is not None and done + len(chunk) > size:
                        raise HubError(f"downloading {filename!r}: the server sent more than the {size} bytes it "
                                       "announced; nothing was kept")
                    out.write(chunk)
                    done += len(chunk)
                    progress.update(done)
            if size is None or done >= size:
                return
            reason = f"the connection closed after {done} of {size} bytes"
        except _Retry as retry:
            reason = str(retry)
        except urllib.error.HTTPError as error:
            error.close()
            if error.code == 416 and done:             # our partial file is not a prefix of theirs: start over
                done, reason = _restart(out), "HTTP 416 for the rest of a partial file"
            elif error.code not in RETRY_STATUSES:
                raise HubError(f"downloading {filename!r} failed: HTTP {error.code} {_short(str(error.reason), 80)} "
                               f"from {urlsplit(url).netloc}") from None
            else:
                reason = f"HTTP {error.code}"
        except NETWORK_ERRORS as error:
            if _unresolvable(error):
                raise HubError(f"downloading {filename!r} failed: the host name {urlsplit(url).hostname!r} does "
                               "not resolve") from None
            reason = _describe(error)
        if done > best:                  # new bytes since the last failure: worth more tries
            best, failures = done, 0
        failures += 1
        if failures >= MAX_ATTEMPTS:
            raise HubError(f"downloading {filename!r} failed {failures} times in a row ({reason}); {done} of "
                           f"{size if size is not None else '?'} bytes received and discarded. Try again later.")
        time.sleep(_backoff(failures))


class _Retry(Exception):
    """An answer that cannot continue the file (wrong range, changed content): try again from the start."""


def _restart(out):
    out.seek(0)
    out.truncate()
    return 0


def _restart_reason(response, done, size, etag, first_etag):
    """Why this answer cannot continue a file of which `done` bytes are there, or None if it can."""
    if response.status == 200:
        return "the server ignored the range, sending the whole file" if done else None
    if response.status != 206:
        return f"unexpected HTTP {response.status}"
    match = re.fullmatch(r"bytes (\d{1,18})-(\d{1,18})/(\d{1,18}|\*)", (response.headers.get("Content-Range") or "").strip())
    if not match or int(match[1]) != done or int(match[2]) < done:
        return f"a 206 for the wrong range ({_short(response.headers.get('Content-Range'), 80)}, asked from {done})"
    if size is not None and match[3] != "*" and int(match[3]) != size:
        return f"a 206 for a file of {match[3]} bytes, not {size}"
    if first_etag and etag and etag != first_etag:
        return "the file changed on the server during the download (another ETag)"
    return None


def _content_size(response, done):
    """The total size an answer announces (Content-Length, plus what a 206 continues), or None."""
    length = _size_header(response.headers.get("Content-Length"), "Content-Length")
    return None if length is None else length + (done if response.status == 206 else 0)


def _get(url, token, start):
    """GET, following http(s) redirects; Authorization is only sent to hub origins (see `_open`)."""
    for _ in range(MAX_REDIRECTS):
        response = _open("GET", url, token, _seconds("HF_HUB_DOWNLOAD_TIMEOUT"), start=start)
        if not 300 <= response.status < 400:
            return response
        response.close()
        if not response.headers.get("Location"):
            raise HubError(f"HTTP {response.status} without a Location header from {urlsplit(url).netloc}")
        url = _redirect_target(url, response.headers["Location"])
    raise HubError(f"more than {MAX_REDIRECTS} redirects from {urlsplit(url).netloc}")


def _check_blob(path, size, etag, filename):
    """Verify a downloaded file: its size if announced, and its content against the etag, which is a hash of it:
    the sha256 for LFS files (64 hex), the git blob sha1 `sha1(b"blob <size>\\0" + content)` for files stored in
    git (40 hex). (huggingface_hub checks neither: a corrupted byte would go unnoticed.)"""
    actual = os.path.getsize(path)
    if size is not None and actual != size:
        raise HubError(f"downloaded {filename!r} has {actual} bytes, the hub announced {size}; the partial file "
                       "was removed. Try again.")
    if re.fullmatch(r"[0-9a-f]{64}", etag):
        digest, kind = hashlib.sha256(), "sha256"
    elif re.fullmatch(r"[0-9a-f]{40}", etag):
        digest, kind = hashlib.sha1(b"blob %d\0" % actual), "git blob sha1"
    else:
        return                                # not a hash (a mirror's own etag): the size is all there is
    with open(path, "rb") as f:
        while block := f.read(CHUNK_SIZE):
            digest.update(block)
    if digest.hexdigest() != etag:
        raise HubError(f"downloaded {filename!r} is corrupt: its {kind} is {digest.hexdigest()}, the hub "
                       f"announced {etag}; the file was removed. Try again.")


DISK_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG})


def _write_failure_message(error, filename, size, folder):
    if error.errno in DISK_FULL:
        return _disk_full_message(filename, size, folder)
    return (f"cannot write {filename!r} into the cache folder {folder}: {error.strerror or error}. Check its "
            "permissions, or point HF_HUB_CACHE (or cache_dir=, --cache-dir) elsewhere.")


def _disk_full_message(filename, size, folder):
    free = shutil.disk_usage(folder).free if os.path.isdir(folder) else None
    need = f"{_megabytes(size)} needed, " if size else ""
    have = f"{_megabytes(free)} free" if free is not None else "free space unknown"
    return (f"no space left on the device while downloading {filename!r} into {folder} ({need}{have}). The partial "
            "file was removed. Free some space, or point HF_HUB_CACHE (or cache_dir=, --cache-dir) to a larger disk.")


def _megabytes(n):
    return f"{n / 1e6:.1f} MB"


class _Progress:
    """`pytorch_model.bin  42% |████▏     | 43.1/103.4 MB  11.2 MB/s` on one line, redrawn at most 10 times a
    second."""

    def __init__(self, name, total, stream):
        self.name, self.total, self.stream = name, total, stream
        self.start = self.last = time.monotonic()
        self.done = 0

    def update(self, done):
        self.done = done
        now = time.monotonic()
        if now - self.last >= 0.1 or done == self.total:
            self.last = now
            self._draw(now)

    def _draw(self, now):
        fraction = min(self.done / self.total, 1.0)
        filled = int(fraction * 20)
        rate = self.done / max(now - self.start, 1e-6)
        self.stream.write(f"\r{self.name}  {fraction:4.0%} |{'█' * filled}{' ' * (20 - filled)}| "
                          f"{self.done / 1e6:.1f}/{self.total / 1e6:.1f} MB  {rate / 1e6:.1f} MB/s")
        self.stream.flush()

    def close(self):
        self.stream.write("\n")
        self.stream.flush()


class _NoProgress:
    def update(self, done):
        pass

    def close(self):
        pass


def _progress(filename, size, quiet, stream=None):
    """A progress bar on stderr for files of PROGRESS_MIN_BYTES or more when stderr is a terminal; none with
    `quiet` or HF_HUB_DISABLE_PROGRESS_BARS."""
    stream = stream or sys.stderr
    if (quiet or _env_true(os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS")) or not size or size < PROGRESS_MIN_BYTES
            or not getattr(stream, "isatty", lambda: False)()):
        return _NoProgress()
    return _Progress(filename.rsplit("/", 1)[-1], size, stream)


# ---- step 3: into the cache (HUB.md §8) ----

def _store(cache, storage, repo_id, revision, filename, meta, token, quiet):
    """Write refs, the blob (unless another snapshot already brought it) and the snapshot link; return the link."""
    blob = os.path.join(storage, "blobs", meta.etag)
    pointer = _snapshot_path(storage, meta.commit, filename)
    try:
        os.makedirs(os.path.dirname(blob), exist_ok=True)
        os.makedirs(os.path.dirname(pointer), exist_ok=True)
        _tag_cache_dir(cache)
        _write_ref(storage, revision, meta.commit)
        with _blob_lock(cache, repo_id, meta.etag):
            new_blob = not os.path.exists(blob)
            if new_blob:
                _download_blob(meta.location, token, blob, meta.size, meta.etag, filename, quiet)
            if not os.path.exists(pointer):
                _link(blob, pointer, new_blob=new_blob)
    except HubError:
        raise
    except OSError as error:       # the cache folder is not writable, the disk is full...
        raise HubError(_write_failure_message(error, filename, meta.size, os.path.dirname(blob))) from None
    return pointer


def _from_cache_only(found, repo_id, filename, revision, cache, why):
    """Answer from the cache alone: the path, or the error that says why not."""
    if found is _KNOWN_MISSING:
        raise EntryNotFoundError(f"{filename!r} does not exist in {repo_id!r} at revision {revision!r} "
                                 "(known from the cache)")
    if found is None:
        storage = os.path.join(cache, repo_folder_name(repo_id))
        what = (f"{filename!r} of {repo_id!r} (revision {revision!r}) is not in the cache {cache}"
                if _revision_cached(storage, revision) else
                f"nothing of {repo_id!r} (revision {revision!r}) is in the cache {cache} (asked for {filename!r})")
        raise LocalEntryNotFoundError(
            f"{what}, and downloads are off ({why}). Download it once with network access "
            f"(python -m squeezebert_np.download {repo_id}), give a local directory, or turn offline mode off.")
    return found


# ---- the public functions ----

def hf_hub_download(repo_id, filename, *, revision=None, cache_dir=None, local_files_only=False, token=None,
                    quiet=False):
    """Local path of `filename` from the hub repo `repo_id` at `revision`, downloaded into the cache if needed.

    revision: a branch (default "main"), a tag, a 40-hex commit or "refs/pr/N". A commit already in the cache needs
    no network at all; a branch is asked about (one HEAD) so that a moved branch is noticed, and if the hub cannot
    be reached the cached copy is used, as huggingface_hub does. `local_files_only`, HF_HUB_OFFLINE=1 or
    TRANSFORMERS_OFFLINE=1: the cache only. `token`: a string, False (never send one) or None (HF_TOKEN, then the
    `hf auth login` file). `quiet`: no progress bar.

    Raises RepositoryNotFoundError / GatedRepoError, RevisionNotFoundError, EntryNotFoundError (the file is not in
    the repo), LocalEntryNotFoundError (offline or hub unreachable, and not cached), HubArgumentError (a filename or
    revision leaving the cache, a malformed HF_ENDPOINT or timeout), HubError (download failed, disk full). Returns
    the path under snapshots/ (a symlink into blobs/).
    """
    _check_repo_id(repo_id)
    _check_relative("filename", filename)
    revision = revision or "main"
    _check_relative("revision", revision)
    cache = hub_cache_dir(cache_dir)
    storage = os.path.join(cache, repo_folder_name(repo_id))
    found = _cache_lookup(storage, revision, filename)
    if COMMIT_RE.fullmatch(revision) and found is not None:
        return _from_cache_only(found, repo_id, filename, revision, cache, "")   # a commit never changes
    why = "local_files_only=True" if local_files_only else offline_reason()
    if why:
        return _from_cache_only(found, repo_id, filename, revision, cache, why)

    token = resolve_token(token)
    url = f"{hub_endpoint()}/{repo_id}/resolve/{quote(revision, safe='')}/{quote(filename)}"
    ask = _Ask(repo_id, revision, filename, token_sent=bool(token))
    have_copy = isinstance(found, str)
    try:
        # with an answer at hand (a copy, or "known missing"), fail fast and use it; without one, insist (HUB.md §2,
        # "Retries")
        meta = _fetch_metadata(url, token, ask, attempts=1 if found is not None else MAX_ATTEMPTS)
    except _Unreachable as problem:
        if found is not None:
            return _from_cache_only(found, repo_id, filename, revision, cache, "")
        raise LocalEntryNotFoundError(_unreachable_message(problem, repo_id, revision, f"{filename!r} of {repo_id!r}", cache)) from None
    except EntryNotFoundError as missing:
        if missing.commit and COMMIT_RE.fullmatch(missing.commit):
            _remember_missing(storage, revision, missing.commit, filename)
        raise
    except (RevisionNotFoundError, HubArgumentError):    # the hub said no such revision (no cached copy of it can
        raise                                              # be right), or a setting is malformed: say so
    except HubError:        # not found, gated, token rejected: a copy downloaded earlier still serves
        if have_copy:
            return found
        raise

    pointer = _snapshot_path(storage, meta.commit, filename)
    if os.path.exists(pointer):
        with contextlib.suppress(OSError):   # the cache may be read-only: the file is there, that is enough
            _write_ref(storage, revision, meta.commit)
        return pointer
    return _store(cache, storage, repo_id, revision, filename, meta, token, quiet)


def cached_file(path_or_repo_id, filename, *, revision=None, cache_dir=None, local_files_only=False, token=None,
                missing_ok=False):
    """Local path of `filename` in a local directory or a hub repo; None if the file does not exist and `missing_ok`.

    A directory that exists wins over a repo id of the same name, as in transformers. For a repo id this is
    `hf_hub_download` (see there). `missing_ok` covers "the repo does not have this file" (the hub said so, or a
    .no_exist marker does) and, as in transformers, an optional file that offline (or with the hub unreachable)
    is neither cached nor known to be missing while other files of that revision are cached: a cache filled by
    huggingface_hub with only the files a model needs has no marker for the others. A missing repo or revision,
    a gated repo, being offline with nothing of the revision cached, or a failed download still raise.
    """
    if os.path.isdir(path_or_repo_id):
        path = os.path.join(path_or_repo_id, filename)
        if os.path.isfile(path):
            return path
        if missing_ok:
            return None
        raise EntryNotFoundError(f"{filename!r} not found in the directory {os.fspath(path_or_repo_id)}")
    name = os.fspath(path_or_repo_id)
    try:
        return hf_hub_download(name, filename, revision=revision, cache_dir=cache_dir,
                               local_files_only=local_files_only, token=token)
    except LocalEntryNotFoundError:
        storage = os.path.join(hub_cache_dir(cache_dir), repo_folder_name(name))
        if missing_ok and _revision_cached(storage, revision or "main"):
            return None
        raise
    except EntryNotFoundError:
        if missing_ok:
            return None
        raise
    except RepositoryNotFoundError as error:
        if type(error) is not RepositoryNotFoundError:   # gated: the repo exists
            raise
        raise RepositoryNotFoundError(f"{name!r} is not a local directory, and {error}") from None


def snapshot_download(repo_id, *, revision=None, cache_dir=None, local_files_only=False, token=None, quiet=False):
    """Download every file of the repo at `revision` into the cache; return the folder snapshots/<commit>.

    Lists the files as huggingface_hub 2.4.0 does (HUB.md §7): GET /api/models/{repo}/revision/{rev} for the
    commit (skipped when `revision` is one), then GET /api/models/{repo}/tree/{commit}?recursive=true&expand=false,
    page by page; the listing is kept in trees/<commit>.json, in huggingface_hub's format. Each file then goes
    through `hf_hub_download` at that commit, so files already cached cost nothing. Offline (or when the hub
    cannot be reached), the cached snapshot is returned if trees/<commit>.json, when present, says it is complete.
    """
    _check_repo_id(repo_id)
    revision = revision or "main"
    _check_relative("revision", revision)
    cache = hub_cache_dir(cache_dir)
    storage = os.path.join(cache, repo_folder_name(repo_id))
    why = "local_files_only=True" if local_files_only else offline_reason()
    if why:
        return _cached_snapshot(storage, repo_id, revision, cache, why)

    token = resolve_token(token)
    ask = _Ask(repo_id, revision, token_sent=bool(token))
    try:
        commit = revision if COMMIT_RE.fullmatch(revision) else _repo_commit(repo_id, revision, token, ask)
        files = _read_tree_cache(storage, commit)
        if files is None:
            files = _list_repo_files(repo_id, commit, token, ask)
            _write_tree_cache(storage, commit, files)
    except _Unreachable as problem:
        try:
            return _cached_snapshot(storage, repo_id, revision, cache, f"the hub is unreachable: {problem}")
        except LocalEntryNotFoundError:
            raise LocalEntryNotFoundError(_unreachable_message(problem, repo_id, revision, "a complete snapshot",
                                                               cache)) from None
    except (RevisionNotFoundError, HubArgumentError):
        raise
    except HubError:
        with contextlib.suppress(LocalEntryNotFoundError):
            return _cached_snapshot(storage, repo_id, revision, cache, "")
        raise

    os.makedirs(os.path.join(storage, "snapshots", commit), exist_ok=True)
    _write_ref(storage, revision, commit)
    for path in sorted(files):
        hf_hub_download(repo_id, path, revision=commit, cache_dir=cache, token=token or False, quiet=quiet)
    return os.path.join(storage, "snapshots", commit)


def _repo_commit(repo_id, revision, token, ask):
    """The commit `revision` points to, from the repo-info endpoint's "sha"."""
    url = f"{hub_endpoint()}/api/models/{repo_id}/revision/{quote(revision, safe='')}"
    info, _ = _get_json(url, token, ask)
    commit = info.get("sha") if isinstance(info, dict) else None
    if not commit or not COMMIT_RE.fullmatch(commit):
        raise _Unreachable(f"the repo info from {url} has no valid commit sha")
    return commit


def _list_repo_files(repo_id, commit, token, ask):
    """{path: tree-cache entry} of every file at `commit`, following the `Link: <...>; rel="next"` pages."""
    url = f"{hub_endpoint()}/api/models/{repo_id}/tree/{commit}?recursive=true&expand=false"
    files, seen = {}, set()
    while url:
        if url in seen or len(seen) >= MAX_LIST_PAGES:     # a page linking back, or no end in sight
            why = "links back to an earlier page" if url in seen else f"has more than {MAX_LIST_PAGES} pages"
            raise _Unreachable(f"the file listing of {repo_id!r} {why} ({_short(url)})")
        seen.add(url)
        page, link = _get_json(url, token, ask)
        if not isinstance(page, list) or (not page and link):
            raise _Unreachable(f"unexpected file listing from {_short(url)} (not a list of files, or an empty "
                               "page that is not the last)")
        try:
            for entry in page:
                if entry.get("type") == "file":
                    _check_relative("filename", entry["path"])
                    files[entry["path"]] = _tree_cache_entry(entry)
        except (AttributeError, KeyError, TypeError) as error:      # not a hub's tree listing
            raise _Unreachable(f"unexpected file listing from {url} ({type(error).__name__}: {error})") from None
        url = next((_redirect_target(url, m[1]) for m in re.finditer(r'<([^>]*)>\s*;\s*rel="?next"?', link or "")),
                   None)
        if url and not _is_hub(url):          # the token goes with each page: only to the hub
            raise _Unreachable(f"the file listing's next page is not on the hub ({_short(url)})")
    return files


def _tree_cache_entry(entry):
    """A tree API entry in huggingface_hub's trees/<commit>.json format."""
    info = {"size": entry["size"], "blob_id": entry["oid"]}
    if entry.get("lfs"):
        info.update(lfs_sha256=entry["lfs"]["oid"], lfs_size=entry["lfs"]["size"])
    return info


def _get_json(url, token, ask):
    """(decoded JSON, Link header) of a hub API URL."""
    response, _ = _ask_hub("GET", url, token, ask, attempts=MAX_ATTEMPTS)
    with response:
        try:
            body = response.read(MAX_JSON_BYTES + 1)
            if len(body) > MAX_JSON_BYTES:
                raise ValueError(f"more than {MAX_JSON_BYTES} bytes")
            return json.loads(body), response.headers.get("Link")
        except (ValueError, RecursionError, *NETWORK_ERRORS) as error:     # RecursionError: "[[[[..." nested deep
            raise _Unreachable(f"unreadable answer from {_short(url)}: {_short(str(error))}") from None


def _tree_cache_path(storage, commit):
    return os.path.join(storage, "trees", f"{commit}.json")


def _read_tree_cache(storage, commit):
    """The file listing of `commit` kept by an earlier snapshot (ours or huggingface_hub's), or None."""
    try:
        with open(_tree_cache_path(storage, commit), encoding="utf-8") as f:
            data = json.load(f)
        return dict(data["files"]) if data.get("format_version") == 1 else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _write_tree_cache(storage, commit, files):
    """trees/<commit>.json as huggingface_hub writes it (a commit's listing never changes, so it is kept forever)."""
    path = _tree_cache_path(storage, commit)
    with contextlib.suppress(OSError):      # only an optimisation
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _write_atomically(path, json.dumps({"format_version": 1, "files": {p: files[p] for p in sorted(files)}},
                                           indent=1), mode=0o600)


def _cached_snapshot(storage, repo_id, revision, cache, why):
    """snapshots/<commit> of `revision` from the cache alone; LocalEntryNotFoundError if it is absent or, per
    trees/<commit>.json, incomplete."""
    commit = _read_ref(storage, revision)
    folder = os.path.join(storage, "snapshots", commit or "?")
    because = f" ({why})" if why else ""
    if commit is None or not os.path.isdir(folder):
        raise LocalEntryNotFoundError(f"no snapshot of {repo_id!r} at revision {revision!r} in the cache {cache}"
                                      f"{because}. Download it once with network access "
                                      f"(python -m squeezebert_np.download {repo_id}).")
    missing = [p for p in (_read_tree_cache(storage, commit) or {}) if not os.path.exists(os.path.join(folder, p))]
    if missing:
        raise LocalEntryNotFoundError(f"the cached snapshot of {repo_id!r} at revision {revision!r} is incomplete "
                                      f"({len(missing)} missing, e.g. {missing[0]!r}){because}. Download it again "
                                      "with network access.")
    return folder
