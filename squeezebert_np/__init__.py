"""squeezebert_np: SqueezeBERT (Iandola et al., 2020) in pure NumPy, with transformers' names and numbers.

The public names are transformers' SqueezeBERT names, so the two can be read side by side.
"""
__version__ = "0.1.0"

from .config import SqueezeBertConfig
from .errors import (CheckpointError, ConfigError, InvalidInputError, SqueezeBertError, TokenizerError,
                     UnsafeCheckpointError)
from .heads import (SqueezeBertForMaskedLM, SqueezeBertForMultipleChoice, SqueezeBertForQuestionAnswering,
                    SqueezeBertForSequenceClassification, SqueezeBertForTokenClassification)
from .modeling import SqueezeBertModel

# the tokenizers (and the `regex` module they use) are imported on first use (PEP 562): models load faster
_LAZY = {"SqueezeBertTokenizer": "tokenization", "SqueezeBertTokenizerFast": "tokenization_fast",
         "BatchEncoding": "tokenization_base"}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["SqueezeBertConfig", "SqueezeBertModel", "SqueezeBertForMaskedLM", "SqueezeBertForSequenceClassification",
           "SqueezeBertForMultipleChoice", "SqueezeBertForTokenClassification", "SqueezeBertForQuestionAnswering",
           *_LAZY, "SqueezeBertError", "ConfigError", "InvalidInputError", "TokenizerError", "CheckpointError",
           "UnsafeCheckpointError"]
