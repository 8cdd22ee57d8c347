"""SqueezeBertTokenizer and SqueezeBertTokenizerFast: the API against transformers, bad input, the pinned
differences from the references (each test says our choice and why), loading and saving, and linear time.

Parity over a large corpus and generated text is in test_tokenization_parity.py, the per-code-point Unicode
checks in test_tokenization_unicode.py.
"""
import json
import shutil
import sys
import time

import numpy as np
import pytest

from tokenizer_reference import legacy_tokenizer, read_vocab, rust_tokenizer, transformers_tokenizer
from squeezebert_np.errors import SqueezeBertError, TokenizerError
from squeezebert_np.tokenization import SqueezeBertTokenizer
from squeezebert_np.tokenization_base import BatchEncoding, default_vocab_file
from squeezebert_np.tokenization_fast import SqueezeBertTokenizerFast

CLASSES = [SqueezeBertTokenizer, SqueezeBertTokenizerFast]
SAMPLES = ["Hello, world!", "The CAFÉ unaffable", "don't stop [MASK] now", "中文ok 한국어 ΟΔΟΣ", "",
           "naïve\tcafe\u0301\u200b!", "x" * 101, "Ünïcödé [UNK] [mask] ##s"]


@pytest.fixture(scope="module")
def legacy():
    return legacy_tokenizer(default_vocab_file())


@pytest.fixture(scope="module", params=CLASSES, ids=["slow", "fast"])
def tok(request):
    return request.param()


def write_vocab(path, tokens):
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return path


SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


# ---- the textbook example ----

@pytest.mark.parametrize("cls", CLASSES)
def test_unaffable_with_the_bert_paper_vocabulary(tmp_path, cls):
    """Greedy longest-match-first with ## continuations (google-research/bert's docstring example), checked
    against the Rust WordPiece on the same toy vocabulary."""
    vocab_file = write_vocab(tmp_path / "vocab.txt", SPECIALS + ["un", "##aff", "##able", "runn", "##ing", ","])
    tok = cls(vocab_file)
    assert tok.tokenize("unaffable") == ["un", "##aff", "##able"]
    rust = rust_tokenizer(read_vocab(vocab_file))
    for text in ["unaffable", "UnAffable, running", "unaff", "affable", "un,aff"]:
        assert tok(text)["input_ids"] == rust.encode(text).ids


def test_default_vocabulary_is_the_official_uncased_one(tok):
    assert (len(tok), tok.vocab_size) == (30522, 30522)
    assert [tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id] == \
        [0, 100, 101, 102, 103]


# ---- the API, compared with transformers ----

def test_tokenize_and_encode_match_transformers(tok, hf):
    for text in SAMPLES:
        assert tok.tokenize(text) == hf.tokenize(text)
        assert tok.encode(text) == hf.encode(text)
        assert tok.encode(text, add_special_tokens=False) == hf.encode(text, add_special_tokens=False)
        assert tok.encode(text, "a pair") == hf.encode(text, "a pair")
        assert tok.tokenize(text, "pair", add_special_tokens=True) == hf.tokenize(text, "pair",
                                                                                    add_special_tokens=True)


def test_token_id_conversions_match_transformers(tok, hf):
    tokens = ["hello", "##ing", "[MASK]", "no-such-token", "[mask]", ""]
    assert tok.convert_tokens_to_ids(tokens) == hf.convert_tokens_to_ids(tokens)
    assert tok.convert_tokens_to_ids("hello") == hf.convert_tokens_to_ids("hello")
    ids = [0, 100, 101, 7592, 30521, 30522, 30527]  # 30522..30527: the checkpoints' extra embedding rows
    assert tok.convert_ids_to_tokens(ids) == hf.convert_ids_to_tokens(ids)
    assert tok.convert_ids_to_tokens(ids, skip_special_tokens=True) == \
        hf.convert_ids_to_tokens(ids, skip_special_tokens=True)
    assert tok.convert_ids_to_tokens(7592) == hf.convert_ids_to_tokens(7592) == "hello"
    assert tok.convert_ids_to_tokens(np.array([7592, 103])) == ["hello", "[MASK]"]


def test_special_token_attributes_match_transformers(tok, hf):
    for name in ["unk", "sep", "pad", "cls", "mask"]:
        assert getattr(tok, f"{name}_token") == getattr(hf, f"{name}_token")
        assert getattr(tok, f"{name}_token_id") == getattr(hf, f"{name}_token_id")
    assert tok.all_special_tokens == hf.all_special_tokens
    assert tok.all_special_ids == hf.all_special_ids
    assert tok.special_tokens_map == hf.special_tokens_map
    assert tok.get_vocab() == hf.get_vocab()


def test_special_token_layout_matches_the_python_tokenizer(tok, legacy):
    """build_inputs_with_special_tokens & co. exist only in transformers' Python tokenizer (BertTokenizerLegacy)."""
    a, b = [7592, 2088], [2129]
    assert tok.build_inputs_with_special_tokens(a) == legacy.build_inputs_with_special_tokens(a)
    assert tok.build_inputs_with_special_tokens(a, b) == legacy.build_inputs_with_special_tokens(a, b)
    assert tok.get_special_tokens_mask(a) == legacy.get_special_tokens_mask(a)
    assert tok.get_special_tokens_mask(a, b) == legacy.get_special_tokens_mask(a, b)
    ids = [101, 7592, 103, 102, 0, 100]
    assert tok.get_special_tokens_mask(ids, already_has_special_tokens=True) == \
        legacy.get_special_tokens_mask(ids, already_has_special_tokens=True)
    assert tok.create_token_type_ids_from_sequences(a) == legacy.create_token_type_ids_from_sequences(a)
    assert tok.create_token_type_ids_from_sequences(a, b) == legacy.create_token_type_ids_from_sequences(a, b)
    assert tok.num_special_tokens_to_add() == 2 and tok.num_special_tokens_to_add(pair=True) == 3


def test_decode_matches_transformers(tok, hf):
    ids = hf(["Don't, he said. I'm fine!", "## ok [MASK] ?"], ["x y", "z"])["input_ids"]
    for skip in (False, True):
        for clean in (None, False, True):
            assert tok.batch_decode(ids, skip, clean) == hf.batch_decode(ids, skip_special_tokens=skip,
                                                                          clean_up_tokenization_spaces=clean)
    assert tok.decode(np.array(ids[0])) == hf.decode(ids[0])
    assert tok.batch_decode(np.array([ids[1][:5], ids[1][:5]])) == [hf.decode(ids[1][:5])] * 2
    assert tok.decode(2015) == hf.decode(2015) == "##s"
    assert tok.decode([7592, 30525, 2088]) == hf.decode([7592, 30525, 2088]) == "hello world"  # unknown id skipped


def test_model_inputs_as_numpy(tok, hf):
    """What the model code calls: a padded int64 batch with input_ids, token_type_ids and attention_mask."""
    texts = ["A short one.", "A somewhat longer sentence, with a comma.", ""]
    enc = tok(texts, padding=True, return_tensors="np")
    theirs = hf(texts, padding=True, return_tensors="np")
    assert list(enc) == ["input_ids", "token_type_ids", "attention_mask"] == list(theirs)
    for key in enc:
        assert enc[key].dtype == np.int64 and enc[key].shape == (3, 12)
        assert np.array_equal(enc[key], theirs[key])
    single = tok("one text", return_tensors="np")
    assert single.input_ids.shape == (1, 4) and single.input_ids.dtype == np.int64


def test_batch_encoding_is_a_dict_with_attribute_access(tok):
    enc = tok(["a b", "c"], padding=True)
    assert isinstance(enc, BatchEncoding) and isinstance(enc, dict)
    assert enc.input_ids is enc["input_ids"] and enc.attention_mask == [[1, 1, 1, 1], [1, 1, 1, 0]]
    with pytest.raises(AttributeError, match="offset_mapping"):
        enc.offset_mapping
    assert dict(**enc) == enc


def test_offsets_point_into_the_original_text(fast, hf):
    """REFERENCE §7.7 row 8's example, and texts whose normalisation changes lengths: a token covers the original
    characters from the one its first character came from to the one its last character came from (a dropped
    accent after the last kept character is outside)."""
    assert fast("The CAFÉ unaffable", return_offsets_mapping=True)["offset_mapping"] == \
        [(0, 0), (0, 3), (4, 8), (9, 12), (12, 15), (15, 18), (0, 0)]
    text = "Cafe\u0301s e\u0301te\u0301\u200b 中x[MASK]!"
    enc = fast(text, return_offsets_mapping=True)
    assert enc["offset_mapping"] == hf(text, return_offsets_mapping=True)["offset_mapping"]
    assert fast.convert_ids_to_tokens(enc["input_ids"]) == \
        ["[CLS]", "cafes", "et", "##e", "中", "x", "[MASK]", "!", "[SEP]"]
    assert [text[s:e] for s, e in enc["offset_mapping"]] == \
        ["", "Cafe\u0301s", "e\u0301t", "e", "中", "x", "[MASK]", "!", ""]


# ---- model_max_length ----

def test_model_max_length_is_512_by_default(tok, vocab_dir):
    """Our choice: truncation=True cuts at the model's 512 positions, as transformers v4 did. transformers v5 finds
    no tokenizer_config.json in the official repos and uses int(1e30): it does not cut, and the model then fails
    on position 512 (REFERENCE §7.5)."""
    text = "word " * 600
    assert tok.model_max_length == 512
    assert len(tok(text, truncation=True)["input_ids"]) == 512
    transformers = pytest.importorskip("transformers")
    hf_default = transformers.BertTokenizer.from_pretrained(str(vocab_dir))
    assert hf_default.model_max_length > 10 ** 20
    assert len(hf_default(text, truncation=True)["input_ids"]) == 602


# ---- loading and saving ----

@pytest.mark.parametrize("cls", CLASSES)
def test_from_pretrained_reads_vocab_and_config(tmp_path, cls, vocab_dir):
    """vocab.txt plus the settings of tokenizer_config.json (here a cased tokenizer), compared with transformers
    loading the same directory."""
    shutil.copy(vocab_dir / "vocab.txt", tmp_path / "vocab.txt")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"do_lower_case": False, "model_max_length": 128, "padding_side": "left",
         "mask_token": {"__type": "AddedToken", "content": "[MASK]", "special": True}}))
    ours = cls.from_pretrained(tmp_path)
    theirs = transformers_tokenizer(tmp_path, model_max_length=128)
    assert (ours.do_lower_case, ours.model_max_length, ours.padding_side) == (False, 128, "left")
    texts = ["The CAFÉ Über", "Hello World"]
    assert ours(texts, padding=True)["input_ids"] == theirs(texts, padding=True)["input_ids"]
    assert cls.from_pretrained(tmp_path, model_max_length=64).model_max_length == 64  # keywords win


@pytest.mark.parametrize("cls", CLASSES)
def test_loads_a_directory_saved_by_transformers(tmp_path, cls, hf):
    """transformers v5 saves tokenizer.json + tokenizer_config.json and no vocab.txt: the vocabulary comes from
    tokenizer.json (as v5 itself only takes the vocabulary from it, REFERENCE §7.1)."""
    hf.save_pretrained(tmp_path)
    assert not (tmp_path / "vocab.txt").exists()
    ours = cls.from_pretrained(tmp_path)
    assert ours.model_max_length == 512
    assert ours(SAMPLES)["input_ids"] == hf(SAMPLES)["input_ids"]


def test_save_pretrained_round_trip(tmp_path, tok):
    """Our files load back into our class and into transformers, with the same ids and settings."""
    paths = tok.save_pretrained(tmp_path)
    assert sorted(p.split("/")[-1] for p in paths) == ["tokenizer_config.json", "vocab.txt"]
    assert (tmp_path / "vocab.txt").read_bytes() == open(default_vocab_file(), "rb").read()
    again = type(tok).from_pretrained(tmp_path)
    assert again.get_vocab() == tok.get_vocab() and again.model_max_length == 512
    theirs = pytest.importorskip("transformers").BertTokenizer.from_pretrained(str(tmp_path))
    assert theirs.model_max_length == 512 and theirs.do_lower_case
    assert theirs(SAMPLES)["input_ids"] == tok(SAMPLES)["input_ids"]
    assert tok.save_vocabulary(tmp_path, filename_prefix="x") == (str(tmp_path / "x-vocab.txt"),)


@pytest.mark.parametrize("cls", CLASSES)
def test_tokenizer_json_wins_over_vocab_txt_as_in_transformers(tmp_path, cls, hf):
    """With both files (as in the official repos) transformers v5 takes the vocabulary of tokenizer.json; here
    the two disagree on purpose ("hello" and "world" swapped) to see which one is used."""
    hf.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = saved["model"]["vocab"]
    vocab["hello"], vocab["world"] = vocab["world"], vocab["hello"]
    (tmp_path / "tokenizer.json").write_text(json.dumps(saved), encoding="utf-8")
    shutil.copy(default_vocab_file(), tmp_path / "vocab.txt")
    theirs = transformers_tokenizer(tmp_path)("hello world")["input_ids"]
    assert cls.from_pretrained(tmp_path)("hello world")["input_ids"] == theirs == [101, 2088, 7592, 102]


def test_from_pretrained_without_vocabulary_fails(tmp_path):
    with pytest.raises(TokenizerError, match="neither vocab.txt nor tokenizer.json"):
        SqueezeBertTokenizerFast.from_pretrained(tmp_path)


# ---- bad input: a clear TokenizerError each ----

@pytest.mark.parametrize("args, message", [
    ((None,), "not None"), ((5,), "not int"), ((b"abc",), "decode bytes"), (({"a": 1},), "not dict"),
    ((["a", 5],), "batch item 1"), (([["a", "b", "c"]],), "batch item 0"), (([[["a"]]],), "batch item 0"),
    ((["a", None],), "batch item 1"), (("a", ["b"]), "text_pair must be a string"),
    ((["a"], "b"), "text_pair must be a list"), ((["a", "b"], ["c"]), "2 items but text_pair has 1"),
    ((["a"], [3]), "batch item 0"),
])
def test_malformed_input_is_rejected(tok, args, message):
    with pytest.raises(TokenizerError, match=message):
        tok(*args)


@pytest.mark.parametrize("options, message", [
    (dict(truncation=True, max_length=1), "smaller than the 2 special tokens"),
    (dict(text_pair="b", truncation=True, max_length=2), "smaller than the 3 special tokens"),
    (dict(padding="foo"), "padding='foo'"), (dict(truncation="bar"), "truncation='bar'"),
    (dict(return_tensors="pt"), "only 'np'"), (dict(max_length=-1), "max_length must be an int"),
    (dict(max_length=True), "max_length must be an int"), (dict(stride=-1), "stride must be an int"),
    (dict(pad_to_multiple_of=0), "pad_to_multiple_of"), (dict(padding_side="middle"), "padding_side"),
    (dict(truncation=True, max_length=8, stride=7), "stride=7 is too large"),
    (dict(truncation=True, max_length=10, padding=True, pad_to_multiple_of=4), "multiple of 4"),
    (dict(truncation="only_second", max_length=4), "needs a text_pair"),
    (dict(text_pair="b", truncation="only_first", max_length=4), "too few"),
])
def test_conflicting_or_invalid_options_are_rejected(tok, options, message):
    with pytest.raises(TokenizerError, match=message):
        tok("a b c d e f", **options)


def test_ragged_numpy_output_is_rejected(tok):
    """Pinned: transformers returns an object array here (or fails deep inside numpy); we say what to do."""
    with pytest.raises(TokenizerError, match="pass padding=True"):
        tok(["a b c", "d"], return_tensors="np")


def test_offsets_need_the_fast_tokenizer():
    """Pinned: the readable tokenizer tracks no character positions (transformers v4's Python tokenizers raised
    NotImplementedError, v5's BertTokenizerLegacy silently ignores the flag)."""
    with pytest.raises(TokenizerError, match="SqueezeBertTokenizerFast"):
        SqueezeBertTokenizer()("a", return_offsets_mapping=True)


@pytest.mark.parametrize("bad, message", [
    ([[[1, 2]]], "list of int"), ([[1], 2], "list of int"), ("abc", "list of int"), ([-1], ">= 0"),
    (np.zeros((2, 2, 2), dtype=np.int64), "list of int"), (np.array([1.5]), "integer array"), ([True], "list of int"),
    ([1.0], "list of int"), (None, "list of int"), ({"attention_mask": [1]}, "'input_ids' entry"),
])
def test_bad_ids_are_rejected(tok, bad, message):
    """A batch of id lists is not bad any more (transformers v5 decodes each row): see test_tokenization_api.py."""
    with pytest.raises(TokenizerError, match=message):
        tok.decode(bad)


def test_other_misuse_is_rejected(tok):
    with pytest.raises(TokenizerError, match="encode takes one string"):
        tok.encode(["a", "b"])
    with pytest.raises(TokenizerError, match="single id"):
        tok.batch_decode(np.int64(7592))
    with pytest.raises(TokenizerError, match="already has them"):
        tok.get_special_tokens_mask([1], [2], already_has_special_tokens=True)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("missing", [t for t in SPECIALS if t != "[UNK]"])
def test_special_token_missing_from_the_vocabulary_is_added(tmp_path, cls, missing):
    """As transformers does: a special token not in vocab.txt becomes an added token with the next id."""
    vocab_file = write_vocab(tmp_path / "vocab.txt", [t for t in SPECIALS if t != missing] + ["a", "b"])
    ours, theirs = cls(vocab_file), transformers_tokenizer(tmp_path)
    assert ours.convert_tokens_to_ids(missing) == theirs.convert_tokens_to_ids(missing) == 6
    assert len(ours) == len(theirs) == 7
    for text in ("a b", f"a {missing} b"):
        assert ours(text, "b", padding="max_length", max_length=9)["input_ids"] == \
            theirs(text, "b", padding="max_length", max_length=9)["input_ids"]


@pytest.mark.parametrize("cls", CLASSES)
def test_vocabulary_without_the_unknown_token_is_rejected(tmp_path, cls):
    """WordPiece needs [UNK] in the vocabulary itself (Rust fails on the first unknown word without it)."""
    vocab_file = write_vocab(tmp_path / "vocab.txt", [t for t in SPECIALS if t != "[UNK]"] + ["a", "b"])
    with pytest.raises(TokenizerError, match="lacks the unknown token"):
        cls(vocab_file)


@pytest.mark.parametrize("cls", CLASSES)
def test_vocabulary_with_a_duplicate_token_is_rejected(tmp_path, cls):
    vocab_file = write_vocab(tmp_path / "vocab.txt", SPECIALS + ["a", "b", "a"])
    with pytest.raises(TokenizerError, match="'a' appears twice \\(lines 6 and 8\\)"):
        cls(vocab_file)


def test_unreadable_vocabularies_are_rejected(tmp_path):
    (tmp_path / "vocab.txt").write_bytes(b"[PAD]\n\xff\xfe\n")
    with pytest.raises(TokenizerError, match="not UTF-8"):
        SqueezeBertTokenizer(tmp_path / "vocab.txt")
    with pytest.raises(TokenizerError, match="not both"):
        SqueezeBertTokenizer(default_vocab_file(), vocab={"[PAD]": 0})
    with pytest.raises(TokenizerError, match="must be a non-empty string"):
        SqueezeBertTokenizer(unk_token=None)


def test_errors_are_value_errors_of_the_package():
    assert issubclass(TokenizerError, ValueError) and issubclass(TokenizerError, SqueezeBertError)


# ---- pinned differences ----

def test_empty_text_pair_is_a_pair(tok, hf):
    """REFERENCE §7.7 row 10. Our choice: text_pair="" is a pair with an empty second sequence, [CLS] a [SEP] [SEP],
    for one example as for a batch. transformers 5.24 drops it for one example only (`if text_pair`), so its
    tok("a", "") and tok(["a"], [""]) disagree; we give the batch answer (also Rust's encode(("a", "")))."""
    ours = tok("a", "")
    assert ours["input_ids"] == [101, 1037, 102, 102] and ours["token_type_ids"] == [0, 0, 0, 1]
    assert hf("a", "")["input_ids"] == [101, 1037, 102]
    assert hf(["a"], [""])["input_ids"] == [ours["input_ids"]]


def test_an_empty_batch_gives_empty_fields(tok, hf):
    """Our choice: an empty batch is not an error (transformers fails with an IndexError)."""
    with pytest.raises(IndexError):
        hf([])
    assert tok([]) == {"input_ids": [], "token_type_ids": [], "attention_mask": []}
    assert tok([], padding=True, return_tensors="np")["input_ids"].shape == (0, 0)


def test_max_length_below_the_special_tokens_is_an_error(tok, hf):
    """Our choice: an error. transformers silently returns the sequence untruncated (longer than max_length)."""
    assert hf("a b c", truncation=True, max_length=1)["input_ids"] == [101, 1037, 1038, 1039, 102]
    with pytest.raises(TokenizerError):
        tok("a b c", truncation=True, max_length=1)


def test_lone_surrogates_are_dropped(tok, hf):
    """Rust strings cannot hold lone surrogates, so transformers fails on them; we drop them like the other
    category-C code points (as Python's BertTokenizer does)."""
    with pytest.raises(Exception):
        hf("a\ud800b")
    assert tok("a\ud800b") == tok("ab")


def test_where_the_python_tokenizer_differs_we_follow_rust(tok, hf, legacy):
    """REFERENCE §7.7: transformers' Python BertTokenizer(Legacy) disagrees with the Rust tokenizer that
    AutoTokenizer returns; for each row, Rust's answer is ours."""
    cases = {
        "x\u0378y": "row 1: unassigned code point, kept",
        "\U0002B820y": "row 2: CJK extension range, not split",
        "\u061Dx": "row 3: U+061D, punctuation only in Unicode 14",
        "ΟΔΟΣ": "row 4: final sigma, lower-cased per character",
    }
    for text, row in cases.items():
        assert tok.tokenize(text) == hf.tokenize(text), row
        assert legacy.tokenize(text) != hf.tokenize(text), row
    long_a, long_b = " ".join("abcdefghij"), " ".join("klmnopqrst")
    ours = tok(long_a, long_b, truncation=True, max_length=8)["input_ids"]  # row 6: odd token to the second
    assert ours == hf(long_a, long_b, truncation=True, max_length=8)["input_ids"] == \
        [101, 1037, 1038, 102, 1047, 1048, 1049, 102]
    assert legacy(long_a, long_b, truncation=True, max_length=8)["input_ids"] != ours
    with pytest.raises(TokenizerError):  # row 7: Rust raises, the Python tokenizer logs and returns it uncut
        tok("a b", long_b, truncation="only_first", max_length=8)
    ids = hf("don't,.!")["input_ids"]  # row 9: per-token cleanup by default
    assert tok.decode(ids) == hf.decode(ids) == "[CLS] don ' t,.! [SEP]" != legacy.decode(ids)


def test_pair_overflow_order_is_rusts(tok):
    """REFERENCE §7.5: 10 + 10 tokens, max_length=12, stride=1 -> 9 windows in Rust's merge order."""
    a, b = " ".join("abcdefghij"), " ".join("klmnopqrst")
    enc = tok(a, b, truncation=True, max_length=12, stride=1, return_overflowing_tokens=True)
    firsts = [(ids[1], ids[ids.index(102) + 1]) for ids in enc["input_ids"]]
    letters = [(chr(x - 1037 + ord("a")), chr(y - 1037 + ord("a"))) for x, y in firsts]
    assert letters == [("a", "k"), ("d", "k"), ("d", "o"), ("d", "s"), ("g", "k"), ("g", "o"), ("g", "s"),
                       ("a", "o"), ("a", "s")]
    assert enc["overflow_to_sample_mapping"] == [0] * 9


# ---- no quadratic time on huge inputs ----

HUGE = {
    "one giant word": lambda n: "a" * n,
    "many words": lambda n: " ".join(f"w{i}x" for i in range(n // 8)),
    "punctuation run": lambda n: "!?" * (n // 2),
    "whitespace run": lambda n: "x" + " \t\n" * (n // 3) + "y",
    "controls between letters": lambda n: "a\x00b\x1c" * (n // 4),
    "cjk": lambda n: "中文字" * (n // 3),
    "special tokens": lambda n: "[MASK]x" * (n // 7),
    "combining marks": lambda n: "e" + "\u0301" * n,
    "accented words": lambda n: " ".join(f"é{i}ü" for i in range(n // 8)),
}


def work(tokenizer, text):
    """One text with overflow windows, and a pair truncated (a pair's overflow is a cross product of windows,
    quadratic by definition, so it is left out)."""
    tokenizer(text, truncation=True, max_length=512, stride=128, return_overflowing_tokens=True)
    tokenizer(text, text, truncation=True, max_length=512)


def count_calls(function):
    """Python and C function calls made by function(): a deterministic measure of work."""
    calls = 0

    def profiler(frame, event, arg):
        nonlocal calls
        calls += event in ("call", "c_call")

    sys.setprofile(profiler)
    try:
        function()
    finally:
        sys.setprofile(None)
    return calls


@pytest.mark.parametrize("kind", list(HUGE))
@pytest.mark.parametrize("cls", CLASSES, ids=["slow", "fast"])
def test_doubling_a_huge_input_doubles_the_calls(cls, kind):
    """Linear, not quadratic, counted in function calls: twice the input makes at most ~2x the calls."""
    small, large = HUGE[kind](3_000), HUGE[kind](6_000)
    fresh_small, fresh_large = cls(), cls()  # empty caches for both
    calls_small = count_calls(lambda: work(fresh_small, small))
    calls_large = count_calls(lambda: work(fresh_large, large))
    assert calls_large <= 2.1 * calls_small + 200, (calls_small, calls_large)


@pytest.mark.parametrize("kind", ["one giant word", "many words", "controls between letters", "cjk"])
@pytest.mark.parametrize("cls", CLASSES, ids=["slow", "fast"])
def test_ten_times_the_input_takes_far_less_than_a_hundred_times_longer(cls, kind):
    """The same in time, with a generous bound that also catches quadratic work inside C calls (string
    concatenation in a loop, say): 10x the input may take 30x the time; quadratic would be 100x."""
    tokenizer = cls()
    small, large = HUGE[kind](5_000), HUGE[kind](50_000)
    seconds = []
    for text, repeat in ((small, 3), (large, 1)):
        best = float("inf")
        for _ in range(repeat):
            start = time.process_time()
            work(tokenizer, text)
            best = min(best, time.process_time() - start)
        seconds.append(best)
    assert seconds[1] < 30 * seconds[0] + 0.1, seconds


# ---- loading by repo id (tests/fakehub.py: a local fake of the hub) ----

def test_from_pretrained_by_repo_id(tmp_path, monkeypatch):
    """The official repos hold vocab.txt and tokenizer.json but no tokenizer_config.json: the files come through
    the hub client into the cache, the missing config is not an error, and our defaults apply."""
    fakehub = pytest.importorskip("fakehub")
    vocab = open(default_vocab_file(), "rb").read()
    repos = {"squeezebert/squeezebert-uncased": {"main": {"vocab.txt": vocab, "config.json": b"{}"}}}
    with fakehub.FakeHub(repos=repos) as hub:
        for name, value in hub.env_vars(tmp_path / "cache").items():
            monkeypatch.setenv(name, value)
        tok = SqueezeBertTokenizerFast.from_pretrained("squeezebert/squeezebert-uncased")
        assert tok.model_max_length == 512 and len(tok) == 30522
        assert tok("Hello world")["input_ids"] == [101, 7592, 2088, 102]
        offline = SqueezeBertTokenizer.from_pretrained("squeezebert/squeezebert-uncased", local_files_only=True)
        assert offline("Hello world")["input_ids"] == [101, 7592, 2088, 102]
