"""Bad tokenizer files and options (issue 15): each gets our TokenizerError naming the problem, or the answer
transformers gives, in bounded time and memory."""
import json
import shutil

import pytest

from squeezebert_np.errors import TokenizerError
from squeezebert_np.tokenization import SqueezeBertTokenizer
from squeezebert_np.tokenization_base import MAX_PADDED_TOKENS, default_vocab_file, load_vocab
from squeezebert_np.tokenization_fast import SqueezeBertTokenizerFast

CLASSES = [SqueezeBertTokenizer, SqueezeBertTokenizerFast]


@pytest.fixture(params=CLASSES, ids=["slow", "fast"])
def cls(request):
    return request.param


@pytest.fixture
def repo(tmp_path):
    shutil.copy(default_vocab_file(), tmp_path / "vocab.txt")
    return tmp_path


@pytest.mark.parametrize("value", ["NaN", "-Infinity", "512.5", "0.0"])
def test_model_max_length_not_a_length(cls, repo, value):
    (repo / "tokenizer_config.json").write_text('{"model_max_length": %s}' % value)
    with pytest.raises(TokenizerError, match="model_max_length"):
        cls.from_pretrained(repo)


@pytest.mark.parametrize("value", ["Infinity", "1e400", "1e30"])
def test_model_max_length_infinite_means_no_limit(cls, repo, value):
    """Infinity (and what overflows to it) is transformers' "no limit": its int(1e30)."""
    (repo / "tokenizer_config.json").write_text('{"model_max_length": %s}' % value)
    tok = cls.from_pretrained(repo)
    assert tok.model_max_length == int(1e30)
    assert len(tok("word " * 600, truncation=True)["input_ids"]) == 602  # no limit: nothing cut


def test_model_max_length_whole_float(cls, repo):
    (repo / "tokenizer_config.json").write_text('{"model_max_length": 128.0}')
    assert cls.from_pretrained(repo).model_max_length == 128


@pytest.mark.parametrize("name", ["tokenizer.json", "tokenizer_config.json"])
def test_deeply_nested_json(cls, repo, name):
    (repo / name).write_text("[" * 100_000)
    with pytest.raises(TokenizerError, match="nested too deeply"):
        cls.from_pretrained(repo)


@pytest.mark.parametrize("name", ["tokenizer.json", "tokenizer_config.json"])
@pytest.mark.parametrize("content", [b"\xff\xfe{}", b"{", b""])
def test_unreadable_json(cls, repo, name, content):
    (repo / name).write_bytes(content)
    with pytest.raises(TokenizerError, match=name):
        cls.from_pretrained(repo)


@pytest.mark.parametrize("spoil", [str, lambda i: None, float, lambda i: True, lambda i: [i]])
def test_vocab_ids_must_be_ints(cls, repo, spoil):
    """Ids as strings, null, floats (101.0 used to be accepted and returned as input ids) or bools."""
    vocab = load_vocab(default_vocab_file())
    vocab["[CLS]"] = spoil(vocab["[CLS]"])
    (repo / "tokenizer.json").write_text(json.dumps({"model": {"vocab": vocab}}))
    with pytest.raises(TokenizerError, match="int id"):
        cls.from_pretrained(repo)
    with pytest.raises(TokenizerError, match="int id"):
        cls(vocab=vocab)


@pytest.mark.parametrize("vocab", [[1, 2], "vocab.txt", [("[PAD]", 0)], 5])
def test_vocab_must_be_a_dict(cls, vocab):
    with pytest.raises(TokenizerError, match="vocab must be a dict"):
        cls(vocab=vocab)


@pytest.mark.parametrize("model", [None, [], {"vocab": [1, 2]}, {"vocab": None}, {}])
def test_tokenizer_json_without_vocab_map(cls, repo, model):
    (repo / "tokenizer.json").write_text(json.dumps({"model": model}))
    with pytest.raises(TokenizerError, match="model.vocab"):
        cls.from_pretrained(repo)


def test_huge_padding_is_refused_before_allocating(cls):
    tok = cls()
    with pytest.raises(TokenizerError, match="pad_to_multiple_of"):
        tok("hi", padding=True, pad_to_multiple_of=2 ** 40)
    with pytest.raises(TokenizerError, match="max_length"):
        tok("hi", padding="max_length", max_length=2 ** 70)
    with pytest.raises(TokenizerError, match="max_length"):
        tok(["hi"] * 2, padding="max_length", max_length=MAX_PADDED_TOKENS // 2 + 1)
    assert len(tok("hi", padding="max_length", max_length=2 ** 16)["input_ids"]) == 2 ** 16
    # a huge max_length without padding only means "do not cut"
    assert tok("hi", truncation=True, max_length=2 ** 70)["input_ids"] == [101, 7632, 102]
