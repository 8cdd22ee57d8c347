"""`tokenizer.pad(features)`: pad encodings made earlier, as transformers 5.24's `PreTrainedTokenizerBase.pad`.

This is what `DataCollatorWithPadding` calls on each batch of a fine-tuning run: the examples were tokenized once
(without padding) when the dataset was prepared, and each batch is padded to its own longest row.

    features = [tok("a short one"), tok("and a somewhat longer example"), ...]   # each a dict of lists
    batch = tok.pad(features, return_tensors="np")   # input_ids [B, L], token_type_ids, attention_mask

Accepted: one encoding (a dict of lists of ints), a batch as a dict of lists of lists, or a list of dicts (each
with the same keys, e.g. examples of a `datasets.Dataset`); NumPy arrays and torch tensors as values too.
Padded: `input_ids` (with `pad_token_id`), `token_type_ids` (0), `special_tokens_mask` (1) and `attention_mask`
(0; made of ones first if absent). Every other field (`labels`, `offset_mapping`...) is left alone, as in
transformers. Rows longer than the target are kept whole: `pad` never truncates.
"""
from collections.abc import Mapping

from .errors import TokenizerError

# the fields `pad` fills, with what it fills them with (input_ids: the tokenizer's pad id)
PADDED_FIELDS = ("input_ids", "token_type_ids", "special_tokens_mask", "attention_mask")


def as_dict_of_lists(encoded_inputs):
    """A list of examples (dicts) -> one dict of lists, keyed by the first example's keys (transformers' rule)."""
    if isinstance(encoded_inputs, (list, tuple)) and encoded_inputs and isinstance(encoded_inputs[0], Mapping):
        keys = list(encoded_inputs[0].keys())
        for i, example in enumerate(encoded_inputs):
            if not isinstance(example, Mapping):
                raise TokenizerError(f"pad: example {i} is a {type(example).__name__}, not a dict like example 0")
            missing = [key for key in keys if key not in example]
            if missing:
                raise TokenizerError(f"pad: example {i} lacks the field(s) {', '.join(map(repr, missing))} that "
                                     "example 0 has")
        return {key: [example[key] for example in encoded_inputs] for key in keys}
    if not isinstance(encoded_inputs, Mapping):
        raise TokenizerError("pad takes an encoding (a dict of lists), a dict of batched lists, or a list of "
                             f"encodings, not {type(encoded_inputs).__name__}")
    return dict(encoded_inputs)


def to_python(value):
    """NumPy arrays, NumPy scalars and torch tensors (also inside lists) -> Python lists and numbers.
    Returns (value, whether any array or tensor was met)."""
    if hasattr(value, "tolist") and not isinstance(value, (list, tuple)):
        return value.tolist(), True
    if isinstance(value, (list, tuple)):
        items = [to_python(item) for item in value]
        return [item for item, _ in items], any(was_array for _, was_array in items)
    return value, False


def check_ids(row, key, index):
    """A row of a padded field must be a list of ints (bools and floats are refused, as ids)."""
    if not isinstance(row, list):
        where = "" if index is None else f" row {index}"
        raise TokenizerError(f"pad: {key}{where} must be a list of ints, got {row!r:.60}")
    for value in row:
        if isinstance(value, bool) or not isinstance(value, int):
            where = "" if index is None else f" row {index}"
            raise TokenizerError(f"pad: {key}{where} must hold ints, got {value!r:.40}")
    return row


def pad_row(fields, target, fills, side, make_mask):
    """Pad one example's fields (a dict of lists) to `target` tokens on `side`; the others are left alone."""
    length = len(fields["input_ids"])
    if make_mask and "attention_mask" not in fields:
        fields["attention_mask"] = [1] * length
    missing = target - length if target is not None else 0
    for key, fill in fills.items():
        if key not in fields or (key == "attention_mask" and not make_mask):
            continue
        if len(fields[key]) != length:
            raise TokenizerError(f"pad: {key} has {len(fields[key])} values but input_ids has {length}")
        if missing > 0:
            padding = [fill] * missing
            fields[key] = fields[key] + padding if side == "right" else padding + fields[key]
    return fields


def to_arrays(fields):
    """return_tensors="np": each field as an array (int64 for the token fields, NumPy's choice for the others, e.g.
    float labels); rows of unequal length are an error (transformers would make an object array)."""
    import numpy as np

    out = {}
    for key, value in fields.items():
        if isinstance(value, list) and value and isinstance(value[0], list):
            lengths = sorted({len(row) for row in value})
            if len(lengths) > 1:
                raise TokenizerError(f"pad: return_tensors='np' needs equal lengths, but the rows of {key} have "
                                     f"lengths {lengths} (pad leaves fields other than {', '.join(PADDED_FIELDS)} "
                                     "alone)")
        try:
            out[key] = np.asarray(value, dtype=np.int64 if key in PADDED_FIELDS or value == [] else None)
        except (ValueError, TypeError, OverflowError) as e:
            raise TokenizerError(f"pad: field {key} cannot be made an array: {e}") from None
    return out

