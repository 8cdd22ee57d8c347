"""The output containers read like transformers' ModelOutput: by attribute, key, position, `in` and `get`."""
import numpy as np
import pytest

from squeezebert_np import outputs

torch = pytest.importorskip("torch")
modeling_outputs = pytest.importorskip("transformers.modeling_outputs")

LOGITS = np.arange(6, dtype=np.float32).reshape(3, 2)
LOSS = np.float32(0.25)
FIELDS = ["loss", "logits", "hidden_states", "attentions", "start_logits", "pooler_output", "not_a_field"]


def pair(with_loss):
    """Our SequenceClassifierOutput and transformers', with or without a loss (hidden states never set)."""
    ours = outputs.SequenceClassifierOutput(loss=LOSS if with_loss else None, logits=LOGITS)
    theirs = modeling_outputs.SequenceClassifierOutput(loss=torch.tensor(LOSS) if with_loss else None,
                                                       logits=torch.from_numpy(LOGITS))
    return ours, theirs


def same(a, b):
    return (a is None and b is None) or np.array_equal(np.asarray(a), b.numpy())


@pytest.mark.parametrize("with_loss", [True, False])
@pytest.mark.parametrize("key", FIELDS)
def test_contains_get_and_getitem_as_transformers(with_loss, key):
    ours, theirs = pair(with_loss)
    assert (key in ours) == (key in theirs)
    assert same(ours.get(key), theirs.get(key))
    default = object()
    got, expected = ours.get(key, default), theirs.get(key, default)
    assert (got is default) == (expected is default)
    assert got is default or same(got, expected)
    if key in theirs:
        assert same(ours[key], theirs[key])
    else:                                        # a field that is None is not a key: KeyError, as transformers
        with pytest.raises(KeyError):
            theirs[key]
        with pytest.raises(KeyError):
            ours[key]


@pytest.mark.parametrize("with_loss", [True, False])
def test_keys_positions_and_length_as_transformers(with_loss):
    ours, theirs = pair(with_loss)
    assert ours.keys() == list(theirs.keys()) and len(ours) == len(theirs)
    assert same(ours[0], theirs[0]) and same(ours.to_tuple()[-1], theirs.to_tuple()[-1])
    assert 0 not in ours and (0 in theirs) is False                 # positions index, they are not keys
