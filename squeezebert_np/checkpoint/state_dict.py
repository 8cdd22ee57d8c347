"""From a checkpoint's keys to a model's keys, as transformers' `from_pretrained` maps them.

The rules (REFERENCE.md §4.5-4.6), applied in this order:
1. legacy names: `LayerNorm.gamma` / `.beta` become `.weight` / `.bias`;
2. the base-model prefix `transformer.` is added (a base checkpoint loaded into a head model) or stripped (a head
   checkpoint loaded into SqueezeBertModel);
3. buffers and heads no class uses are dropped silently: `*.position_ids` (a non-persistent buffer in
   transformers), `cls.seq_relationship.*` (the pretraining checkpoint's sentence-order head);
4. tied weights (unless tie_word_embeddings is False): the MLM decoder shares the word embeddings and
   `cls.predictions.bias`. A tied key absent from the
   file takes its partner's array; a checkpoint holding only the decoder's copy fills its partner; two different
   stored values stay separate (transformers warns and does not tie them);
5. every remaining key must have the model's shape (else an error naming key and shapes); floating arrays are
   computed in float32 (fp16 -> fp32 and bf16 -> fp32 are exact).
What the model expects and the file lacks is reported as missing (the caller initialises it and warns once);
what the file has and the model does not is reported as unexpected.
"""
from dataclasses import dataclass, field

import numpy as np

from ..errors import CheckpointError

PREFIX = "transformer."
IGNORED_PREFIXES = ("cls.seq_relationship.",)
IGNORED_SUFFIXES = ("position_ids",)


@dataclass
class LoadingInfo:
    """What `from_pretrained(..., output_loading_info=True)` returns beside the model, as transformers does."""
    missing_keys: list = field(default_factory=list)       # expected, not in the file: initialised
    unexpected_keys: list = field(default_factory=list)    # in the file, not used by this model
    untied_keys: list = field(default_factory=list)        # tied in the model, stored with different values
    files: list = field(default_factory=list)              # the checkpoint files read
    mismatched_keys: list = field(default_factory=list)    # (key, checkpoint shape, model shape): re-initialised

    def to_dict(self):
        """transformers' form: {"missing_keys": set, "unexpected_keys": set, "mismatched_keys": set of
        (key, checkpoint shape, model shape), "error_msgs": list}."""
        return {"missing_keys": set(self.missing_keys), "unexpected_keys": set(self.unexpected_keys),
                "mismatched_keys": set(self.mismatched_keys), "error_msgs": []}


def rename_legacy(key):
    """`...LayerNorm.gamma` -> `...LayerNorm.weight`, `...beta` -> `...bias` (transformers does this for every model)."""
    head, _, last = key.rpartition(".")
    return f"{head}.{ {'gamma': 'weight', 'beta': 'bias'}.get(last, last) }" if head else key


def map_keys(checkpoint, expected_keys):
    """Rename a checkpoint's keys to the model's; returns ({model key: array}, [unexpected keys])."""
    renamed = {rename_legacy(k): v for k, v in checkpoint.items()}
    model_is_head = any(k.startswith(PREFIX) for k in expected_keys)
    file_is_head = any(k.startswith(PREFIX) for k in renamed)
    mapped, unexpected = {}, []
    for key, value in renamed.items():
        if model_is_head and not file_is_head and PREFIX + key in expected_keys:
            key = PREFIX + key                              # base checkpoint into a head model
        elif not model_is_head and file_is_head and key.startswith(PREFIX):
            key = key[len(PREFIX):]                         # head checkpoint into the base model
        if key in expected_keys:
            mapped[key] = value
        elif not (key.startswith(IGNORED_PREFIXES) or key.endswith(IGNORED_SUFFIXES)):
            unexpected.append(key)
    return mapped, unexpected


def resolve_ties(mapped, tied, tie_word_embeddings):
    """Apply transformers v5's tie rules; returns the keys whose two stored values differ (left untied).

    `tied` maps a target key to its source key, e.g. decoder.weight -> word_embeddings.weight.
    """
    untied = []
    if not tie_word_embeddings:                            # transformers 5.24: no tie at all, each key its own
        return untied
    for target, source in tied.items():
        if target in mapped and source in mapped:
            if mapped[target] is not mapped[source] and not np.array_equal(mapped[target], mapped[source]):
                untied.append(target)
                continue
        elif target in mapped:
            mapped[source] = mapped[target]                # only the decoder's copy was stored: it is the source
        if source in mapped:
            mapped[target] = mapped[source]
    return untied


def to_float32(key, array, expected_shape):
    """Check the shape and return a float32 array (no copy when it already is one, e.g. a memory-mapped view)."""
    array = np.asarray(array)
    if tuple(array.shape) != tuple(expected_shape):
        raise CheckpointError(f"checkpoint key {key!r} has shape {tuple(array.shape)}, but the config needs "
                              f"{tuple(expected_shape)}; was the checkpoint made with another config?")
    if array.dtype.kind != "f":
        raise CheckpointError(f"checkpoint key {key!r} holds {array.dtype} values; a floating parameter was expected")
    return array.astype(np.float32, copy=False)
