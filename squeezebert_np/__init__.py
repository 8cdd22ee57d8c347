"""squeezebert_np: SqueezeBERT (Iandola et al., 2020) in pure NumPy, with transformers' names and numbers.

The public names are transformers' SqueezeBERT names, so the two can be read side by side.

Every name is imported on first use (PEP 562, as transformers' own `_LazyModule` does): `import squeezebert_np`
costs ~1 ms, and NumPy (~100 ms to import on a small machine) is loaded only by what needs it. The hub downloader
(`squeezebert_np.hub`, `python -m squeezebert_np.download`) never does.
"""
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> the module that defines it
_LAZY = {
    "SqueezeBertConfig": "config",
    "SqueezeBertModel": "modeling",
    **dict.fromkeys(["SqueezeBertForMaskedLM", "SqueezeBertForSequenceClassification", "SqueezeBertForMultipleChoice",
                     "SqueezeBertForTokenClassification", "SqueezeBertForQuestionAnswering"], "heads"),
    "SqueezeBertTokenizer": "tokenization",
    "SqueezeBertTokenizerFast": "tokenization_fast",
    "BatchEncoding": "tokenization_base",
    "AddedToken": "added_tokens",
    **dict.fromkeys(["SqueezeBertError", "ConfigError", "InvalidInputError", "TokenizerError", "CheckpointError",
                     "UnsafeCheckpointError"], "errors"),
}

__all__ = list(_LAZY)


def __getattr__(name):
    import importlib
    import importlib.util
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    elif not name.startswith("__") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f".{name}", __name__)     # a submodule: squeezebert_np.fast, .hub, ...
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value          # next time a plain attribute, without this call
    return value


def __dir__():
    import pkgutil
    return sorted(set(globals()) | set(_LAZY) | {m.name for m in pkgutil.iter_modules(__path__)})


if TYPE_CHECKING:  # for static analysers and IDEs only: the same names, eagerly
    from .config import SqueezeBertConfig  # noqa: F401
    from .errors import (CheckpointError, ConfigError, InvalidInputError, SqueezeBertError,  # noqa: F401
                         TokenizerError, UnsafeCheckpointError)
    from .heads import (SqueezeBertForMaskedLM, SqueezeBertForMultipleChoice,  # noqa: F401
                        SqueezeBertForQuestionAnswering, SqueezeBertForSequenceClassification,
                        SqueezeBertForTokenClassification)
    from .modeling import SqueezeBertModel  # noqa: F401
    from .tokenization import SqueezeBertTokenizer  # noqa: F401
    from .added_tokens import AddedToken  # noqa: F401
    from .tokenization_base import BatchEncoding  # noqa: F401
    from .tokenization_fast import SqueezeBertTokenizerFast  # noqa: F401
