"""Pre-split words (`is_split_into_words=True`) and the per-token maps of a BatchEncoding (`word_ids`,
`sequence_ids`, `tokens`), compared with transformers 5.24's Rust-backed `BertTokenizer` (the `hf` fixture): hand-picked
edge cases, then hypothesis-generated word lists, texts, batches, pairs and call options. Both of our tokenizers are
checked against it (the readable one has no offsets) and against each other.
"""
import os
import pickle
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tokenizer_reference import call_both, plain
from squeezebert_np.errors import TokenizerError
from squeezebert_np.tokenization import SqueezeBertTokenizer
from squeezebert_np.tokenization_base import BatchEncoding
from squeezebert_np.tokenization_fast import SqueezeBertTokenizerFast

pytest.importorskip("transformers")
pytestmark = pytest.mark.filterwarnings("ignore:`max_length` is ignored")  # transformers' note on padding=True

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = dict(is_split_into_words=True)
ALL_FIELDS = dict(return_special_tokens_mask=True, return_offsets_mapping=True)


@pytest.fixture(params=["slow", "fast"])
def tok(request, slow, fast):
    return {"slow": slow, "fast": fast}[request.param]


def maps(enc, n_rows):
    """word_ids, sequence_ids and tokens of every row."""
    return [(enc.word_ids(i), enc.sequence_ids(i), enc.tokens(i)) for i in range(n_rows)]


def fields(enc, without=()):
    return {key: plain(value) for key, value in enc.items() if key not in without}


def assert_like_transformers(tok, hf, args, options):
    """Our BatchEncoding (its fields and its per-row maps) equals transformers', or both refuse the input."""
    with_offsets = isinstance(tok, SqueezeBertTokenizerFast)
    ours_options = options if with_offsets else {k: v for k, v in options.items() if k != "return_offsets_mapping"}
    try:
        ours, theirs = call_both(tok, hf, args, options, ours_options)
    except TokenizerError as e:  # pinned in test_tokenization_api.py: ragged NumPy output is our error
        assert options.get("return_tensors") == "np" and "equal lengths" in str(e)
        return
    if theirs is None:                                       # both refused
        return
    assert fields(ours) == fields(theirs, () if with_offsets else ("offset_mapping",))
    assert maps(ours, len(theirs.encodings)) == maps(theirs, len(theirs.encodings))


# ---- 1. hand-picked edge cases ----

EDGE_CASES = {
    "words": (["Hello", "world!"],),
    "tuple of words": (("Hello", "world!"),),
    "no words": ([],),
    "batch of no words": ([[]],),
    "batch with an empty item": ([[], ["a"]],),
    "empty and whitespace words": (["", " ", "a", "\t\n", "b", "\u3000"],),
    "words with spaces inside": (["new york", " san  francisco "],),
    "punctuation inside words": (["don't", "U.S.A.", "(x)", "--"],),
    "CJK and accents": (["中文", "Café", "résumé", "e\u0301", "ΟΔΟΣ", "한국어"],),
    "literal special tokens": (["[MASK]", "a[SEP]b", "[mask]", "[CLS]", "[PAD]x"],),
    "dropped characters": (["\x00", "\u200b", "a", "\x1c", "ab\x1ccd", "\ufffd"],),
    "a word too long for WordPiece": (["a" * 101, "b" * 100],),
    "pair": (["a", "b"], ["c", "d"]),
    "pair with empty first": ([], ["a"]),
    "batch of pairs": ([["a", "b"], ["c"]], [["d"], ["e", "f g"]]),
    "pairs as batch items": ([(["a"], ["b", "c"]), ["d"], [["e"], []]],),
    "batch of pairs, empty second": ([["a"]], [[]]),
}


@pytest.mark.parametrize("args", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_pre_split_edge_cases_match_transformers(tok, hf, args):
    assert_like_transformers(tok, hf, args, dict(WORDS, **ALL_FIELDS))


def test_word_offsets_are_relative_to_each_word(fast, hf):
    """Rust's answer, spelled out: each token's span is in its own word, not in a joined text."""
    enc = fast(["new york", "Café!"], is_split_into_words=True, return_offsets_mapping=True)
    assert enc.offset_mapping == [(0, 0), (0, 3), (4, 8), (0, 4), (4, 5), (0, 0)]
    assert enc.word_ids() == [None, 0, 0, 1, 1, None]
    assert enc.offset_mapping == hf(["new york", "Café!"], is_split_into_words=True,
                                    return_offsets_mapping=True).offset_mapping


def test_empty_and_whitespace_words_keep_their_index(tok, hf):
    """A word that gives no token still counts: the next word's id skips it, as in transformers."""
    words = ["", "a", " ", "b"]
    assert tok(words, is_split_into_words=True).word_ids() == [None, 1, 3, None]
    assert hf(words, is_split_into_words=True).word_ids() == [None, 1, 3, None]


WINDOW_OPTIONS = {
    "truncation, stride, overflow": dict(truncation=True, max_length=9, stride=1, return_overflowing_tokens=True),
    "overflow, left padding": dict(truncation=True, max_length=7, return_overflowing_tokens=True, padding=True,
                                   padding_side="left"),
    "only_second with overflow": dict(truncation="only_second", max_length=8, stride=2,
                                      return_overflowing_tokens=True),
    "max_length padding, numpy": dict(padding="max_length", max_length=16, return_tensors="np"),
    "left padding, numpy, no specials": dict(padding=True, padding_side="left", return_tensors="np",
                                             add_special_tokens=False),
    "pad to a multiple": dict(padding=True, pad_to_multiple_of=8),
}
WORD_BATCH = ([["Unaffable", "words", "here!"], ["a"], ["中文", "[MASK]", "x y z"]],
              [["b", "c", "d e f"], ["hello", "world"], []])
TEXT_BATCH = (["Unaffable words here!", "a", "中文 [MASK] x y z"], ["b c d e f", "hello world", ""])


@pytest.mark.parametrize("options", WINDOW_OPTIONS.values(), ids=WINDOW_OPTIONS.keys())
@pytest.mark.parametrize("split", [True, False], ids=["words", "text"])
def test_word_ids_follow_truncation_overflow_and_padding(tok, hf, options, split):
    args = WORD_BATCH if split else TEXT_BATCH
    assert_like_transformers(tok, hf, args, dict(options, is_split_into_words=split, **ALL_FIELDS))


def test_word_ids_are_none_on_the_pads_of_the_padding_side(tok):
    enc = tok([["a", "b"], ["c"]], is_split_into_words=True, padding=True, padding_side="left", return_tensors="np")
    assert enc.word_ids(1) == [None, None, 0, None] and enc.sequence_ids(1) == [None, None, 0, None]
    assert enc.tokens(1) == ["[PAD]", "[CLS]", "c", "[SEP]"]
    enc = tok([["a", "b"], ["c"]], is_split_into_words=True, padding=True)
    assert enc.word_ids(1) == [None, 0, None, None]


PLAIN_TEXTS = {
    "punctuation": ("Hello, world!! It's 3.5",),
    "literal special tokens": ("hello [MASK]!!x[SEP]y [mask]",),
    "dropped characters": ("a\x00[MASK]\x00b c\u200b \x1c, ab\x1ccd",),
    "CJK, accents, full-width": ("中文ok Café ａ，ｂ ΟΔΟΣ",),
    "pair": ("New York is big.", "Is it?"),
    "nothing left": ("\x00 \u200b",),
    "batch": (["one two", "", "[CLS] three"],),
}


@pytest.mark.parametrize("args", PLAIN_TEXTS.values(), ids=PLAIN_TEXTS.keys())
def test_word_ids_of_plain_text_are_the_pre_tokenizer_words(tok, hf, args):
    assert_like_transformers(tok, hf, args, dict(ALL_FIELDS))


def test_plain_text_word_ids_count_punctuation_and_special_tokens(tok):
    assert tok("hello, [MASK]!x").word_ids() == [None, 0, 1, 2, 3, 4, None]


# ---- 2. inputs: what is refused, and our one deliberate difference ----

BAD_INPUTS = {
    "a string": ("a b",),
    "a non-string word": (["a", 1],),
    "a word list in a word list": (["a", ["b"]],),
    "a mixed batch": ([["a"], "b"],),
    "a string as pair": (["a", "b"], "c d"),
    "a batch with one word list as pair": ([["a"], ["b"]], ["c", "d"]),
    "a batch with a shorter pair list": ([["a"], ["b"]], [["c"]]),
    "a batch item of three word lists": ([[["a"], ["b"], ["c"]]],),
    "None": (None,),
}


@pytest.mark.parametrize("args", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_word_inputs_are_refused_like_transformers(tok, hf, args):
    with pytest.raises(Exception):
        hf(*args, is_split_into_words=True)
    with pytest.raises(TokenizerError, match="is_split_into_words=True|text_pair must be"):
        tok(*args, is_split_into_words=True)


def test_an_empty_word_list_as_pair_is_a_pair(tok, hf):
    """Our choice (as for text_pair=""): a pair. transformers drops a falsy text_pair of one input, but keeps the
    same empty pair inside a batch; we give that batch answer for the single input too."""
    ours = tok(["a"], [], is_split_into_words=True)
    assert ours.input_ids == [101, 1037, 102, 102] and ours.sequence_ids() == [None, 0, None, None]
    theirs = hf([["a"]], [[]], is_split_into_words=True)
    assert ours.input_ids == theirs.input_ids[0] and ours.word_ids() == theirs.word_ids(0)
    assert hf(["a"], [], is_split_into_words=True).input_ids == [101, 1037, 102]


def test_encode_takes_one_word_list(tok, hf):
    words = ["Unaffable", "[MASK]", "!"]
    assert tok.encode(words, is_split_into_words=True) == hf.encode(words, is_split_into_words=True)
    assert tok.encode(words, ["x"], is_split_into_words=True) == hf.encode(words, ["x"], is_split_into_words=True)
    with pytest.raises(TokenizerError, match="encode takes one list of words"):
        tok.encode([words, words], is_split_into_words=True)
    with pytest.raises(TokenizerError, match="encode takes one string"):
        tok.encode(words)


def test_batch_index_is_checked(tok, hf):
    enc, theirs = tok([["a"], ["b", "c"]], is_split_into_words=True), hf([["a"], ["b", "c"]], is_split_into_words=True)
    assert enc.word_ids(-1) == theirs.word_ids(-1) == [None, 0, 1, None]   # a list's negative index, as there
    for bad in (2, -3):
        with pytest.raises(IndexError):
            theirs.word_ids(bad)
        with pytest.raises(TokenizerError, match=rf"batch_index must be an int in \[-2, 2\) .* got {bad}"):
            enc.word_ids(bad)
    for bad in (0.0, True, None):
        with pytest.raises(TokenizerError, match="batch_index must be an int"):
            enc.sequence_ids(bad)


def test_maps_need_the_tokenizer_output(tok):
    """transformers raises ValueError for a BatchEncoding without encodings; ours is a TokenizerError."""
    made_by_hand = BatchEncoding({"input_ids": [[101, 102]]})
    for method in (made_by_hand.word_ids, made_by_hand.sequence_ids, made_by_hand.tokens):
        with pytest.raises(TokenizerError, match="needs the BatchEncoding a tokenizer call returned"):
            method()
    assert tok("a").tokens() == ["[CLS]", "a", "[SEP]"]


def test_pickled_output_keeps_its_maps_but_not_the_tokenizer(tok):
    enc = tok([["a", "b c"], ["d"]], [["e"]] * 2, is_split_into_words=True, padding=True, return_tensors="np")
    copy = pickle.loads(pickle.dumps(enc))
    assert maps(copy, 2) == maps(enc, 2) and fields(copy) == fields(enc)
    assert len(pickle.dumps(enc)) < 10_000  # the vocabulary alone would be hundreds of kB


def test_word_ids_are_computed_only_when_asked(monkeypatch):
    """The call itself never looks at words (so it costs nothing without word_ids), and it is the tokenizer's
    word splitting that word_ids uses."""
    for cls in (SqueezeBertTokenizer, SqueezeBertTokenizerFast):
        tok = cls()

        def refuse(text):
            raise RuntimeError("word lengths asked for")

        monkeypatch.setattr(tok, "_word_lengths", refuse)
        enc = tok(["hello, world", "a b"], padding=True, return_tensors="np")
        assert enc.tokens(1) == ["[CLS]", "a", "b", "[SEP]", "[PAD]"]
        with pytest.raises(RuntimeError, match="word lengths asked for"):
            enc.word_ids(0)


def test_readme_label_alignment_example(hf):
    """The token-classification snippet of the README runs and gives the labels its comment shows."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "word_ids" in b)
    namespace = {"tok": SqueezeBertTokenizerFast()}
    exec(block, namespace)
    shown = re.search(r"# (\[-100.*?\])", block).group(1)
    assert namespace["labels"] == eval(shown) == [-100 if w is None else namespace["tags"][w]
                                                  for w in hf(namespace["words"], is_split_into_words=True).word_ids()]


# ---- 3. hypothesis ----

FRAGMENTS = ["hello", "World", "unaffable", "don't", "U.S.", "new york", " ", "", "\t", ",", "!!", "[MASK]",
             "a[SEP]b", "[mask]", "[CLS]", "中文", "Café", "e\u0301", "ΟΔΟΣ", "한국", "\x00", "\u200b", "\x1c",
             "ab\x1ccd", "😀", "a" * 101, "１", "##", "#", "ａ，ｂ", "\u00ad"]
words = st.one_of(st.sampled_from(FRAGMENTS), st.text(st.characters(exclude_categories=("Cs",)), max_size=8))
word_lists = st.lists(words, max_size=8)
texts = st.lists(words, max_size=8).map(" ".join)
OPTIONS = dict(padding=st.sampled_from([False, True, "max_length"]),
               truncation=st.sampled_from([None, True, "only_first", "only_second"]),
               max_length=st.one_of(st.none(), st.integers(4, 20)), stride=st.integers(0, 3),
               return_overflowing_tokens=st.booleans(), add_special_tokens=st.booleans(),
               padding_side=st.sampled_from(["right", "left"]), return_tensors=st.sampled_from([None, "np"]))
HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def inputs(items):
    """One sequence, one pair, a batch, or a batch with pairs, each drawn from `items` (word lists or texts)."""
    pair = st.tuples(items, items)
    return st.one_of(items.map(lambda x: (x,)), pair, st.lists(items, min_size=1, max_size=3).map(lambda b: (b,)),
                     st.lists(pair, min_size=1, max_size=3).map(lambda b: ([a for a, _ in b], [c for _, c in b])))


@HYPOTHESIS
@given(args=inputs(word_lists), options=st.fixed_dictionaries(OPTIONS))
def test_generated_word_lists_match_transformers(fast, slow, hf, args, options):
    if len(args) == 2 and args[1] == []:
        args = (args[0], ["x"])  # text_pair=[] of one input: our deliberate difference, pinned above
    for ours in (fast, slow):
        assert_like_transformers(ours, hf, args, dict(options, is_split_into_words=True, **ALL_FIELDS))


@HYPOTHESIS
@given(args=inputs(texts), options=st.fixed_dictionaries(OPTIONS))
def test_generated_text_word_ids_match_transformers(fast, slow, hf, args, options):
    if len(args) == 2 and args[1] == "":
        args = (args[0], "x")  # text_pair="" of one input: our deliberate difference (test_tokenization.py)
    for ours in (fast, slow):
        assert_like_transformers(ours, hf, args, dict(options, **ALL_FIELDS))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(st.lists(words, max_size=30), min_size=1, max_size=4), split=st.booleans(),
       options=st.fixed_dictionaries(OPTIONS))
def test_readable_and_fast_tokenizers_agree(fast, slow, batch, split, options):
    args = (batch,) if split else ([" ".join(w) for w in batch],)
    options = dict(options, is_split_into_words=split, return_special_tokens_mask=True)
    try:
        expected = fast(*args, **options)
    except TokenizerError as e:
        with pytest.raises(TokenizerError, match=re.escape(str(e))):
            slow(*args, **options)
        return
    ours = slow(*args, **options)
    assert fields(ours) == fields(expected)
    assert maps(ours, len(expected.input_ids)) == maps(expected, len(expected.input_ids))  # a batch: a row each
