"""BatchEncoding's position maps (issue 16): char_to_token, char_to_word, token_to_chars, word_to_tokens,
word_to_chars, token_to_word, token_to_sequence, compared with transformers' (the Rust Encoding's) answers over
texts, pairs, batches, padding, truncation with overflow and pre-split words."""
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from squeezebert_np.errors import TokenizerError

TEXTS = ["Hello world!", "unaffable cats, don't they?", "  spaced   out ", "Café 中文 [MASK] ok", "", "a"]
CALLS = [
    (("Hello world!",), {}),
    ((["Hello world!", "unaffable cats, don't they?"],), {"padding": True}),
    (("what is it?", "unaffable cats, don't they?"), {}),
    ((["what?", "  spaced   out "], ["Café 中文 [MASK] ok", "a b"]), {"padding": "max_length", "max_length": 16}),
    (("one two three four five six seven",), {"truncation": True, "max_length": 6, "stride": 2,
                                              "return_overflowing_tokens": True}),
    ((["New", "York", "is", "big!"],), {"is_split_into_words": True}),
]


def answers(enc, rows, seq_range=(0, 1, 2)):
    """Every position query over a grid of indices, as a dict (exceptions recorded by name)."""
    out = {}
    for b in range(rows):
        for i in range(0, 40):
            for name, args in [("char_to_token", (b, i)), ("char_to_word", (b, i)), ("token_to_chars", (b, i)),
                               ("token_to_word", (b, i)), ("token_to_sequence", (b, i)),
                               ("word_to_tokens", (b, i)), ("word_to_chars", (b, i))]:
                for s in (seq_range if name.startswith(("char_to", "word_to")) else (None,)):
                    kwargs = {} if s is None else {"sequence_index": s}
                    try:
                        value = getattr(enc, name)(*args, **kwargs)
                    except Exception as e:
                        value = type(e).__name__
                        if name == "word_to_chars" and value == "TypeError":
                            value = None  # transformers fails on CharSpan(*None) for a word with no tokens
                    out[name, b, i, s] = None if value is None else tuple(value) if isinstance(value, tuple) \
                        else value
    return out


@pytest.mark.parametrize("args, options", CALLS)
def test_positions_match_transformers(fast, hf, args, options):
    ours, theirs = fast(*args, **options), hf(*args, **options)
    rows = len(theirs["input_ids"]) if isinstance(theirs["input_ids"][0], list) else 1
    assert answers(ours, rows) == answers(theirs, rows)
    # the single-encoding form f(index) is row 0
    assert ours.char_to_token(1) == theirs.char_to_token(1)
    assert ours.token_to_chars(1) == theirs.token_to_chars(1)
    assert ours.word_to_tokens(0) == theirs.word_to_tokens(0)


def test_span_types(fast):
    enc = fast("hello world")
    assert enc.token_to_chars(2) == (6, 11) and enc.token_to_chars(2).start == 6
    assert enc.word_to_tokens(1).end == 3 and type(enc.word_to_tokens(1)).__name__ == "TokenSpan"


def test_positions_survive_pickling(fast):
    enc = fast(["hello world", "hi"], padding=True)
    again = pickle.loads(pickle.dumps(enc))
    assert again.char_to_token(0, 7) == enc.char_to_token(0, 7) == 2
    assert again.word_to_chars(1, 0) == (0, 2)


def test_bad_indices(fast, slow):
    enc = fast(["hello world", "hi"])
    for call in (lambda: enc.char_to_token(0, -1), lambda: enc.token_to_chars(5, 0), lambda: enc.char_to_token("a"),
                 lambda: enc.word_to_tokens(0, 1.0), lambda: enc.char_to_token(0, 1, sequence_index=-1)):
        with pytest.raises(TokenizerError):
            call()
    with pytest.raises(TokenizerError, match="SqueezeBertTokenizerFast"):
        slow("hello world").char_to_token(1)
    # what needs no offsets works on the readable tokenizer too, with the same answers
    assert slow("hello world").word_to_tokens(1) == fast("hello world").word_to_tokens(1) == (2, 3)
    assert slow("a", "b").token_to_sequence(3) == 1


@settings(max_examples=40)
@given(text=st.text(st.sampled_from("ab é,.中 [MASK]"), max_size=20),
       pair=st.none() | st.text(st.sampled_from("cd ü!"), min_size=1, max_size=10))
def test_positions_random_texts(fast, hf, text, pair):
    """(text_pair="" is our deliberate difference, a pair: test_tokenization.py; Rust's pair answers are below.)"""
    ours, theirs = fast(text, pair), hf(text, pair)
    assert answers(ours, 1, (0, 1)) == answers(theirs, 1, (0, 1))


def test_positions_with_an_empty_sequence_as_rust(fast):
    """Rust's own pair encodings (transformers drops text_pair="" of one input; we keep the pair, REFERENCE §7.7):
    an empty sequence has an empty range, so nothing is found in it."""
    pytest.importorskip("tokenizers")
    from tokenizer_reference import read_vocab, rust_tokenizer
    from squeezebert_np.tokenization_base import default_vocab_file
    rust = rust_tokenizer(read_vocab(default_vocab_file()))
    for a, b in [("", "c"), ("a", ""), ("", ""), ("a b", "c d")]:
        for special in (True, False):
            theirs = rust.encode(a, b, add_special_tokens=special)
            ours = fast(a, b, add_special_tokens=special)
            for s in (0, 1, 2):
                assert ours.char_to_token(0, sequence_index=s) == theirs.char_to_token(0, s)
                for w in (0, 1):
                    span = ours.word_to_tokens(w, sequence_index=s)
                    assert (None if span is None else tuple(span)) == theirs.word_to_tokens(w, s)
