"""SqueezeBertConfig: transformers' fields and defaults, json in and out, and validation that names the field.

The defaults are transformers' (`configuration_squeezebert.py`): BERT-base sizes with Q/K/V, intermediate and output
convolutions in 4 groups. The official checkpoints differ in one field: `vocab_size` is 30528 (30522 rounded up to a
multiple of 8, the NVIDIA pretraining convention), so their embedding table has 6 rows more than the vocabulary.
"""
import copy
import json
import os
import warnings

import numpy as np

from .checkpoint.safetensors_io import write_atomically
from .errors import ConfigError
from .functional import ACTIVATIONS

# field -> default, in transformers' order; these are the SqueezeBERT-specific ones
SQUEEZEBERT_DEFAULTS = {
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,   # only the embeddings and MLM-head LayerNorms read it; the encoder's are fixed at 1e-12
    "pad_token_id": 0,
    "bos_token_id": None,
    "eos_token_id": None,
    "embedding_size": 768,
    "q_groups": 4,
    "k_groups": 4,
    "v_groups": 4,
    "post_attention_groups": 1,
    "intermediate_groups": 4,
    "output_groups": 4,
}
# inherited from transformers' PreTrainedConfig, the ones that matter here
COMMON_DEFAULTS = {
    "tie_word_embeddings": True,
    "problem_type": None,
    "return_dict": True,
    "output_hidden_states": False,
    "output_attentions": False,
    "architectures": None,
}
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")
_POSITIVE_INTS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                  "max_position_embeddings", "type_vocab_size", "embedding_size", "q_groups", "k_groups", "v_groups",
                  "post_attention_groups", "intermediate_groups", "output_groups")


class SqueezeBertConfig:
    """The hyper-parameters of a SqueezeBERT model, field for field as transformers' SqueezeBertConfig.

    Labels follow transformers: give `num_labels` (default 2) and get `id2label = {i: "LABEL_i"}`, or give
    `id2label` and `num_labels` is its length; `label2id` is the inverse. Keys we do not know are kept as
    attributes and written back by `to_dict`, as transformers keeps them.
    """
    model_type = "squeezebert"

    def __init__(self, **kwargs):
        for name, default in {**SQUEEZEBERT_DEFAULTS, **COMMON_DEFAULTS}.items():
            setattr(self, name, kwargs.pop(name, default))
        id2label = kwargs.pop("id2label", None)
        label2id = kwargs.pop("label2id", None)
        num_labels = kwargs.pop("num_labels", None)
        kwargs.pop("model_type", None)
        self._extra_keys = list(kwargs)
        for name, value in kwargs.items():   # unknown keys: kept, like transformers
            setattr(self, name, value)
        if id2label is not None and (num_labels is None or num_labels == len(id2label)):
            self.id2label = {int(i): str(label) for i, label in dict(id2label).items()}
        else:
            if id2label is not None:       # transformers: num_labels wins, the label names are regenerated
                warnings.warn(f"num_labels={num_labels} differs from the {len(id2label)} entries of id2label: "
                              f"using LABEL_0..LABEL_{num_labels - 1}", stacklevel=3)
                label2id = None
            self.num_labels = 2 if num_labels is None else num_labels
        self.label2id = ({str(k): int(v) for k, v in dict(label2id).items()} if label2id is not None
                         else {label: i for i, label in self.id2label.items()})
        self.validate()

    # transformers derives id2label from num_labels and the other way round
    @property
    def num_labels(self):
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, n):
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ConfigError(f"num_labels must be a positive integer, got {n!r}")
        self.id2label = {i: f"LABEL_{i}" for i in range(n)}
        self.label2id = {label: i for i, label in self.id2label.items()}

    def validate(self):
        """Raise ConfigError naming the first field whose value SqueezeBERT cannot be built with."""
        for name in _POSITIVE_INTS:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.embedding_size != self.hidden_size:
            raise ConfigError(f"embedding_size ({self.embedding_size}) must equal hidden_size ({self.hidden_size}): "
                              "SqueezeBERT's encoder has no embedding projection")
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(f"hidden_size ({self.hidden_size}) must be divisible by "
                              f"num_attention_heads ({self.num_attention_heads})")
        # each grouped conv needs its input and output channels divisible by its groups
        convs = {"q_groups": (self.hidden_size, self.hidden_size), "k_groups": (self.hidden_size, self.hidden_size),
                 "v_groups": (self.hidden_size, self.hidden_size),
                 "post_attention_groups": (self.hidden_size, self.hidden_size),
                 "intermediate_groups": (self.hidden_size, self.intermediate_size),
                 "output_groups": (self.intermediate_size, self.hidden_size)}
        for name, (c_in, c_out) in convs.items():
            groups = getattr(self, name)
            if c_in % groups or c_out % groups:
                raise ConfigError(f"{name} ({groups}) must divide the conv's input ({c_in}) and output ({c_out}) channels")
        if self.hidden_act not in ACTIVATIONS:
            raise ConfigError(f"hidden_act {self.hidden_act!r} is not supported; use one of {sorted(ACTIVATIONS)}")
        for name in ("layer_norm_eps", "initializer_range"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ConfigError(f"{name} must be a positive number, got {value!r}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
                raise ConfigError(f"{name} must be a number in [0, 1], got {value!r}")
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ConfigError(f"problem_type must be None or one of {PROBLEM_TYPES}, got {self.problem_type!r}")
        if not isinstance(self.pad_token_id, int) or not 0 <= self.pad_token_id < self.vocab_size:
            if self.pad_token_id is not None:
                raise ConfigError(f"pad_token_id must be in [0, vocab_size={self.vocab_size}), got {self.pad_token_id!r}")

    # ---- dict and json ----

    def to_dict(self):
        """All fields, the label maps (json keys are strings), model_type and any unknown keys we were given."""
        return copy.deepcopy(self._fields())

    def _fields(self):
        """`to_dict` without the copy (the values are the config's own)."""
        d = {name: getattr(self, name) for name in {**SQUEEZEBERT_DEFAULTS, **COMMON_DEFAULTS}}
        d["id2label"] = {str(i): label for i, label in self.id2label.items()}
        d["label2id"] = dict(self.label2id)
        d.update({name: getattr(self, name) for name in self._extra_keys})
        d["model_type"] = self.model_type
        return d

    @classmethod
    def from_dict(cls, d, **overrides):
        if not isinstance(d, dict):
            raise ConfigError(f"a config must be a JSON object (dict), got {type(d).__name__}")
        return cls(**{**d, **overrides})

    def to_json_string(self, weights_dtype=None):
        """config.json's text; ConfigError naming the field if a value cannot be written as JSON.

        With `weights_dtype` (the dtype of the weights saved beside this file), `"dtype"` is set to it and the v4
        name `torch_dtype` is dropped, as transformers 5.24's `save_pretrained` writes them: its `from_pretrained`
        (`dtype="auto"` by default) builds the model in the config's dtype, so a stale value (say "float16" copied
        from an fp16 source beside float32 weights) would change the precision the model runs in.
        """
        d = self._fields()                                  # _plain_json copies every container it keeps
        if weights_dtype is not None:
            d.pop("torch_dtype", None)
            d["dtype"] = str(weights_dtype)
        return json.dumps(_plain_json(d, "config"), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, path, weights_dtype=None):
        """Write config.json atomically; nothing is written (not even a temporary file) if serialising fails."""
        write_text_atomically(path, self.to_json_string(weights_dtype))

    @classmethod
    def from_json_file(cls, path, **overrides):
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path} is not valid JSON: {e}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path} is not UTF-8 text") from None
        if isinstance(d, dict) and d.get("model_type", "squeezebert") != "squeezebert":
            raise ConfigError(f"{path} is a config for model_type {d['model_type']!r}, not 'squeezebert'")
        return cls.from_dict(d, **overrides)

    @classmethod
    def from_pretrained(cls, path_or_repo_id, *, revision=None, cache_dir=None, local_files_only=False, token=None,
                        **overrides):
        """Read config.json from a local directory or a hub repo id (downloaded into the Hugging Face cache)."""
        from .hub import cached_file
        path = cached_file(path_or_repo_id, "config.json", revision=revision, cache_dir=cache_dir,
                           local_files_only=local_files_only, token=token)
        return cls.from_json_file(path, **overrides)

    def save_pretrained(self, directory, weights_dtype=None):
        """Write `directory`/config.json (see `to_json_string` for `weights_dtype`)."""
        text = self.to_json_string(weights_dtype)           # before the folder is made: a bad value writes nothing
        os.makedirs(directory, exist_ok=True)
        write_text_atomically(os.path.join(directory, "config.json"), text)

    def __eq__(self, other):
        return isinstance(other, SqueezeBertConfig) and self.to_dict() == other.to_dict()

    def __repr__(self):
        try:
            return f"SqueezeBertConfig {self.to_json_string()}"
        except ConfigError:                                  # a repr must not fail: show the value JSON cannot hold
            return f"SqueezeBertConfig {self._fields()!r}"


def _plain_json(value, where):
    """`value` in the types `json` writes: NumPy scalars become Python numbers (`.item()`, as a value computed with
    NumPy often is), tuples become lists; anything else raises ConfigError naming where it sits, e.g.
    `config['my_note'][0]`. transformers' config would fail on these later, with a bare TypeError."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain_json(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {_plain_key(key, where): _plain_json(item, f"{where}[{key!r}]") for key, item in value.items()}
    raise ConfigError(f"{where} holds a {type(value).__name__} ({_short(value)}), which config.json cannot store; "
                      "use a number, string, bool, None, list or dict")


def _plain_key(key, where):
    """A dict key as the string `json` would write for it (1 -> "1", True -> "true"), so sort_keys never has to
    compare an int with a str."""
    if isinstance(key, np.generic):
        key = key.item()
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, (bool, int, float)):
        return json.dumps(key)
    raise ConfigError(f"{where} has a key of type {type(key).__name__} ({_short(key)}), which config.json cannot store")


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def write_text_atomically(path, text):
    """Write `text` as UTF-8 through a temporary file renamed onto `path`; a failure leaves no file behind."""
    data = text.encode("utf-8")
    write_atomically(path, lambda file: file.write(data))
