"""Output containers with transformers' class and field names.

Like transformers' ModelOutput (an OrderedDict holding the fields that are not None), an output is read by
attribute (`out.logits`), by key (`out["logits"]`, KeyError for a field that is None, e.g. `out["hidden_states"]`
without output_hidden_states), with `out.get("loss")` (None, or the default, for such a field) or by position
(`out[0]`), where positions count only the fields that are not None (so `out[0]` is the loss when labels were
given and the logits otherwise). `"loss" in out` is True only when the loss was computed.

One difference remains: iterating yields the values (`last, pooled = model(ids)` unpacks like a tuple), where
transformers' OrderedDict yields the key names, as a dict does; `keys()` gives those here.
"""
from dataclasses import dataclass, fields
from typing import Optional

import numpy as np


class ModelOutput:
    def to_tuple(self):
        return tuple(getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None)

    def keys(self):
        return [f.name for f in fields(self) if getattr(self, f.name) is not None]

    def __getitem__(self, key):
        if isinstance(key, str):
            if key not in self:
                raise KeyError(key)
            return getattr(self, key)
        return self.to_tuple()[key]

    def __contains__(self, key):
        """True for a field that is set (not None), as for transformers' ModelOutput."""
        return key in self.keys()

    def get(self, key, default=None):
        """The field's value, or `default` when it is None or not a field (dict.get, as transformers)."""
        return getattr(self, key) if key in self else default

    def __iter__(self):
        return iter(self.to_tuple())

    def __len__(self):
        return len(self.to_tuple())


@dataclass
class BaseModelOutputWithPooling(ModelOutput):
    last_hidden_state: np.ndarray = None                 # [N, W, C]
    pooler_output: np.ndarray = None                     # [N, C]
    hidden_states: Optional[tuple] = None                # (layers + 1) x [N, W, C]: embeddings, then each layer
    attentions: Optional[tuple] = None                   # layers x [N, h, W, W], pre-softmax scores


@dataclass
class MaskedLMOutput(ModelOutput):
    loss: Optional[np.ndarray] = None                    # [] float32
    logits: np.ndarray = None                            # [N, W, vocab_size]
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None


@dataclass
class SequenceClassifierOutput(ModelOutput):
    loss: Optional[np.ndarray] = None
    logits: np.ndarray = None                            # [N, num_labels]
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None


@dataclass
class MultipleChoiceModelOutput(ModelOutput):
    loss: Optional[np.ndarray] = None
    logits: np.ndarray = None                            # [N, num_choices]
    hidden_states: Optional[tuple] = None                # batch N * num_choices, as transformers returns them
    attentions: Optional[tuple] = None


@dataclass
class TokenClassifierOutput(ModelOutput):
    loss: Optional[np.ndarray] = None
    logits: np.ndarray = None                            # [N, W, num_labels]
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None


@dataclass
class QuestionAnsweringModelOutput(ModelOutput):
    loss: Optional[np.ndarray] = None
    start_logits: np.ndarray = None                      # [N, W]
    end_logits: np.ndarray = None                        # [N, W]
    hidden_states: Optional[tuple] = None
    attentions: Optional[tuple] = None
