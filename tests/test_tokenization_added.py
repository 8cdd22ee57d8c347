"""Added and special tokens (issue 16) against transformers 5.24's BertTokenizer (Rust's AddedVocabulary):
add_tokens / add_special_tokens, the matching flags (single_word, lstrip, rstrip, normalized), ids, offsets,
word_ids, decode, save/load both ways, the special-token attributes and the constructor keywords."""
import json

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tokenizer_reference import SPECIALS, plain, transformers_tokenizer
from squeezebert_np.added_tokens import AddedToken
from squeezebert_np.errors import TokenizerError
from squeezebert_np.tokenization import SqueezeBertTokenizer
from squeezebert_np.tokenization_fast import SqueezeBertTokenizerFast

transformers = pytest.importorskip("transformers")
HFAddedToken = transformers.AddedToken
CLASSES = [SqueezeBertTokenizer, SqueezeBertTokenizerFast]

# a small vocabulary, so that a fresh tokenizer costs little: letters, continuations and a few words
LETTERS = "abcdeé"
SMALL_VOCAB = {t: i for i, t in enumerate(
    SPECIALS + list(LETTERS) + ["##" + c for c in LETTERS] + ["ab", "abc", "##bc", "cat", "-", "!", "<", ">", "中"])}


def pair_of_tokenizers(cls, vocab=None):
    vocab = SMALL_VOCAB if vocab is None else vocab
    return cls(vocab=dict(vocab)), transformers.BertTokenizer(vocab=dict(vocab), model_max_length=512)


def both_add(ours, theirs, tokens, special=False):
    """Add the same tokens (our AddedToken / theirs) to both; the counts must agree."""
    def convert(token, kind):
        if isinstance(token, str):
            return token
        return kind(token.content, single_word=token.single_word, lstrip=token.lstrip, rstrip=token.rstrip,
                    normalized=token.normalized, special=token.special)
    n_ours = ours.add_tokens([convert(t, AddedToken) for t in tokens], special_tokens=special)
    n_theirs = theirs.add_tokens([convert(t, HFAddedToken) for t in tokens], special_tokens=special)
    assert n_ours == n_theirs


def same_encoding(ours, theirs, text, pair=None, **options):
    want_offsets = isinstance(ours, SqueezeBertTokenizerFast)
    a = ours(text, pair, return_offsets_mapping=want_offsets, **options)
    b = theirs(text, pair, return_offsets_mapping=want_offsets, **options)
    assert plain(a["input_ids"]) == plain(b["input_ids"]), (text, pair)
    if want_offsets:
        assert plain(a["offset_mapping"]) == plain(b["offset_mapping"]), (text, pair)
    if not isinstance(b["input_ids"][0], list):
        assert a.word_ids() == b.word_ids(), (text, pair)
    return a


@pytest.mark.parametrize("cls", CLASSES)
def test_added_tokens_as_transformers(cls, vocab_dir):
    ours, theirs = cls(), transformers_tokenizer(vocab_dir)
    both_add(ours, theirs, ["covid", AddedToken("bar baz", lstrip=True), "hello",
                            AddedToken("<ent>", single_word=True, normalized=False, rstrip=True), "Gene", "##xy"])
    assert ours.add_special_tokens({"additional_special_tokens": ["<x>"], "pad_token": "<pad>"}) == \
        theirs.add_special_tokens({"additional_special_tokens": ["<x>"], "pad_token": "<pad>"}) == 2
    text = "Hello COVID-19 bar baz <ent> x<ent> <ent>y <x> and [MASK] <pad> ##xy coviding GENES"
    enc = same_encoding(ours, theirs, text, "covid <x>", padding="max_length", max_length=40)
    assert 30522 in enc["input_ids"]  # covid
    for skip in (False, True):
        assert ours.decode(enc["input_ids"], skip_special_tokens=skip) == \
            theirs.decode(enc["input_ids"], skip_special_tokens=skip)
    assert len(ours) == len(theirs) == 30528 and ours.vocab_size == theirs.vocab_size == 30522
    assert ours.added_tokens_encoder == theirs.added_tokens_encoder
    assert {i: repr(t) for i, t in ours.added_tokens_decoder.items()} == \
        {i: repr(t) for i, t in theirs.added_tokens_decoder.items()}
    assert ours.get_vocab() == theirs.get_vocab()
    assert (ours.pad_token_id, ours.all_special_tokens, ours.all_special_ids) == \
        (theirs.pad_token_id, theirs.all_special_tokens, theirs.all_special_ids)
    assert ours.convert_ids_to_tokens([30522, 30525]) == theirs.convert_ids_to_tokens([30522, 30525])
    assert ours.tokenize("a covid!") == theirs.tokenize("a covid!")


def test_tokens_with_the_same_normalised_form():
    """"covid" and "COVID" both match "covid" once normalised. Rust then picks one by the iteration order of a
    hash map, which changes from run to run; we pick the first added, every time."""
    for cls in CLASSES:
        tok = cls()
        tok.add_tokens(["COVID", "covid", "Covid"])
        assert tok("covid COVID", add_special_tokens=False)["input_ids"] == [30522, 30522]


def test_readable_and_fast_agree_with_added_tokens():
    slow, fast = SqueezeBertTokenizer(), SqueezeBertTokenizerFast()
    for tok in (slow, fast):
        tok.add_tokens(["covid", AddedToken("é!", lstrip=True, rstrip=True)])
        tok.add_special_tokens({"extra_special_tokens": ["<sep2>"]})
    for text in ("Covid é! now<sep2>", "ÉcovidÉ", "a é!  b", ""):
        assert slow(text)["input_ids"] == fast(text)["input_ids"]
        assert slow(text).word_ids() == fast(text).word_ids()
        assert slow.tokenize(text) == fast.tokenize(text)


def test_save_and_load_both_ways(tmp_path, vocab_dir):
    ours, theirs = SqueezeBertTokenizerFast(), transformers_tokenizer(vocab_dir)
    both_add(ours, theirs, ["covid", AddedToken("<e>", lstrip=True, normalized=False)])
    ours.add_special_tokens({"extra_special_tokens": ["<q>"], "cls_token": "<cls>"})
    theirs.add_special_tokens({"extra_special_tokens": ["<q>"], "cls_token": "<cls>"})
    text = "covid <e> x <q> [CLS] <cls>"
    ours.save_pretrained(tmp_path / "ours")
    theirs.save_pretrained(tmp_path / "theirs")
    reloaded = [SqueezeBertTokenizerFast.from_pretrained(tmp_path / "ours"),
                SqueezeBertTokenizer.from_pretrained(tmp_path / "ours"),
                SqueezeBertTokenizerFast.from_pretrained(tmp_path / "theirs"),
                transformers.BertTokenizer.from_pretrained(tmp_path / "ours"),
                transformers.AutoTokenizer.from_pretrained(tmp_path / "ours")]
    answers = [tok(text)["input_ids"] for tok in reloaded]
    # after a reload [CLS] A [SEP] uses the new cls_token, in both libraries
    assert answers == [answers[-1]] * len(answers) and answers[0][0] == ours.convert_tokens_to_ids("<cls>")
    for tok in reloaded:
        assert tok.added_tokens_encoder == reloaded[-1].added_tokens_encoder
        assert tok.extra_special_tokens == ["<q>"] and tok.cls_token == "<cls>"
    assert json.loads((tmp_path / "ours" / "tokenizer_config.json").read_text())["added_tokens_decoder"]["30522"] \
        == {"content": "covid", "single_word": False, "lstrip": False, "rstrip": False, "normalized": True,
            "special": False}


def test_special_token_attributes_as_transformers(vocab_dir):
    ours, theirs = SqueezeBertTokenizerFast(), transformers_tokenizer(vocab_dir)
    assert ours.bos_token is theirs.bos_token is None and ours.eos_token_id is theirs.eos_token_id is None
    for tok in (ours, theirs):
        tok.sep_token = "hello"      # renaming only: the template keeps [SEP] until saved and loaded
        tok.pad_token_id = 5
        tok.bos_token = "x"
    for name in ("sep_token", "sep_token_id", "pad_token", "pad_token_id", "bos_token", "bos_token_id",
                 "all_special_tokens", "all_special_ids", "special_tokens_map"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ours("hi")["input_ids"] == theirs("hi")["input_ids"] == [101, 7632, 102]
    assert ours.pad({"input_ids": [[1], [1, 2]]})["input_ids"] == [[1, 5], [1, 2]]
    with pytest.raises(TokenizerError):
        ours.eos_token = 5
    ours.pad_token = None
    with pytest.raises(TokenizerError, match="pad token"):
        ours(["a", "a b"], padding=True)
    assert ours.additional_special_tokens == ours.extra_special_tokens == []


def test_constructor_takes_what_a_saved_transformers_tokenizer_passes(tmp_path):
    saved = {"30522": {"content": "covid", "lstrip": False, "rstrip": False, "single_word": False,
                       "normalized": True, "special": False},
             "100": {"content": "[UNK]", "lstrip": False, "rstrip": False, "single_word": False,
                     "normalized": False, "special": True}}
    tok = SqueezeBertTokenizerFast(added_tokens_decoder=saved, merges=None, backend="tokenizers", is_local=True,
                                   local_files_only=False, name_or_path="x", extra_special_tokens=["<q>"])
    assert tok.convert_tokens_to_ids(["covid", "<q>"]) == [30522, 30523]
    assert tok.init_kwargs["added_tokens_decoder"] == saved and tok.init_kwargs["backend"] == "tokenizers"
    for bad in ({"merges": [("a", "b")]}, {"frobnicate": 1}, {"split_special_tokens": True},
                {"added_tokens_decoder": {"30530": {"content": "gap"}}},   # the id would be 30522
                {"added_tokens_decoder": {"x": {"content": "y"}}}, {"added_tokens_decoder": [1]},
                {"extra_special_tokens": "<q>"}, {"cls_token": None}, {"mask_token": 5}):
        with pytest.raises(TokenizerError):
            SqueezeBertTokenizerFast(**bad)


def test_add_tokens_refuses_what_it_cannot_take():
    tok = SqueezeBertTokenizerFast()
    assert tok.add_tokens([]) == 0 and tok.add_tokens("") == 0
    for bad in ([5], [None], [AddedToken("x")] * 0 + [b"x"], ["x" * 10_000]):
        with pytest.raises(TokenizerError):
            tok.add_tokens(bad)
    with pytest.raises(TokenizerError):
        tok.add_special_tokens({"foo_token": "x"})
    with pytest.raises(TokenizerError):
        tok.add_special_tokens({"extra_special_tokens": "x"})
    with pytest.raises(TokenizerError):
        AddedToken("x", lstrip="yes")


def test_subfolder(tmp_path):
    tok = SqueezeBertTokenizerFast()
    tok.add_tokens(["covid"])
    tok.save_pretrained(tmp_path / "sub" / "tok")
    assert SqueezeBertTokenizerFast.from_pretrained(tmp_path, subfolder="sub/tok")("covid")["input_ids"] == \
        [101, 30522, 102]
    with pytest.raises(TokenizerError, match="neither"):
        SqueezeBertTokenizerFast.from_pretrained(tmp_path, subfolder="sub")
    with pytest.raises(TokenizerError):
        SqueezeBertTokenizerFast.from_pretrained(tmp_path, subfolder="")


# ---- hypothesis: random added tokens, random texts ----

CHARS = "abcAB é-!<> 中"
content = st.text(st.sampled_from(CHARS), min_size=1, max_size=4)
added_token = st.builds(AddedToken, content, single_word=st.booleans(), lstrip=st.booleans(),
                        rstrip=st.booleans(), normalized=st.booleans(), special=st.booleans())


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(tokens=st.lists(st.one_of(content, added_token), min_size=1, max_size=5),
       special=st.booleans(), text=st.text(st.sampled_from(CHARS), max_size=24),
       pair=st.none() | st.text(st.sampled_from(CHARS), min_size=1, max_size=12),
       max_length=st.none() | st.integers(3, 12))
def test_added_tokens_hypothesis(tokens, special, text, pair, max_length):
    """Overlapping tokens, tokens inside words, special ones, pairs and truncation: the same ids, offsets and
    word ids as transformers (Rust), and the readable tokenizer agrees."""
    ours, theirs = pair_of_tokenizers(SqueezeBertTokenizerFast)
    slow = SqueezeBertTokenizer(vocab=dict(SMALL_VOCAB))
    normalized = [t if isinstance(t, str) else t.content for t in tokens
                  if isinstance(t, str) and not special or not isinstance(t, str) and t.normalized]
    forms = {}
    for t in normalized:  # two tokens with one normalised form: Rust's choice is random (test above)
        forms.setdefault(ours._basic.normalize(t), set()).add(t)
    assume(all(len(contents) == 1 for contents in forms.values()))
    both_add(ours, theirs, tokens, special)
    slow.add_tokens([t if isinstance(t, str) else AddedToken.of(t) for t in tokens], special_tokens=special)
    options = {} if max_length is None else {"truncation": True, "max_length": max_length}
    same_encoding(ours, theirs, text, pair, **options)
    assert slow(text, pair, **options)["input_ids"] == ours(text, pair, **options)["input_ids"]
    ids = ours(text, pair)["input_ids"]
    assert ours.decode(ids, skip_special_tokens=True) == theirs.decode(ids, skip_special_tokens=True)


def naive_leftmost_longest(text, patterns):
    """The matches a naive loop finds: at each position the longest pattern, else move on by one."""
    found, i = [], 0
    while i < len(text):
        match = max((p for p in patterns if text.startswith(p, i)), key=len, default=None)
        if match is None:
            i += 1
        else:
            found.append(match)
            i += len(match)
    return found


@settings(max_examples=200)
@given(patterns=st.lists(st.text("ab<. ", min_size=1, max_size=5), min_size=1, max_size=8, unique=True),
       text=st.text("ab<. x", max_size=30))
def test_trie_regex_is_leftmost_longest(patterns, text):
    import re
    from squeezebert_np.added_tokens import trie_regex
    assert [m.group() for m in re.finditer(trie_regex(patterns), text)] == naive_leftmost_longest(text, patterns)


def test_many_added_tokens_stay_fast():
    """Tokens added one call at a time (a loop in a training script) and long shared prefixes: bounded work."""
    import time
    tok = SqueezeBertTokenizerFast()
    start = time.perf_counter()
    for i in range(2000):
        tok.add_tokens(f"w{i}")
    tok.add_tokens(["a" * n for n in range(1, 300)])  # a trie too deep for the regex compiler: flat alternation
    assert tok("w5 w1999 aaaa", add_special_tokens=False)["input_ids"] == \
        [30527, 32521, tok.convert_tokens_to_ids("aaaa")]
    assert time.perf_counter() - start < 30  # ~1 s here; quadratic rebuilding would take minutes
    with pytest.raises(TokenizerError, match="at most"):
        tok.add_tokens(["x" * 2000])


def test_subfolder_on_the_hub(tmp_path, monkeypatch):
    """subfolder= through the hub client: the files come from `<subfolder>/<name>` of the repo."""
    import os
    from fakehub import FakeHub
    from squeezebert_np.tokenization_base import default_vocab_file

    vocab = open(default_vocab_file(), "rb").read()
    config = json.dumps({"added_tokens_decoder": {"30522": {"content": "covid", "normalized": True}},
                         "model_max_length": 128}).encode()
    files = {"vocab.txt": b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n", "tok/vocab.txt": vocab,
             "tok/tokenizer_config.json": config}
    with FakeHub(repos={"org/repo": {"main": files}}) as fake:
        for name in list(os.environ):
            if name.startswith(("HF_", "HUGGING_FACE_", "HUGGINGFACE_")):
                monkeypatch.delenv(name)
        for name, value in fake.env_vars(tmp_path / "cache").items():
            monkeypatch.setenv(name, value)
        tok = SqueezeBertTokenizerFast.from_pretrained("org/repo", subfolder="tok")
        assert tok("covid")["input_ids"] == [101, 30522, 102] and tok.model_max_length == 128
        assert SqueezeBertTokenizerFast.from_pretrained("org/repo").vocab_size == 5


def test_older_files_load_as_in_transformers(tmp_path):
    """added_tokens.json ({content: id}) and special_tokens_map.json (with AddedToken dicts and the old
    additional_special_tokens key), as transformers 5.24 reads them."""
    from squeezebert_np.tokenization_base import default_vocab_file
    (tmp_path / "vocab.txt").write_bytes(open(default_vocab_file(), "rb").read())
    (tmp_path / "added_tokens.json").write_text(json.dumps({"covid": 30522, "Gene": 30523}))
    (tmp_path / "special_tokens_map.json").write_text(json.dumps({
        "additional_special_tokens": ["<q>"],
        "mask_token": {"content": "[MASK]", "lstrip": True, "rstrip": False, "normalized": False,
                       "single_word": False}}))
    theirs = transformers.BertTokenizer.from_pretrained(str(tmp_path))
    for cls in CLASSES:
        ours = cls.from_pretrained(tmp_path)
        text = "covid GENE <q> a  [MASK]"
        same_encoding(ours, theirs, text)
        assert ours.added_tokens_encoder == theirs.added_tokens_encoder
        assert ours.extra_special_tokens == theirs.extra_special_tokens == ["<q>"]
