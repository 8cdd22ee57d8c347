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
from .tokenization import SqueezeBertTokenizer
from .tokenization_base import BatchEncoding
from .tokenization_fast import SqueezeBertTokenizerFast
