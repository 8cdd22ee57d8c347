"""A cache that huggingface_hub filled, used by us offline (issue 14 §2), against two huggingface_hub versions.

huggingface_hub's own `hf_hub_download` fetches only the files a model needs (config.json, pytorch_model.bin,
vocab.txt, tokenizer.json) of an official-layout repo from the fake hub; then, with HF_HUB_OFFLINE=1, transformers
loads model and tokenizer, and so must we: a weights file or optional tokenizer file that is neither cached nor
known missing does not stop the search.

huggingface_hub runs in a subprocess (it reads its environment at import): the pinned version installed here, and a
second time the current release from $SQUEEZEBERT_HUB_CURRENT (a `pip install --target` folder, put first on
PYTHONPATH) when that variable is set.
"""
import io
import json
import os
import numpy as np
import pytest

from fakehub import FakeHub, hub_versions, run_huggingface_hub
from squeezebert_np import SqueezeBertForMaskedLM, hub
from squeezebert_np.checkpoint.files import load_weights
from squeezebert_np.errors import LocalEntryNotFoundError
from squeezebert_np.tokenization_fast import SqueezeBertTokenizerFast
from tiny_models import TINY_SQUEEZEBERT

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

REPO = "squeezebert/squeezebert-uncased"
NEEDED = ["config.json", "pytorch_model.bin", "vocab.txt", "tokenizer.json"]
WORDS = ["paris", "is", "the", "capital", "of", "france", ".", "a", "city", "##s", "big"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *[f"w{i}" for i in range(99 - 5 - len(WORDS))]]
TEXT = "Paris is the [MASK] of France."


@pytest.fixture(scope="module")
def official_files(tmp_path_factory):
    """A tiny SqueezeBERT in the official repos' layout: config.json, a torch pytorch_model.bin, vocab.txt and
    tokenizer.json (no model.safetensors, no tokenizer_config.json); and the state dict torch saved."""
    torch.manual_seed(0)
    config = transformers.SqueezeBertConfig(**TINY_SQUEEZEBERT)
    model = transformers.SqueezeBertForMaskedLM(config).eval()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    folder = tmp_path_factory.mktemp("vocab")
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    wordpiece = tokenizers.BertWordPieceTokenizer(str(folder / "vocab.txt"), lowercase=True)
    files = {"config.json": config.to_json_string().encode(), "pytorch_model.bin": buffer.getvalue(),
             "vocab.txt": (folder / "vocab.txt").read_bytes(), "tokenizer.json": wordpiece._tokenizer.to_str().encode(),
             "README.md": b"# tiny\n"}
    return files, {k: v.numpy() for k, v in state.items()}


@pytest.fixture
def fake(official_files):
    with FakeHub(repos={REPO: {"main": official_files[0]}}) as fake:
        yield fake


def use_cache(fake, cache, monkeypatch, **extra):
    for name in list(os.environ):
        if name.startswith(("HF_", "HUGGING_FACE_", "HUGGINGFACE_")) or name == "TRANSFORMERS_OFFLINE":
            monkeypatch.delenv(name)
    for name, value in {**fake.env_vars(cache), **extra}.items():
        monkeypatch.setenv(name, value)


DOWNLOAD = """
    import json, sys, huggingface_hub as h
    print(json.dumps([h.hf_hub_download(sys.argv[1], f) for f in json.loads(sys.argv[2])]))
"""


@pytest.mark.parametrize("where", hub_versions())
def test_offline_we_load_what_huggingface_hub_downloaded(fake, official_files, tmp_path, monkeypatch, where):
    cache = tmp_path / "cache"
    paths = run_huggingface_hub(DOWNLOAD, fake.environ(cache), where, REPO, json.dumps(NEEDED))
    assert [os.path.basename(p) for p in paths] == NEEDED
    fake.clear_log()
    use_cache(fake, cache, monkeypatch, HF_HUB_OFFLINE="1")
    model = SqueezeBertForMaskedLM.from_pretrained(REPO)
    tokenizer = SqueezeBertTokenizerFast.from_pretrained(REPO)
    assert fake.log == []
    assert model.loading_info.files == [paths[1]]
    ours = model.state_dict()
    for name, array in official_files[1].items():
        if name in ours:
            np.testing.assert_array_equal(ours[name], array, err_msg=name)
    wordpiece = tokenizers.Tokenizer.from_file(paths[3])
    assert tokenizer(TEXT)["input_ids"] == wordpiece.encode(TEXT).ids
    # local_files_only (without HF_HUB_OFFLINE) too
    monkeypatch.delenv("HF_HUB_OFFLINE")
    weights, files = load_weights(REPO, local_files_only=True)
    assert files == [paths[1]] and fake.log == []


def test_transformers_loads_the_same_cache_offline_with_the_same_numbers(fake, tmp_path, monkeypatch):
    """The premise of the issue, checked: transformers loads this cache offline, and our logits equal its."""
    cache = tmp_path / "cache"
    run_huggingface_hub(DOWNLOAD, fake.environ(cache), None, REPO, json.dumps(NEEDED))
    fake.clear_log()
    theirs = run_huggingface_hub("""
        import json, sys, torch, transformers
        model = transformers.AutoModelForMaskedLM.from_pretrained(sys.argv[1]).eval()
        enc = transformers.AutoTokenizer.from_pretrained(sys.argv[1])(sys.argv[2], return_tensors="pt")
        with torch.no_grad():
            logits = model(**enc).logits
        print(json.dumps({"ids": enc["input_ids"][0].tolist(), "logits": logits[0].tolist()}))
        """, fake.environ(cache, HF_HUB_OFFLINE="1"), None, REPO, TEXT)
    assert fake.log == []
    use_cache(fake, cache, monkeypatch, HF_HUB_OFFLINE="1")
    model = SqueezeBertForMaskedLM.from_pretrained(REPO)
    enc = SqueezeBertTokenizerFast.from_pretrained(REPO)(TEXT, return_tensors="np")
    assert enc["input_ids"][0].tolist() == theirs["ids"]
    logits = model(**enc).logits[0]
    # float32, sums of at most ~100 terms of O(1) values per layer, two layers: a few 1e-6 relative, bounded by 1e-5
    np.testing.assert_allclose(logits, np.array(theirs["logits"], np.float32), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("where", hub_versions())
def test_offline_without_any_weights_cached_names_every_candidate(fake, tmp_path, monkeypatch, where):
    cache = tmp_path / "cache"
    run_huggingface_hub(DOWNLOAD, fake.environ(cache), where, REPO, json.dumps(["config.json", "vocab.txt"]))
    fake.clear_log()
    use_cache(fake, cache, monkeypatch, HF_HUB_OFFLINE="1")
    with pytest.raises(LocalEntryNotFoundError) as caught:
        load_weights(REPO)
    for name in ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                 "pytorch_model.bin.index.json"):
        assert name in str(caught.value)
    assert "HF_HUB_OFFLINE=1" in str(caught.value)
    assert fake.log == []


def test_offline_with_nothing_of_the_repo_cached_says_so(fake, tmp_path, monkeypatch):
    """An optional file is skipped only when something of that revision is cached: with nothing, the first file
    asked names the repo and that nothing of it is cached."""
    use_cache(fake, tmp_path / "cache", monkeypatch, HF_HUB_OFFLINE="1")
    with pytest.raises(LocalEntryNotFoundError, match=f"nothing of '{REPO}' .*is in the cache"):
        hub.cached_file(REPO, "tokenizer_config.json", missing_ok=True)
    with pytest.raises(LocalEntryNotFoundError, match=f"nothing of '{REPO}'"):
        SqueezeBertTokenizerFast.from_pretrained(REPO)
    assert fake.log == []
