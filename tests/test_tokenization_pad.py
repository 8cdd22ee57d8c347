"""`tokenizer.pad` (issue 16) against transformers 5.24's `pad` and its `DataCollatorWithPadding`: lists of
examples and dicts of lists, ragged rows, every padding option, labels left alone."""
import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tokenizer_reference import plain
from squeezebert_np.errors import TokenizerError
from squeezebert_np.tokenization import SqueezeBertTokenizer
from squeezebert_np.tokenization_fast import SqueezeBertTokenizerFast

CLASSES = [SqueezeBertTokenizer, SqueezeBertTokenizerFast]


@pytest.fixture(scope="module", params=CLASSES, ids=["slow", "fast"])
def tok(request):
    return request.param()


def same_as_transformers(ours, hf, features, **options):
    """Our pad and transformers' on deep copies of the same features: equal fields, or both refuse (where
    transformers would build a ragged object array, we refuse with a TokenizerError)."""
    try:
        theirs = hf.pad(copy.deepcopy(features), **options)
    except Exception:
        with pytest.raises(TokenizerError):
            ours.pad(copy.deepcopy(features), **options)
        return None
    if any(getattr(v, "dtype", None) == object for v in theirs.values()):
        with pytest.raises(TokenizerError, match="equal lengths"):
            ours.pad(copy.deepcopy(features), **options)
        return None
    mine = ours.pad(copy.deepcopy(features), **options)
    assert list(mine) == list(theirs)
    for key in theirs:
        assert plain(mine[key]) == plain(theirs[key]), key
        if options.get("return_tensors") == "np":
            assert isinstance(mine[key], np.ndarray) and mine[key].dtype == theirs[key].dtype, key
    return mine


def test_pad_a_list_of_examples_as_transformers(tok, hf):
    features = [dict(tok("hi there"), labels=1), dict(tok("hello world, how are you?"), labels=0)]
    out = same_as_transformers(tok, hf, features, return_tensors="np")
    assert out["input_ids"].shape == (2, 9) and out["labels"].tolist() == [1, 0]
    assert out["attention_mask"].sum(1).tolist() == [4, 9]


def test_data_collator_with_padding(tok, hf):
    transformers = pytest.importorskip("transformers")
    features = [dict(tok("a"), label=2), dict(tok("a b c d e f g h i"), label=1)]
    for kwargs in ({}, {"pad_to_multiple_of": 8}, {"padding": "max_length", "max_length": 16}):
        ours = transformers.DataCollatorWithPadding(tok, return_tensors="np", **kwargs)(copy.deepcopy(features))
        theirs = transformers.DataCollatorWithPadding(hf, return_tensors="np", **kwargs)(copy.deepcopy(features))
        assert {k: v.tolist() for k, v in ours.items()} == {k: v.tolist() for k, v in theirs.items()}
        assert "labels" in ours


def test_pad_one_example_and_arrays(tok, hf):
    same_as_transformers(tok, hf, dict(tok("hello world")), padding="max_length", max_length=8)
    # transformers fails on one example as a 1-D array (its first element is a NumPy int); we pad it
    out = tok.pad({"input_ids": np.array([101, 7592, 102])}, padding="max_length", max_length=5)
    assert out["input_ids"].tolist() == [101, 7592, 102, 0, 0] and out["attention_mask"].tolist() == [1, 1, 1, 0, 0]
    same_as_transformers(tok, hf, {"input_ids": [np.array([101, 102]), np.array([101, 7592, 2088, 102])]})
    same_as_transformers(tok, hf, {"input_ids": []})
    same_as_transformers(tok, hf, {"input_ids": [[], [101]]})


@pytest.mark.parametrize("bad", [
    {"attention_mask": [[1]]},                       # no input_ids
    {"input_ids": [[1.5, 2]]},                       # float ids
    {"input_ids": [[1, 2]], "token_type_ids": [[0]]},  # a padded field shorter than input_ids
    {"input_ids": [[1, 2], [3]], "labels": [0]},     # one label for two examples
    "hello", None, [1, 2, 3],
])
def test_pad_refuses_malformed_features(tok, bad):
    with pytest.raises(TokenizerError):
        tok.pad(bad)


def test_pad_refuses_bad_options(tok):
    features = {"input_ids": [[1, 2], [3]]}
    for options in ({"padding": "yes"}, {"pad_to_multiple_of": 0}, {"padding_side": "up"},
                    {"return_tensors": "pt"}, {"max_length": -1, "padding": "max_length"},
                    {"padding": "max_length", "max_length": 2 ** 40}):
        with pytest.raises(TokenizerError):
            tok.pad(features, **options)
    with pytest.raises(TokenizerError, match="lacks"):
        tok.pad([{"input_ids": [1], "labels": 0}, {"input_ids": [1, 2]}])


ROW = st.lists(st.integers(0, 30521), max_size=12)


@st.composite
def ragged_features(draw):
    """A batch as a list of examples or a dict of lists, with the optional fields tokenizer calls return."""
    n = draw(st.integers(1, 4))
    rows = [draw(ROW) for _ in range(n)]
    keys = draw(st.sets(st.sampled_from(["token_type_ids", "attention_mask", "special_tokens_mask", "labels"])))
    examples = []
    for row in rows:
        example = {"input_ids": row}
        for key in keys:
            example[key] = (draw(st.integers(0, 3)) if key == "labels"
                            else [draw(st.integers(0, 1)) for _ in row])
        examples.append(example)
    if draw(st.booleans()):
        return {key: [example[key] for example in examples] for key in examples[0]}
    return examples


@settings(max_examples=150)
@given(features=ragged_features(),
       padding=st.sampled_from([True, False, "longest", "max_length", "do_not_pad"]),
       max_length=st.none() | st.integers(0, 16), pad_to_multiple_of=st.none() | st.integers(1, 8),
       padding_side=st.sampled_from([None, "left", "right"]),
       return_attention_mask=st.sampled_from([None, True, False]),
       return_tensors=st.sampled_from([None, "np"]))
def test_pad_matches_transformers_on_ragged_features(fast, hf, features, padding, max_length, pad_to_multiple_of,
                                                     padding_side, return_attention_mask, return_tensors):
    same_as_transformers(fast, hf, features, padding=padding, max_length=max_length,
                         pad_to_multiple_of=pad_to_multiple_of, padding_side=padding_side,
                         return_attention_mask=return_attention_mask, return_tensors=return_tensors)
