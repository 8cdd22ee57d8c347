"""The edges of the transformers-style call API (tokenization_base.py), each compared with transformers 5.24's
`BertTokenizer` where it is the reference: torch and NumPy inputs, the too-long warning, `truncation_side`, the
types of flags and strategies, the shapes `decode` and `batch_decode` take, and options we do not implement.
"""
import json
import logging
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenizer_reference import plain, transformers_tokenizer
from squeezebert_np.errors import TokenizerError
from squeezebert_np.tokenization import SqueezeBertTokenizer
from squeezebert_np.tokenization_base import default_vocab_file, truncation_windows
from squeezebert_np.tokenization_fast import SqueezeBertTokenizerFast

CLASSES = [SqueezeBertTokenizer, SqueezeBertTokenizerFast]
IDS = [101, 7592, 2088, 102]  # [CLS] hello world [SEP]


@pytest.fixture(scope="module", params=CLASSES, ids=["slow", "fast"])
def tok(request):
    return request.param()


def outcome(call):
    """What a call gives: its value, or the name of the exception it raises."""
    try:
        return call()
    except Exception as e:
        return type(e).__name__


# ---- 1. torch tensors as ids ----

def test_torch_tensors_decode_as_in_transformers(tok, hf):
    torch = pytest.importorskip("torch")
    ids = torch.tensor(IDS)
    assert tok.decode(ids) == hf.decode(ids) == "[CLS] hello world [SEP]"
    assert tok.decode(ids[1]) == hf.decode(ids[1]) == "hello"
    assert tok.decode(list(ids)) == hf.decode(list(ids))  # a list of 0-d tensors
    assert tok.batch_decode(ids[None]) == hf.batch_decode(ids[None])
    assert tok.batch_decode(torch.stack([ids, ids])) == hf.batch_decode(torch.stack([ids, ids]))
    assert tok.batch_decode([ids, ids[:2]]) == hf.batch_decode([ids, ids[:2]])
    assert tok.convert_ids_to_tokens(ids) == hf.convert_ids_to_tokens(ids)
    assert tok.convert_ids_to_tokens(ids.to(torch.int32), skip_special_tokens=True) == ["hello", "world"]
    assert tok.convert_ids_to_tokens(ids[1]) == "hello"  # transformers fails on a 0-d tensor; NumPy's works
    assert tok.get_special_tokens_mask(ids, already_has_special_tokens=True) == [1, 0, 0, 1]
    for bad in (torch.tensor([1.0, 2.0]), torch.tensor([True]), torch.zeros(1, 1, 2, dtype=torch.int64)):
        assert outcome(lambda: hf.decode(bad)) in ("TypeError", "[unused0]")  # bools count as 1 there
        with pytest.raises(TokenizerError):
            tok.decode(bad)


def test_the_package_does_not_import_torch():
    code = ("import sys, squeezebert_np\n"
            "from squeezebert_np.tokenization_fast import SqueezeBertTokenizerFast\n"
            "tok = SqueezeBertTokenizerFast()\n"
            "assert tok.decode(tok('hello world')) == '[CLS] hello world [SEP]'\n"
            "assert 'torch' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ---- 2. NumPy integers as lengths ----

@pytest.mark.parametrize("options", [
    dict(max_length=np.int64(6), truncation=True, padding="max_length"),
    dict(padding=True, pad_to_multiple_of=np.int64(8)),
    dict(max_length=np.int32(6), truncation=True, stride=np.int64(1), return_overflowing_tokens=True),
    dict(max_length=np.uint8(5)),
])
def test_numpy_integers_are_accepted_as_in_transformers(tok, hf, options):
    texts = ["a b c d e f g h", "x y"]
    assert tok(texts, **options) == hf(texts, **options)


def test_numpy_model_max_length_is_stored_as_an_int():
    tok = SqueezeBertTokenizerFast(model_max_length=np.int64(8))
    assert tok.model_max_length == 8 and type(tok.model_max_length) is int
    assert len(tok("a " * 20, truncation=True)["input_ids"]) == 8


@pytest.mark.parametrize("name, value", [("max_length", np.float64(5)), ("max_length", 5.0), ("stride", True),
                                         ("pad_to_multiple_of", np.bool_(True)), ("max_length", "5")])
def test_non_integral_lengths_are_rejected(tok, name, value):
    with pytest.raises(TokenizerError, match=f"{name} must be an int"):
        tok("a b c", **{name: value})


# ---- 3. the warning about sequences longer than model_max_length ----

WARNING = ("Token indices sequence length is longer than the specified maximum sequence length for this model "
           "({} > 512). Running this sequence through the model will result in indexing errors")


@pytest.fixture
def transformers_warnings():
    """The messages transformers' tokenizer logs, whatever verbosity other tests left set."""
    transformers = pytest.importorskip("transformers")
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())
    logger = logging.getLogger("transformers.tokenization_utils_base")
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_warning()
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)
    transformers.logging.set_verbosity(verbosity)


def our_warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "squeezebert_np"]


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("texts, options, length", [
    ("word " * 600, {}, 602),
    (["a", "word " * 520, "word " * 530], {}, 522),                      # the first too-long one is named
    ("word " * 510, dict(padding=True, pad_to_multiple_of=10), 520),     # 512 tokens, padded to 520
    ("word " * 600, dict(truncation=True), None),                        # cut to 512
    ("word " * 600, dict(max_length=600, truncation=False), None),       # a max_length, even unused
    ("word " * 600, dict(padding="max_length"), None),                   # padding to max_length cuts nothing
    ("word " * 600, dict(verbose=False), None),
    ("word " * 510, {}, None),                                           # exactly 512
])
def test_too_long_warning_as_in_transformers(vocab_dir, caplog, transformers_warnings, cls, texts, options, length):
    hf = transformers_tokenizer(vocab_dir)  # new tokenizers: the warning comes once per tokenizer
    tok = cls()
    hf(texts, **options)
    with caplog.at_level(logging.WARNING, logger="squeezebert_np"):
        tok(texts, **options)
    assert our_warnings(caplog) == transformers_warnings == ([] if length is None else [WARNING.format(length)])


def test_too_long_warning_comes_once_per_tokenizer(caplog):
    first, second = SqueezeBertTokenizerFast(), SqueezeBertTokenizerFast()
    with caplog.at_level(logging.WARNING, logger="squeezebert_np"):
        first("word " * 600, verbose=False)  # a silenced call does not use up the warning
        first("word " * 600)
        first("word " * 700)
        first.encode("word " * 800)
        second("word " * 600)
    assert our_warnings(caplog) == [WARNING.format(602)] * 2


# ---- 4. truncation_side ----

@pytest.mark.parametrize("cls", CLASSES)
def test_truncation_side_of_a_folder_saved_by_transformers(tmp_path, vocab_dir, cls):
    transformers_tokenizer(vocab_dir, truncation_side="left").save_pretrained(tmp_path)
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["truncation_side"] == "left"
    theirs = pytest.importorskip("transformers").AutoTokenizer.from_pretrained(str(tmp_path))
    ours = cls.from_pretrained(tmp_path)
    assert ours.truncation_side == "left"
    text = "one two three four five six"
    assert ours(text, truncation=True, max_length=5)["input_ids"] == \
        theirs(text, truncation=True, max_length=5)["input_ids"] == [101, 2176, 2274, 2416, 102]


def test_truncation_side_is_saved_and_read_back(tmp_path):
    SqueezeBertTokenizerFast(truncation_side="left").save_pretrained(tmp_path)
    assert SqueezeBertTokenizer.from_pretrained(tmp_path).truncation_side == "left"
    theirs = pytest.importorskip("transformers").BertTokenizer.from_pretrained(str(tmp_path))
    assert theirs.truncation_side == "left"


def test_a_bad_truncation_side_is_rejected(tok):
    with pytest.raises(TokenizerError, match="truncation_side must be 'right' or 'left'"):
        type(tok)(truncation_side="middle")
    changed = type(tok)()
    changed.truncation_side = "middle"  # transformers users set the attribute
    with pytest.raises(TokenizerError, match="truncation_side"):
        changed("a b c", truncation=True, max_length=3)


def test_left_truncation_windows():
    assert truncation_windows(10, 4, 1, "left") == [(6, 10), (3, 7), (0, 4)]
    assert truncation_windows(9, 4, 1, "left") == [(5, 9), (2, 6), (0, 3)]
    assert truncation_windows(3, 4, 1, "left") == [(0, 3)]
    assert truncation_windows(3, 0, 0, "left") == [(0, 0), (0, 3)]


@pytest.fixture(scope="module")
def hf_left(vocab_dir):
    return transformers_tokenizer(vocab_dir, truncation_side="left")


@pytest.fixture(scope="module")
def left_tokenizers():
    return [cls(truncation_side="left") for cls in CLASSES]


WORDS = ["a", "b", "hello", "world", "unaffable", "[MASK]", "!", "中文", "é"]
sequences = st.lists(st.sampled_from(WORDS), max_size=14).map(" ".join)


@pytest.mark.filterwarnings("ignore:`max_length` is ignored")   # transformers' own note on padding=True + max_length
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(st.one_of(sequences, st.tuples(sequences, sequences)), min_size=1, max_size=3),
       truncation=st.sampled_from([None, True, "longest_first", "only_first", "only_second"]),
       max_length=st.integers(0, 20), stride=st.integers(0, 6), overflow=st.booleans(), special=st.booleans(),
       padding=st.sampled_from([False, True, "max_length"]))
def test_left_truncation_matches_transformers(hf_left, left_tokenizers, batch, truncation, max_length, stride,
                                              overflow, special, padding):
    """Pairs, strategies, stride, overflowing windows and their order, with truncation_side="left": our output
    equals transformers' (or both refuse)."""
    options = dict(truncation=truncation, max_length=max_length, stride=stride, padding=padding,
                   return_overflowing_tokens=overflow, add_special_tokens=special, return_special_tokens_mask=True)
    n_special = max((3 if isinstance(x, tuple) else 2) if special else 0 for x in batch)
    truncating = truncation is not None or padding is False
    for ours in left_tokenizers:
        try:
            theirs = hf_left(batch, **options)
        except BaseException as e:  # Rust errors arrive as Exception, Rust panics as pyo3's PanicException
            if not isinstance(e, Exception) and type(e).__name__ != "PanicException":
                raise
            with pytest.raises(TokenizerError):
                ours(batch, **options)
            continue
        if truncating and max_length < n_special:  # pinned in test_tokenization.py: transformers ignores it
            with pytest.raises(TokenizerError, match="smaller than the"):
                ours(batch, **options)
            continue
        assert {k: plain(v) for k, v in ours(batch, **options).items()} == {k: plain(v) for k, v in theirs.items()}


def test_left_truncation_of_a_pair_with_overflow(tok, hf_left):
    """REFERENCE §7.5's example (10 + 10 tokens, max_length=12, stride=1), truncated on the left."""
    a, b = " ".join("abcdefghij"), " ".join("klmnopqrst")
    ours = type(tok)(truncation_side="left")
    options = dict(truncation=True, max_length=12, stride=1, return_overflowing_tokens=True)
    assert ours(a, b, **options) == hf_left(a, b, **options)
    assert ours.decode(ours(a, b, **options)["input_ids"][0]) == "[CLS] g h i j [SEP] p q r s t [SEP]"


# ---- 5. padding and truncation values ----

@pytest.mark.parametrize("options", [dict(padding=None), dict(padding=0), dict(padding=1), dict(padding="foo"),
                                     dict(padding=np.bool_(True)), dict(truncation=0), dict(truncation=1),
                                     dict(truncation="foo"), dict(truncation=np.bool_(True))])
def test_padding_and_truncation_must_be_a_bool_or_a_strategy(tok, hf, options):
    with pytest.raises(ValueError, match="is not a valid"):
        hf("a b c d e f g h", max_length=5, **options)
    name = next(iter(options))
    with pytest.raises(TokenizerError, match=f"{name}={options[name]!r} is not one of"):
        tok("a b c d e f g h", max_length=5, **options)


def test_max_length_alone_still_truncates(tok, hf):
    for options in (dict(max_length=5), dict(max_length=5, padding=False), dict(max_length=5, truncation=None)):
        assert tok("a b c d e f g h", **options) == hf("a b c d e f g h", **options)


# ---- 6. boolean flags ----

@pytest.mark.parametrize("value", [None, 0, 1, "no", []])
def test_add_special_tokens_must_be_a_bool(tok, hf, value):
    with pytest.raises(TypeError):
        hf("a b", add_special_tokens=value)
    with pytest.raises(TokenizerError, match="add_special_tokens must be True or False"):
        tok("a b", add_special_tokens=value)
    with pytest.raises(TokenizerError, match="add_special_tokens"):
        tok.encode("a b", add_special_tokens=value)


def test_numpy_bools_are_bools(tok, hf):
    options = dict(add_special_tokens=np.False_, return_token_type_ids=np.False_, return_length=np.True_)
    assert tok("a b", **options) == hf("a b", add_special_tokens=False, return_token_type_ids=False,
                                       return_length=True)


@pytest.mark.parametrize("name", ["return_overflowing_tokens", "return_special_tokens_mask",
                                  "return_offsets_mapping", "return_length", "verbose", "is_split_into_words"])
@pytest.mark.parametrize("value", [None, "yes", 1])
def test_return_flags_must_be_bools(tok, name, value):
    """Our choice: a bool, as transformers' signature says (at run time it takes any truth value for these)."""
    with pytest.raises(TokenizerError, match=f"{name} must be True or False"):
        tok("a b", **{name: value})


@pytest.mark.parametrize("name", ["return_token_type_ids", "return_attention_mask", "split_special_tokens"])
def test_flags_where_none_means_the_default(tok, hf, name):
    assert tok("a b", **{name: None}) == hf("a b", **{name: None})
    with pytest.raises(TokenizerError, match=f"{name} must be True, False or None"):
        tok("a b", **{name: 0})


def test_decode_flags_must_be_bools(tok, hf):
    for value in (None, "x"):
        with pytest.raises(TypeError):
            hf.decode(IDS, skip_special_tokens=value)
        with pytest.raises(TokenizerError, match="skip_special_tokens must be True or False"):
            tok.decode(IDS, skip_special_tokens=value)
        with pytest.raises(TokenizerError, match="skip_special_tokens"):
            tok.batch_decode([IDS], skip_special_tokens=value)
        with pytest.raises(TokenizerError, match="skip_special_tokens"):
            tok.convert_ids_to_tokens(IDS, skip_special_tokens=value)
    with pytest.raises(TokenizerError, match="clean_up_tokenization_spaces must be True, False or None"):
        tok.decode(IDS, clean_up_tokenization_spaces="x")


# ---- 7. the shapes decode and batch_decode take, and token -> id conversion ----

def test_decode_shapes_match_transformers_v5(tok, hf):
    torch = pytest.importorskip("torch")
    batch = [[101, 7592], [101, 2088]]
    cases = [
        lambda t: t.batch_decode(IDS),                  # one sequence: decoded as one text
        lambda t: t.batch_decode(tuple(IDS)),
        lambda t: t.batch_decode(np.array(IDS)),
        lambda t: t.batch_decode(torch.tensor(IDS)),
        lambda t: t.batch_decode([]),
        lambda t: t.batch_decode([[]]),
        lambda t: t.decode(batch),                      # a batch: a list of texts
        lambda t: t.decode(np.array(batch)),
        lambda t: t.decode(torch.tensor(batch)),
        lambda t: t.decode([[]]),
        lambda t: t.decode([]),
        lambda t: t.decode([np.int64(7592), np.uint16(2088)]),
        lambda t: t.decode(np.array(IDS, dtype=np.uint16)),
    ]
    for case in cases:
        assert case(tok) == case(hf)


def test_decode_takes_a_batch_encoding(tok, hf):
    assert tok.decode(tok("hello world")) == hf.decode(hf("hello world")) == "[CLS] hello world [SEP]"
    assert tok.decode(dict(tok("hello world"))) == hf.decode(dict(hf("hello world")))
    assert tok.batch_decode(tok("hello world")) == hf.batch_decode(hf("hello world"))
    # Our choice where transformers fails (it reads the batch's rows as ids): decode each row
    assert tok.batch_decode(tok(["hello", "world"])) == ["[CLS] hello [SEP]", "[CLS] world [SEP]"]
    assert tok.decode(tok(["hello", "world"], return_tensors="np")) == ["[CLS] hello [SEP]", "[CLS] world [SEP]"]


@pytest.mark.parametrize("bad", [[[101], 7592], [7592, [101]], [[[101, 102]]], np.zeros((1, 1, 2), np.int64), 5,
                                 "abc", (x for x in [IDS])])
def test_batch_decode_rejects_what_is_not_one_or_more_sequences(tok, bad):
    """transformers fails with a TypeError or, for [[101], 7592], returns a list of single tokens."""
    with pytest.raises(TokenizerError):
        tok.batch_decode(bad)


def test_convert_ids_to_tokens_takes_one_sequence(tok):
    with pytest.raises(TokenizerError, match="not a batch"):
        tok.convert_ids_to_tokens([IDS])
    assert tok.convert_ids_to_tokens(np.int64(7592)) == "hello"


@pytest.mark.parametrize("tokens", [[5], ["hello", None], None, 7, [["hello"]], b"hello", 1.5])
def test_convert_tokens_to_ids_needs_strings(tok, hf, tokens):
    with pytest.raises(TypeError):
        hf.convert_tokens_to_ids(tokens)
    with pytest.raises(TokenizerError, match="string"):
        tok.convert_tokens_to_ids(tokens)


def test_convert_tokens_to_ids_takes_any_iterable_of_strings(tok, hf):
    for tokens in [("hello", "x"), np.array(["hello", "x"]), (), ["[MASK]", "no-such-token"]]:
        assert tok.convert_tokens_to_ids(tokens) == hf.convert_tokens_to_ids(tokens)
    assert tok.convert_tokens_to_ids(t for t in ["hello"]) == [7592]


# ---- 8. vocab_file must be a path ----

@pytest.mark.parametrize("cls", CLASSES)
def test_an_int_vocab_file_is_not_taken_as_a_file_descriptor(tmp_path, cls):
    fd = os.open(default_vocab_file(), os.O_RDONLY)
    try:
        for bad in (fd, 0, 1.5, b"vocab.txt", ["vocab.txt"]):
            with pytest.raises(TokenizerError, match="vocab_file must be a path"):
                cls(vocab_file=bad)
        os.fstat(fd)  # still open
        assert os.lseek(fd, 0, os.SEEK_CUR) == 0  # and not read
    finally:
        os.close(fd)
    shutil.copy(default_vocab_file(), tmp_path / "vocab.txt")
    assert cls(vocab_file=tmp_path / "vocab.txt").vocab_size == 30522  # os.PathLike is fine


@pytest.mark.parametrize("cls", CLASSES)
def test_a_missing_vocabulary_names_the_path(tmp_path, cls):
    for path in (tmp_path / "missing.txt", tmp_path, str(tmp_path / "missing.txt")):
        with pytest.raises(TokenizerError, match=f"vocabulary file {path} cannot be read"):
            cls(vocab_file=path)


# ---- 9. transformers options we do not implement ----

@pytest.mark.parametrize("options", [dict(is_split_into_words=False), dict(verbose=False), dict(verbose=True),
                                     dict(split_special_tokens=False), dict(split_special_tokens=None),
                                     dict(text_target=None), dict(text_pair_target=None)])
def test_options_that_change_nothing_are_accepted(tok, hf, options):
    text = "a [MASK] b"
    assert tok(text, **options) == hf(text, **options)
    assert tok.encode(text, **options) == hf.encode(text, **options)


@pytest.mark.parametrize("options, message", [
    # supported, but it takes a list of words, not a string (transformers: Rust's TypeError)
    (dict(is_split_into_words=True), "with is_split_into_words=True, text must be a list of words"),
    (dict(split_special_tokens=True), "split_special_tokens=True is not supported"),
    (dict(text_target="x"), "text_target is not supported"),
    (dict(text_pair_target="x"), "text_pair_target is not supported"),
    (dict(tokenizer_kwargs={"padding": True}), "tokenizer_kwargs is not supported"),
    (dict(return_tensors="pt"), "return_tensors='pt' is not supported"),
    (dict(return_tensors="tf"), "return_tensors='tf' is not supported"),
    (dict(return_tensors="mlx"), "return_tensors='mlx' is not supported"),
    (dict(no_such_option=1), "unknown keyword argument no_such_option=1"),
])
def test_unsupported_options_say_so(tok, options, message):
    with pytest.raises(TokenizerError, match=message):
        tok("a b", **options)
    with pytest.raises(TokenizerError, match=message):
        tok.encode("a b", **options)
