"""The commands end to end, in subprocesses, against the fake hub and local folders, checked against transformers'
pipelines on the same checkpoints.

The README's first command (`python -m squeezebert_np.fill_mask "Paris is the [MASK] of France."`) is run as it
is, with HF_ENDPOINT pointing at a fake hub that serves an official-layout squeezebert-uncased: its config.json,
a full-size float16 pytorch_model.bin in torch's zip format (synthetic weights: the answers are noise), vocab.txt
and tokenizer.json.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import squeezebert_np
from squeezebert_np.synthetic import synthetic_state_dict
from squeezebert_np.tokenization_fast import SqueezeBertTokenizerFast

from fakehub import FakeHub

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

HERE = os.path.dirname(os.path.abspath(__file__))
OFFICIAL = os.path.join(HERE, "fixtures", "official")
TEXT = "Paris is the [MASK] of France."


def run(args, env=None, stdin=None, timeout=300):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=timeout,
                          env=env, input=stdin)


def one_line_error(result, fragment):
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert fragment in result.stderr, result.stderr


def torch_bin(state_dict, dtype=torch.float32):
    import io
    buffer = io.BytesIO()
    torch.save({k: torch.from_numpy(np.array(v)).to(dtype) for k, v in state_dict.items()}, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def uncased_files():
    """The files of squeezebert/squeezebert-uncased, official layout, synthetic full-size weights in float16."""
    config = squeezebert_np.SqueezeBertConfig.from_pretrained(os.path.join(OFFICIAL, "squeezebert-uncased"))
    sd = synthetic_state_dict(config, squeezebert_np.SqueezeBertForMaskedLM, seed=5)
    sd["cls.seq_relationship.weight"] = np.zeros((2, 768), np.float32)     # the pretraining SOP head
    sd["cls.seq_relationship.bias"] = np.zeros(2, np.float32)
    tokenizers = pytest.importorskip("tokenizers")
    wordpiece = tokenizers.BertWordPieceTokenizer(SqueezeBertTokenizerFast().vocab_file, lowercase=True)
    tokenizer_json = wordpiece._tokenizer.to_str().encode()        # what the official tokenizer.json holds
    return {"config.json": open(os.path.join(OFFICIAL, "squeezebert-uncased", "config.json"), "rb").read(),
            "pytorch_model.bin": torch_bin(sd, torch.float16),
            "vocab.txt": open(SqueezeBertTokenizerFast().vocab_file, "rb").read(),
            "tokenizer.json": tokenizer_json}


@pytest.fixture(scope="module")
def uncased_dir(uncased_files, tmp_path_factory):
    folder = tmp_path_factory.mktemp("squeezebert-uncased")
    for name, data in uncased_files.items():
        (folder / name).write_bytes(data)
    return folder


def pipeline_fill_mask(folder, text, top_k=5):
    model = transformers.AutoModelForMaskedLM.from_pretrained(folder, dtype=torch.float32)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    return transformers.pipeline("fill-mask", model=model, tokenizer=tokenizer, top_k=top_k)(text)


def assert_same_predictions(ours, theirs, tol=1e-5):
    """Same tokens with the same probabilities (within tol); tokens may swap only where scores tie within tol."""
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert abs(a["score"] - b["score"]) <= tol, (a, b)
    near_tie = lambda rows, i: any(abs(rows[i]["score"] - r["score"]) <= 2 * tol for j, r in enumerate(rows) if j != i)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        if not near_tie(theirs, i):
            assert (a["token"], a["token_str"], a["sequence"]) == (b["token"], b["token_str"], b["sequence"])


def test_readme_first_command_against_the_fake_hub(uncased_files, uncased_dir, tmp_path):
    repos = {"squeezebert/squeezebert-uncased": {"main": uncased_files}}
    with FakeHub(repos=repos) as hub:
        env = hub.environ(tmp_path / "cache")
        first = run(["squeezebert_np.fill_mask", TEXT], env=env)
        assert first.returncode == 0, first.stderr
        lines = first.stdout.splitlines()
        assert lines[0] == TEXT and "probability" in lines[1] and len(lines) == 7
        assert any(r.path.startswith("/blobs/") for r in hub.log)          # the .bin came from the CDN
        hub.clear_log()
        again = run(["squeezebert_np.fill_mask", "--json", "--offline", TEXT], env=env)
        assert again.returncode == 0, again.stderr
        assert hub.log == []                                                 # offline: not one request
    ours = json.loads(again.stdout)[0]["predictions"]
    assert_same_predictions(ours, pipeline_fill_mask(uncased_dir, TEXT))


def test_download_then_offline_or_without_network(uncased_files, tmp_path):
    """The documented offline workflow: `python -m squeezebert_np.download` once, then fill-mask with --offline,
    HF_HUB_OFFLINE=1, or the network down: the optional files the repo lacks (tokenizer_config.json,
    model.safetensors) are known missing from the snapshot's listing, so no request and no wait."""
    import socket
    with FakeHub(repos={"squeezebert/squeezebert-uncased": {"main": uncased_files}}) as hub:
        env = hub.environ(tmp_path / "cache")
        downloaded = run(["squeezebert_np.download", "squeezebert/squeezebert-uncased", "--quiet"], env=env)
        assert downloaded.returncode == 0, downloaded.stderr
        hub.clear_log()
        for extra_args, extra_env in [(["--offline"], {}), ([], {"HF_HUB_OFFLINE": "1"})]:
            result = run(["squeezebert_np.fill_mask", *extra_args, TEXT], env={**env, **extra_env})
            assert result.returncode == 0, result.stderr
            assert result.stdout.splitlines()[0] == TEXT
        assert hub.log == []
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    result = run(["squeezebert_np.fill_mask", TEXT], env={**env, "HF_ENDPOINT": closed, "HF_HUB_ETAG_TIMEOUT": "1"})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("args,env,fragment", [
    (["--revision", "main/"], {}, "invalid revision 'main/'"),
    ([], {"HF_ENDPOINT": "hf-mirror.com"}, "HF_ENDPOINT must be an http:// or https:// URL"),
    ([], {"HF_HUB_ETAG_TIMEOUT": "-1"}, "HF_HUB_ETAG_TIMEOUT must be a positive number"),
])
def test_malformed_hub_arguments_are_one_line(tmp_path, args, env, fragment):
    with FakeHub(repos={}) as hub:
        for command in (["squeezebert_np.fill_mask", TEXT], ["squeezebert_np.nli", "a", "b"]):
            one_line_error(run([*command, *args], env={**hub.environ(tmp_path / "cache"), **env}), fragment)
        assert hub.log == []


def test_token_option_reaches_the_hub(uncased_files, tmp_path):
    repos = {"org/gated-uncased": {"main": uncased_files}}
    with FakeHub(repos=repos, gated={"org/gated-uncased": "hf_secret"}) as hub:
        env = hub.environ(tmp_path / "cache")
        one_line_error(run(["squeezebert_np.fill_mask", "--model", "org/gated-uncased", TEXT], env=env), "gated")
        result = run(["squeezebert_np.fill_mask", "--model", "org/gated-uncased", "--token", "hf_secret", TEXT],
                     env=env)
        assert result.returncode == 0, result.stderr


def test_fill_mask_several_texts_masks_and_stdin(uncased_dir):
    texts = ["The [MASK] sat on the [MASK].", "I like [MASK] tea."]
    result = run(["squeezebert_np.fill_mask", "--model", str(uncased_dir), "--json", "--top-k", "3"],
                 stdin="\n".join(texts) + "\n")
    assert result.returncode == 0, result.stderr
    ours = json.loads(result.stdout)
    assert [r["text"] for r in ours] == texts
    two_masks = pipeline_fill_mask(uncased_dir, texts[0], top_k=3)
    assert len(ours[0]["predictions"]) == 2
    for a, b in zip(ours[0]["predictions"], two_masks):
        assert_same_predictions(a, b)
    assert_same_predictions(ours[1]["predictions"], pipeline_fill_mask(uncased_dir, texts[1], top_k=3))


def test_fill_mask_function_matches_cli(uncased_dir):
    from squeezebert_np.fill_mask import fill_mask
    rows = fill_mask(TEXT, str(uncased_dir), top_k=2)
    assert [set(r) for r in rows] == [{"score", "token", "token_str", "sequence"}] * 2
    assert rows[0]["score"] >= rows[1]["score"]


@pytest.mark.parametrize("args,fragment", [
    (["squeezebert_np.fill_mask", "no mask here"], "no [MASK] in the text"),
    (["squeezebert_np.fill_mask", "[MASK] " + "word " * 600], "the model accepts at most 512"),
])
def test_fill_mask_bad_input(uncased_dir, args, fragment):
    one_line_error(run(args + ["--model", str(uncased_dir)]), fragment)


def test_unknown_model_and_offline_with_nothing_cached(tmp_path):
    with FakeHub(repos={}) as hub:
        env = hub.environ(tmp_path / "cache")
        one_line_error(run(["squeezebert_np.fill_mask", "--model", "nobody/nothing", TEXT], env=env),
                       "nobody/nothing")
        one_line_error(run(["squeezebert_np.fill_mask", "--offline", TEXT], env=env), "squeezebert-uncased")
        assert not [r for r in hub.log if "squeezebert-uncased" in r.path]


def test_usage_errors_exit_2():
    for args in (["squeezebert_np.fill_mask", "--top-k", "0", "x [MASK]"],
                 ["squeezebert_np.nli", "--zero-shot", "text", "--labels", " , "],
                 ["squeezebert_np.nli", "only one"]):
        result = run(args)
        assert result.returncode == 2 and "Traceback" not in result.stderr


# ---- NLI and zero-shot against transformers' zero-shot pipeline ----

@pytest.fixture(scope="module")
def mnli_dir(tmp_path_factory):
    """A small-hidden squeezebert-mnli layout (official vocabulary) whose labels are named, so both sides agree."""
    folder = tmp_path_factory.mktemp("squeezebert-mnli")
    config = squeezebert_np.SqueezeBertConfig(
        vocab_size=30528, hidden_size=64, embedding_size=64, num_attention_heads=4, intermediate_size=128,
        num_hidden_layers=2, id2label={0: "contradiction", 1: "entailment", 2: "neutral"})
    model = squeezebert_np.SqueezeBertForSequenceClassification(
        config, synthetic_state_dict(config, squeezebert_np.SqueezeBertForSequenceClassification, seed=7))
    model.save_pretrained(folder)
    SqueezeBertTokenizerFast().save_pretrained(folder)
    return folder


def test_zero_shot_matches_transformers_pipeline(mnli_dir):
    labels = ["sports", "politics", "cooking"]
    text = "The team won the cup final after extra time."
    clf = transformers.pipeline("zero-shot-classification", model=str(mnli_dir), dtype=torch.float32)
    for multi in (False, True):
        theirs = clf(text, candidate_labels=labels, multi_label=multi)
        args = ["squeezebert_np.nli", "--model", str(mnli_dir), "--json", "--zero-shot", text,
                "--labels", ",".join(labels)] + (["--multi-label"] if multi else [])
        result = run(args)
        assert result.returncode == 0, result.stderr
        ours = json.loads(result.stdout)
        assert np.allclose(sorted(ours["scores"]), sorted(theirs["scores"]), atol=1e-5)
        assert dict(zip(ours["labels"], ours["scores"])).keys() == dict(zip(theirs["labels"], theirs["scores"])).keys()
        for label, score in zip(ours["labels"], ours["scores"]):
            assert abs(score - theirs["scores"][theirs["labels"].index(label)]) <= 1e-5


def test_nli_pair_probabilities(mnli_dir):
    from squeezebert_np.nli import nli
    premise, hypothesis = "A man is playing a guitar.", "A person makes music."
    ours = nli(premise, hypothesis, str(mnli_dir))
    model = transformers.AutoModelForSequenceClassification.from_pretrained(mnli_dir, dtype=torch.float32).eval()
    tok = transformers.AutoTokenizer.from_pretrained(mnli_dir)
    with torch.no_grad():
        probs = model(**tok(premise, hypothesis, return_tensors="pt")).logits.softmax(-1)[0].numpy()
    assert list(ours) == ["contradiction", "entailment", "neutral"]
    assert np.allclose(list(ours.values()), probs, atol=1e-5)


def test_default_mnli_label_order_and_override(tmp_path):
    from squeezebert_np.nli import MNLI_LABELS, label_names_for
    generic = squeezebert_np.SqueezeBertConfig(num_labels=3)              # as the official config.json
    assert label_names_for(generic) == MNLI_LABELS == ("contradiction", "entailment", "neutral")
    assert label_names_for(generic, ["entailment", "neutral", "contradiction"])[0] == "entailment"
    with pytest.raises(squeezebert_np.InvalidInputError, match="2 label names"):
        label_names_for(generic, ["a", "entailment"])
    result = run(["squeezebert_np.nli", "--model", str(tmp_path / "missing"), "--zero-shot", "t", "--labels", "a"],
                 env={**os.environ, "HF_HUB_OFFLINE": "1"})
    one_line_error(result, "missing")


def test_help_has_examples():
    for module in ("squeezebert_np.fill_mask", "squeezebert_np.nli", "squeezebert_np.convert",
                   "squeezebert_np.download"):
        result = run([module, "--help"])
        assert result.returncode == 0 and "example" in result.stdout.lower(), module


@pytest.mark.parametrize("template", ["{} and {}", "{} {", "{} {0}", "no slot"])
def test_bad_zero_shot_template_is_one_line(template):
    result = run(["squeezebert_np.nli", "--model", "nobody/nothing", "--offline", "--zero-shot", "text",
                  "--labels", "a,b", "--template", template])
    one_line_error(result, "template")


# ---- the first command with no network (issue 14 §3) ----

def test_first_command_with_an_unresolvable_hub_fails_at_once(tmp_path):
    """A DNS failure is not retried: the command ends within ~2 s of its start-up (the old client waited 15 s),
    naming the repo, that nothing of it is cached, and what to do."""
    import time
    with FakeHub(repos={}) as hub:
        env = hub.environ(tmp_path / "cache", HF_ENDPOINT="http://squeezebert-np-test.invalid")
    start = time.monotonic()
    baseline = run(["squeezebert_np.fill_mask", "--offline", TEXT], env=env)      # start-up, imports, no network
    startup = time.monotonic() - start
    assert baseline.returncode == 1
    for command in (["squeezebert_np.fill_mask", TEXT], ["squeezebert_np.nli", "a", "b"]):
        start = time.monotonic()
        result = run(command, env=env)
        assert time.monotonic() - start < startup + 2.0
        one_line_error(result, "'squeezebert-np-test.invalid' does not resolve")
        for fragment in ("nothing of 'squeezebert/squeezebert-", "HF_ENDPOINT", "local directory",
                         "python -m squeezebert_np.download"):
            assert fragment in result.stderr, result.stderr
        assert "tokenizer_config.json" not in result.stderr


# ---- hostile command lines and environments (issue 15, CLI): one line, no traceback, non-zero exit ----

def run_shell(command, env=None, timeout=120):
    """Run a shell command line (for `<&-` and `>&-`) with this interpreter as $PY."""
    return subprocess.run(["bash", "-c", command], capture_output=True, timeout=timeout,
                          env={**(env or os.environ), "PY": sys.executable})


def one_line_error_bytes(result, fragment):
    one_line_error(subprocess.CompletedProcess(result.args, result.returncode, result.stdout.decode(),
                                               result.stderr.decode("utf-8", "backslashreplace")), fragment)


def test_fill_mask_with_stdin_closed(uncased_dir):
    result = run_shell(f'"$PY" -m squeezebert_np.fill_mask --model "{uncased_dir}" <&-')
    one_line_error_bytes(result, "stdin is closed")


@pytest.mark.parametrize("module, args", [("fill_mask", [TEXT]), ("nli", ["a", "b"])])
def test_stdout_closed_is_an_error_not_a_lost_result(uncased_dir, mnli_dir, module, args):
    folder = uncased_dir if module == "fill_mask" else mnli_dir
    quoted = " ".join(f"'{a}'" for a in args)
    result = run_shell(f'"$PY" -m squeezebert_np.{module} --model "{folder}" {quoted} >&-')
    one_line_error_bytes(result, "stdout is closed")
    result = run_shell('"$PY" -m squeezebert_np.download squeezebert/squeezebert-uncased >&-')
    assert result.returncode == 1 and b"stdout is closed" in result.stderr and b"Traceback" not in result.stderr


@pytest.mark.parametrize("encoding", ["utf-8:strict", "ascii"])
def test_argv_bytes_that_are_not_utf8(uncased_dir, encoding):
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    result = subprocess.run([sys.executable, "-m", "squeezebert_np.fill_mask", "--model", str(uncased_dir),
                             b"caf\xff [MASK]"], capture_output=True, env=env, timeout=120)
    one_line_error_bytes(result, "text 1 is not valid utf-8 text (the byte 0xff at position 3)")
    result = subprocess.run([sys.executable, "-m", "squeezebert_np.nli", "--model", str(uncased_dir), "--zero-shot",
                             "x", "--labels", b"a,\xfe"], capture_output=True, env=env, timeout=120)
    one_line_error_bytes(result, "labels is not valid utf-8 text (the byte 0xfe at position 2)")


def test_a_result_the_output_encoding_cannot_show(uncased_dir):
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    result = subprocess.run([sys.executable, "-m", "squeezebert_np.fill_mask", "--model", str(uncased_dir),
                             "Caf\u00e9 au [MASK]."], capture_output=True, env=env, timeout=120)
    one_line_error_bytes(result, "cannot be written in the output's encoding (ascii)")
    result = subprocess.run([sys.executable, "-m", "squeezebert_np.fill_mask", "--model", str(uncased_dir), "--json",
                             "Caf\u00e9 au [MASK]."], capture_output=True, env=env, timeout=120)
    assert result.returncode == 0 and json.loads(result.stdout)[0]["text"] == "Caf\u00e9 au [MASK]."


@pytest.mark.parametrize("module, args", [("fill_mask", [TEXT]), ("nli", ["a", "b"]),
                                          ("download", ["squeezebert/squeezebert-uncased"])])
def test_an_unparsable_hf_endpoint_is_one_line(module, args, tmp_path):
    env = {**os.environ, "HF_ENDPOINT": "http://[::1", "HF_HUB_CACHE": str(tmp_path)}
    one_line_error(run([f"squeezebert_np.{module}", *args], env=env), "HF_ENDPOINT must be an http:// or https://")


@pytest.mark.parametrize("template", ["{0.foo}", "{0[5]}", "{0:d}", "{0!z}"])
def test_a_template_that_fails_to_format_is_one_line(template):
    result = run(["squeezebert_np.nli", "--model", "nobody/nothing", "--offline", "--zero-shot", "x",
                  "--labels", "a", "--template", template])
    one_line_error(result, "does not format")


def test_nli_with_id2label_keys_that_are_not_0_to_n(mnli_dir, tmp_path):
    import shutil
    folder = tmp_path / "gappy"
    shutil.copytree(mnli_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {"0": "contradiction", "1": "entailment", "7": "neutral"}
    config["label2id"] = {v: int(k) for k, v in config["id2label"].items()}
    (folder / "config.json").write_text(json.dumps(config))
    for args in (["a", "b"], ["--zero-shot", "x", "--labels", "a,b"]):
        one_line_error(run(["squeezebert_np.nli", "--model", str(folder), *args]), "id2label")


BAD_CONFIGS = [{"hidden_size": -1}, [1], {"hidden_act": "nope"}, {"num_labels": 2 ** 31},
               {"num_hidden_layers": 10 ** 7}, {"vocab_size": 10 ** 8}, {"hidden_act": ["gelu"]}, {"validate": 1},
               {"__class__": 1}, {"id2label": {"x": "a"}}, {"id2label": "abc"}, {"label2id": {"a": None}},
               {"num_labels": "3", "id2label": {"0": "a", "1": "b", "2": "c"}}, "[" * 100000, "9" * 5000]


def limited_memory():          # for the child: 4 GB of address space, so a runaway allocation fails fast
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, resource.RLIM_INFINITY))


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_AS is POSIX")
@pytest.mark.parametrize("bad", BAD_CONFIGS, ids=lambda b: repr(b)[:40])
@pytest.mark.parametrize("module", ["fill_mask", "convert"])
def test_bad_configs_through_model_dir_are_one_line(uncased_dir, tmp_path, bad, module):
    """config.py refuses each of these (within its size limits, before anything is allocated); the commands turn its
    ConfigError into one line and exit status 1, in bounded time and memory."""
    import shutil
    folder = tmp_path / "bad"
    shutil.copytree(uncased_dir, folder)
    if isinstance(bad, str):
        (folder / "config.json").write_text(bad)
    else:
        base = json.loads((folder / "config.json").read_text()) if isinstance(bad, dict) else None
        (folder / "config.json").write_text(json.dumps({**base, **bad} if base is not None else bad))
    args = ["--model", str(folder), TEXT] if module == "fill_mask" else [str(folder), str(tmp_path / "out")]
    result = subprocess.run([sys.executable, "-m", f"squeezebert_np.{module}", *args], capture_output=True,
                            text=True, timeout=20, preexec_fn=limited_memory)
    one_line_error(result, "")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("module", ["fill_mask", "convert"])
@pytest.mark.parametrize("weights", [b"", b"<html>rate limited</html>", b"version https://git-lfs.github.com/spec/v1\n"])
def test_a_bad_checkpoint_through_model_dir_is_one_line(uncased_dir, tmp_path, module, weights):
    import shutil
    folder = tmp_path / "bad"
    shutil.copytree(uncased_dir, folder)
    (folder / "pytorch_model.bin").write_bytes(weights)
    args = ["--model", str(folder), TEXT] if module == "fill_mask" else [str(folder), str(tmp_path / "out")]
    one_line_error(run([f"squeezebert_np.{module}", *args], timeout=60), "pytorch_model.bin")
    assert not (tmp_path / "out").exists()
