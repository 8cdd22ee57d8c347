"""A fuzz suite for the downloader: the fake hub with injected faults, and the promise checked on every case.

Faults (tests/fakehub.py): connections cut after N bytes, corrupted or replaced bodies, bodies longer than
announced, servers that ignore `Range` or answer another range, error statuses, and response headers replaced by
hostile values (sizes that are not numbers or have 5000 digits, ETags that are not the content's hash, Locations to
file:/data:/ftp: or bad ports, Content-Range lies, Link loops). The promise, for each generated case:

- the call returns the file with exactly the right bytes, or raises one of our exceptions (SqueezeBertError);
- in bounded time (no hang, no endless retry or listing loop);
- nothing in blobs/, snapshots/ or refs/ that is not complete and verified (each blob's name is its sha256 or its
  git blob sha1; each snapshot entry resolves to such a blob; refs hold a 40-hex commit), no *.incomplete or *.tmp;
- the token never appears in a message, and never goes to another origin than the hub.

Each property is bounded (max_examples, no backoff, 2 s timeouts) to stay well under 20 s; under CI=true hypothesis
runs derandomized (tests/conftest.py).
"""
import hashlib
import os
import re
import shutil
import tempfile
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakehub import FakeHub, git_blob_sha1
from squeezebert_np import hub
from squeezebert_np.errors import HubArgumentError, SqueezeBertError

REPO = "org/fuzz"
TOKEN = "hf_fuzzSECRETtoken0123456789"
CONFIG = b'{"model_type": "squeezebert", "hidden_size": 768}\n' * 40          # 2 kB, a git file
WEIGHTS = hashlib.sha256(b"fuzz").digest() * 4000                            # 128 kB, an LFS file
FILES = {"config.json": CONFIG, "pytorch_model.bin": WEIGHTS, "vocab.txt": b"[PAD]\n[UNK]\nthe\n" * 30}
SECONDS = 15.0          # per call: a few requests and retries against a local server, with no backoff
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])


@pytest.fixture(scope="module")
def fake():
    """One fake hub for the module (a private repo, so the token is sent), our client pointed at it."""
    saved = dict(os.environ)
    with FakeHub(repos={REPO: {"main": FILES}}, private={REPO: TOKEN}) as server:
        for name in list(os.environ):
            if name.startswith(("HF_", "HUGGING_FACE_", "HUGGINGFACE_")) or name == "TRANSFORMERS_OFFLINE":
                del os.environ[name]
        os.environ.update(server.env_vars(tempfile.gettempdir(), timeout=2))
        backoff, hub.BACKOFF_SECONDS = hub.BACKOFF_SECONDS, 0.0
        try:
            yield server
        finally:
            hub.BACKOFF_SECONDS = backoff
            os.environ.clear()
            os.environ.update(saved)


# ---- generators ----

def _latin1_text(max_size):   # what an HTTP header can carry: no CR, LF or NUL
    return st.text(st.characters(min_codepoint=32, max_codepoint=255, blacklist_characters="\x7f"),
                   max_size=max_size)


HOSTILE_VALUES = st.one_of(
    st.sampled_from(["", "²", "-1", "1e3", " 12 ", "0x10", "9" * 5000, "18446744073709551616", "99999999999999",
                     '"' + "a" * 64 + '"', '"' + "0" * 40 + '"', '"../../etc/passwd"', "W/\"x\"", "bytes 0-0/1",
                     "bytes 5-1/10", "bytes */1", "file:///etc/passwd", "data:,hello", "ftp://127.0.0.1/x",
                     "http://127.0.0.1:99999/x", "http://[::1", "//evil.invalid/x", "javascript:alert(1)",
                     "<file:///etc/passwd>; rel=\"next\"", '<>; rel="next"', "<http://[::1>; rel=next"]),
    _latin1_text(40))
HEADER_NAMES = st.sampled_from(["ETag", "X-Linked-Etag", "X-Linked-Size", "Content-Length", "Location",
                                "X-Repo-Commit", "Content-Range", "Link", "X-Error-Code", "Content-Encoding"])
HEADERS = st.dictionaries(HEADER_NAMES, st.one_of(st.none(), HOSTILE_VALUES), min_size=1, max_size=3)

FAULT = st.one_of(
    st.tuples(st.just("cut"), st.fixed_dictionaries({"after": st.integers(0, len(WEIGHTS))})),
    st.tuples(st.just("corrupt"), st.just({})),
    st.tuples(st.just("ignore_range"), st.just({})),
    st.tuples(st.just("wrong_range"), st.fixed_dictionaries({"shift": st.integers(-4, 4)})),
    st.tuples(st.just("extra"), st.fixed_dictionaries({"nbytes": st.integers(1, 300_000)})),
    st.tuples(st.just("replace_body"), st.fixed_dictionaries({"data": st.binary(max_size=300)})),
    st.tuples(st.just("fail"), st.fixed_dictionaries({"status": st.sampled_from(
        [500, 502, 503, 429, 404, 403, 401, 410, 416, 302, 301, 307, 200, 204])})),
    st.tuples(st.just("headers"), st.fixed_dictionaries({"values": HEADERS,
                                                         "method": st.sampled_from([None, "HEAD", "GET"])})),
)
PLACED_FAULT = st.tuples(FAULT, st.sampled_from(["hub", "cdn"]), st.integers(1, 3),
                         st.sampled_from([None, "config.json", "pytorch_model.bin", "/tree/"]))
PLAN = st.lists(PLACED_FAULT, max_size=4)


def inject(fake, plan):
    fake.clear_faults()
    for (kind, options), origin, times, path in plan:
        if kind in ("cut", "corrupt", "ignore_range", "wrong_range", "extra", "replace_body"):
            getattr(fake, kind)(**options, times=times, origin=origin, path=path)
        elif kind == "fail":
            fake.fail(options["status"], times=times, origin=origin, path=path)
        else:
            fake.headers(options["values"], method=options["method"], times=times, origin=origin, path=path)


# ---- the promise ----

def assert_verified_cache(cache):
    """Nothing partial; every blob named by its hash; every snapshot entry a verified blob; refs hold commits."""
    storage = os.path.join(cache, hub.repo_folder_name(REPO))
    for root, _, names in os.walk(cache):
        for name in names:
            assert not name.endswith((".incomplete", ".tmp")), os.path.join(root, name)
    for name in os.listdir(os.path.join(storage, "blobs")) if os.path.isdir(os.path.join(storage, "blobs")) else []:
        with open(os.path.join(storage, "blobs", name), "rb") as f:
            data = f.read()
        assert name in (hashlib.sha256(data).hexdigest(), git_blob_sha1(data)), name
    for root, _, names in os.walk(os.path.join(storage, "snapshots")):
        for name in names:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, root)
            with open(path, "rb") as f:
                data = f.read()
            relative = os.path.relpath(path, os.path.join(storage, "snapshots"))
            assert data == FILES[relative.split(os.sep, 1)[1]], (rel, relative)
    for root, _, names in os.walk(os.path.join(storage, "refs")):
        for name in names:
            with open(os.path.join(root, name)) as f:
                assert re.fullmatch(r"[0-9a-f]{40}", f.read()), name


def assert_no_secret(error, fake):
    seen = set()
    while error is not None and id(error) not in seen:      # the whole chain: message, repr, causes
        seen.add(id(error))
        assert TOKEN not in str(error) and TOKEN not in repr(error), type(error)
        error = error.__cause__ or error.__context__
    for request in fake.requests():
        if request.origin != "hub":
            assert request.header("authorization") is None, request


def call(fake, function):
    """Run `function(cache)` in a fresh cache; return (result or our error, cache). Anything else fails the test."""
    cache = tempfile.mkdtemp(prefix="fuzz-hub-")
    fake.clear_log()
    start = time.monotonic()
    try:
        outcome = function(cache)
    except SqueezeBertError as error:
        outcome = error
    finally:
        elapsed = time.monotonic() - start
        fake.clear_faults()
    assert elapsed < SECONDS, elapsed
    return outcome, cache


@FUZZ
@given(plan=PLAN, filename=st.sampled_from(["config.json", "pytorch_model.bin"]))
def test_one_file_under_faults(fake, plan, filename):
    inject(fake, plan)
    outcome, cache = call(fake, lambda c: hub.hf_hub_download(REPO, filename, cache_dir=c, token=TOKEN))
    try:
        if isinstance(outcome, str):
            with open(outcome, "rb") as f:
                assert f.read() == FILES[filename]
        assert_no_secret(outcome if isinstance(outcome, BaseException) else None, fake)
        assert_verified_cache(cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


PARTIAL = st.one_of(st.tuples(st.just("prefix"), st.integers(0, len(WEIGHTS) + 10)),
                    st.tuples(st.just("garbage"), st.integers(0, 2000)), st.just(("whole and more", 0)))


def partial_bytes(kind, n):
    if kind == "prefix":
        return WEIGHTS[:n]
    return hashlib.sha256(b"%d" % n).digest()[:1] * n if kind == "garbage" else WEIGHTS + b"junk"


@FUZZ
@given(plan=PLAN, partial=PARTIAL)
def test_a_partial_file_left_behind_under_faults(fake, plan, partial):
    """A blobs/<sha256>.incomplete left by a killed run (a prefix of the file, or garbage): resumed or replaced,
    never trusted. If the call fails before it downloads anything, the file it never touched may stay."""
    data = partial_bytes(*partial)
    incomplete = None

    def download(cache):
        nonlocal incomplete
        blobs = os.path.join(cache, hub.repo_folder_name(REPO), "blobs")
        os.makedirs(blobs)
        incomplete = os.path.join(blobs, hashlib.sha256(WEIGHTS).hexdigest() + ".incomplete")
        with open(incomplete, "wb") as f:
            f.write(data)
        return hub.hf_hub_download(REPO, "pytorch_model.bin", cache_dir=cache, token=TOKEN)

    inject(fake, plan)
    outcome, cache = call(fake, download)
    try:
        if isinstance(outcome, str):
            with open(outcome, "rb") as f:
                assert f.read() == WEIGHTS
        elif os.path.exists(incomplete):             # untouched (the call failed before it, or went elsewhere)
            assert open(incomplete, "rb").read() == data
            os.remove(incomplete)
        assert_no_secret(outcome if isinstance(outcome, BaseException) else None, fake)
        assert_verified_cache(cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


@settings(FUZZ, max_examples=25)
@given(plan=PLAN, page_size=st.integers(0, 4), link=st.one_of(st.none(), HOSTILE_VALUES,
                                                                st.sampled_from(["self", "first"])))
def test_snapshot_listing_under_faults(fake, plan, page_size, link):
    """Listing pages of any size, Link headers that loop, point off the hub or are garbage: a bounded number of
    requests, then every file or our error."""
    fake.tree_page_size = page_size
    first = f"{fake.endpoint}/api/models/{REPO}/tree/{fake.commit(REPO)}?recursive=true&expand=false"
    if link is not None:
        value = {"self": f'<{first}&cursor=1>; rel="next"', "first": f'<{first}>; rel="next"'}.get(link, link)
        plan = [*plan, (("headers", {"values": {"Link": value}, "method": "GET"}), "hub", 50, "/tree/")]
    inject(fake, plan)
    try:
        outcome, cache = call(fake, lambda c: hub.snapshot_download(REPO, cache_dir=c, token=TOKEN))
    finally:
        fake.tree_page_size = 1000
    try:
        assert len(fake.requests(path="/tree/")) <= hub.MAX_LIST_PAGES
        if isinstance(outcome, str):         # every file the listing named (a lying listing may name fewer)
            assert set(os.listdir(outcome)) <= set(FILES)
            if page_size and link is None and not plan:
                assert set(os.listdir(outcome)) == set(FILES)
            for name in os.listdir(outcome):
                with open(os.path.join(outcome, name), "rb") as f:
                    assert f.read() == FILES[name]
        assert_no_secret(outcome if isinstance(outcome, BaseException) else None, fake)
        assert_verified_cache(cache)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


@settings(FUZZ, max_examples=100)
@given(tail=st.text(min_size=4, max_size=60))
def test_a_token_is_sent_whole_or_refused_without_being_shown(tail):
    """Any string as a token: either it is header-safe (printable ASCII, no spaces) and used as given, or it is
    refused with HubArgumentError, before any request, and the message does not contain it."""
    token = "hfX" + tail
    try:
        resolved = hub.resolve_token(token)
    except HubArgumentError as error:
        assert token.strip() not in str(error) and token.strip() not in repr(error)
        assert not all("!" <= c <= "~" for c in token.strip()) or len(token.strip()) > hub.MAX_TOKEN_LENGTH
        return
    assert resolved == token.strip() and all("!" <= c <= "~" for c in resolved)


@settings(FUZZ, max_examples=100)
@given(endpoint=st.one_of(HOSTILE_VALUES, st.text(max_size=40).map(lambda t: "http://" + t)),
       timeout=st.one_of(st.none(), HOSTILE_VALUES, st.sampled_from(["0", "-1", "nan", "inf", "1e999", "0.5"])))
def test_hostile_settings_are_refused_by_name(endpoint, timeout):
    """HF_ENDPOINT and the timeouts from the environment: a usable value, or HubArgumentError naming the variable."""
    saved = {k: os.environ.get(k) for k in ("HF_ENDPOINT", "HF_HUB_ETAG_TIMEOUT")}
    try:
        os.environ["HF_ENDPOINT"] = endpoint.replace("\0", "")
        if timeout is None:
            os.environ.pop("HF_HUB_ETAG_TIMEOUT", None)
        else:
            os.environ["HF_HUB_ETAG_TIMEOUT"] = timeout.replace("\0", "")
        try:
            url = hub.hub_endpoint()
            assert url.split("://")[0] in ("http", "https") and hub._origin(url)[1]
        except HubArgumentError as error:
            assert "HF_ENDPOINT" in str(error)
        try:
            assert 0 < hub._seconds("HF_HUB_ETAG_TIMEOUT") < float("inf")
        except HubArgumentError as error:
            assert "HF_HUB_ETAG_TIMEOUT" in str(error)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@settings(FUZZ, max_examples=50)
@given(filename=st.text(max_size=30), revision=st.one_of(st.none(), st.text(max_size=30)))
def test_any_filename_or_revision_stays_inside_the_cache(filename, revision):
    """Offline (no request), any filename and revision: our error, or a path inside the cache folder."""
    cache = tempfile.mkdtemp(prefix="fuzz-hub-")
    try:
        path = hub.hf_hub_download(REPO, filename, revision=revision, cache_dir=cache, local_files_only=True)
        assert os.path.realpath(path).startswith(os.path.realpath(cache) + os.sep)
    except SqueezeBertError:
        pass
    finally:
        shutil.rmtree(cache, ignore_errors=True)
