"""SqueezeBertConfig: transformers' fields and defaults, json in and out, and validation that names the field.

The defaults are transformers' (`configuration_squeezebert.py`): BERT-base sizes with Q/K/V, intermediate and output
convolutions in 4 groups. The official checkpoints differ in one field: `vocab_size` is 30528 (30522 rounded up to a
multiple of 8, the NVIDIA pretraining convention), so their embedding table has 6 rows more than the vocabulary.
"""
import copy
import json
import os
import re
import stat
import warnings

import numpy as np

from .checkpoint.safetensors_io import make_folder, write_atomically
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
# Upper bounds, checked before anything is built: a config.json is input, and a size from it decides how much memory
# a model takes. Each is far above any published BERT-family model (SqueezeBERT: 30528, 768, 12, 3072, 512, 2).
MAX_SIZES = {
    "vocab_size": 2**20,                  # 1,048,576 rows
    "hidden_size": 2**14,                 # 16,384 channels (embedding_size equals it)
    "embedding_size": 2**14,
    "num_hidden_layers": 2**10,           # 1,024 layers
    "intermediate_size": 2**16,           # 65,536 channels
    "max_position_embeddings": 2**17,     # 131,072 positions
    "type_vocab_size": 2**10,
    "num_labels": 2**17,                  # 131,072 classes
}
MAX_PARAMETERS = 2**31                    # ~2.1e9 parameters, 8 GiB in float32, whatever the sizes combine to
MAX_CONFIG_BYTES = 16 * 2**20             # a config.json is a few KB; more than 16 MiB is not one
MAX_NESTING = 32                          # how deep a value may nest lists/dicts (real configs: 3 or 4)


class SqueezeBertConfig:
    """The hyper-parameters of a SqueezeBERT model, field for field as transformers' SqueezeBertConfig.

    Labels follow transformers: give `num_labels` (default 2) and get `id2label = {i: "LABEL_i"}`, or give
    `id2label` and `num_labels` is its length; `label2id` is the inverse. Keys we do not know are kept as
    attributes and written back by `to_dict`, as transformers keeps them.
    """
    model_type = "squeezebert"

    def __init__(self, /, **kwargs):
        for name, default in {**SQUEEZEBERT_DEFAULTS, **COMMON_DEFAULTS}.items():
            setattr(self, name, kwargs.pop(name, default))
        id2label = kwargs.pop("id2label", None)
        label2id = kwargs.pop("label2id", None)
        num_labels = kwargs.pop("num_labels", None)
        kwargs.pop("model_type", None)
        for name, value in kwargs.items():
            _check_extra_key(name)
            _check_nesting(name, value)
        self._extra_keys = list(kwargs)
        for name, value in kwargs.items():   # unknown keys: kept, like transformers
            setattr(self, name, value)
        if num_labels is not None:
            _check_num_labels(num_labels)
        if id2label is not None and (num_labels is None or num_labels == len(_as_mapping("id2label", id2label))):
            self.id2label = _id2label(id2label)
        else:
            if id2label is not None:       # transformers: num_labels wins, the label names are regenerated
                warnings.warn(f"num_labels={num_labels} differs from the {len(id2label)} entries of id2label: "
                              f"using LABEL_0..LABEL_{num_labels - 1}", stacklevel=3)
                label2id = None
            self.num_labels = 2 if num_labels is None else num_labels
        self.label2id = (_label2id(label2id) if label2id is not None
                         else {label: i for i, label in self.id2label.items()})
        self.validate()

    # transformers derives id2label from num_labels and the other way round
    @property
    def num_labels(self):
        return len(self.id2label)

    @num_labels.setter
    def num_labels(self, n):
        _check_num_labels(n)
        self.id2label = {i: f"LABEL_{i}" for i in range(n)}
        self.label2id = {label: i for i, label in self.id2label.items()}

    def validate(self):
        """Raise ConfigError naming the first field whose value SqueezeBERT cannot be built with."""
        for name in _POSITIVE_INTS:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {_short(value)}")
            if value > MAX_SIZES.get(name, value):
                raise ConfigError(f"{name} must be at most {MAX_SIZES[name]:,}, got {_short(value)}")
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
        if not isinstance(self.hidden_act, str) or self.hidden_act not in ACTIVATIONS:
            raise ConfigError(f"hidden_act {self.hidden_act!r} is not supported; use one of {sorted(ACTIVATIONS)}")
        for name in ("layer_norm_eps", "initializer_range"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < float("inf"):
                raise ConfigError(f"{name} must be a positive finite number, got {_short(value)}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
                raise ConfigError(f"{name} must be a number in [0, 1], got {_short(value)}")
        for name in ("tie_word_embeddings", "return_dict", "output_hidden_states", "output_attentions"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {_short(getattr(self, name))}")
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ConfigError(f"problem_type must be None or one of {PROBLEM_TYPES}, got {self.problem_type!r}")
        if not isinstance(self.pad_token_id, int) or not 0 <= self.pad_token_id < self.vocab_size:
            if self.pad_token_id is not None:
                raise ConfigError(f"pad_token_id must be in [0, vocab_size={self.vocab_size}), "
                                  f"got {_short(self.pad_token_id)}")
        if not isinstance(self.id2label, dict) or not isinstance(self.label2id, dict):
            raise ConfigError("id2label and label2id must be dicts")
        self.id2label = _id2label(self.id2label)             # set since construction: checked like a given one
        _label2id(self.label2id)
        n = parameter_count(self)
        if n > MAX_PARAMETERS:
            raise ConfigError(f"these sizes make a model of {n:,} parameters, more than the {MAX_PARAMETERS:,} "
                              "this package builds (8 GiB in float32)")

    def get_text_config(self, decoder=None, encoder=None):
        """The config of the text model: this one (transformers returns `self` for every single-modality model)."""
        return self

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
    def from_dict(cls, d, /, *, return_unused_kwargs=False, **kwargs):
        """A config from a dict (config.json's content), with `kwargs` applied as transformers applies them: a
        keyword that is a config field (or a key of `d`) overrides it; any other keyword is not stored, and is
        returned beside the config with `return_unused_kwargs=True`."""
        if not isinstance(d, dict):
            raise ConfigError(f"a config must be a JSON object (dict), got {type(d).__name__}")
        known = {**SQUEEZEBERT_DEFAULTS, **COMMON_DEFAULTS, **dict.fromkeys(("num_labels", "id2label", "label2id")),
                 **d}
        used = {k: v for k, v in kwargs.items() if k in known}
        unused = {k: v for k, v in kwargs.items() if k not in known}
        config = cls(**{**d, **used})
        return (config, unused) if return_unused_kwargs else config

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
    def from_json_file(cls, path, /, **kwargs):
        """Read a config.json file; ConfigError if it is missing, not a file, too large or not a valid config."""
        path = os.fspath(path)
        try:
            with open(path, "rb") as f:
                info = os.fstat(f.fileno())
                if not stat.S_ISREG(info.st_mode):      # a FIFO or a device (/dev/zero) has no end
                    raise ConfigError(f"{path} is not a regular file")
                if info.st_size > MAX_CONFIG_BYTES:
                    raise ConfigError(f"{path} is larger than {MAX_CONFIG_BYTES // 2**20} MiB, too large for a "
                                      "config.json")
                data = f.read(MAX_CONFIG_BYTES + 1) if info.st_size == 0 else f.read(info.st_size + 1)
        except FileNotFoundError:
            raise ConfigError(f"no config file at {path}") from None
        except IsADirectoryError:
            raise ConfigError(f"{path} is a directory, not a config file (from_pretrained reads the "
                              "config.json inside a directory)") from None
        except OSError as error:
            raise ConfigError(f"cannot read the config file {path}: {error.strerror or error}") from None
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path} is larger than {MAX_CONFIG_BYTES // 2**20} MiB, too large for a config.json")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{path} is not UTF-8 text") from None
        if _json_depth(text) > MAX_NESTING + 1:          # before parsing: json's parser recurses, and allocates
            raise ConfigError(f"{path} nests lists or objects more than {MAX_NESTING} deep")
        try:
            d = json.loads(text)
        except RecursionError:
            raise ConfigError(f"{path} nests lists or objects more than {MAX_NESTING} deep") from None
        except ValueError as e:             # JSONDecodeError, and ints of more than 4300 digits
            raise ConfigError(f"{path} is not valid JSON: {_short(str(e))}") from None
        if isinstance(d, dict) and d.get("model_type", "squeezebert") != "squeezebert":
            raise ConfigError(f"{path} is a config for model_type {_short(d['model_type'])}, not 'squeezebert'")
        return cls.from_dict(d, **kwargs)

    @classmethod
    def from_pretrained(cls, path_or_repo_id, /, *, subfolder="", revision=None, cache_dir=None, local_files_only=False,
                        token=None, return_unused_kwargs=False, **kwargs):
        """Read config.json from a local directory, a hub repo id (downloaded into the Hugging Face cache), or a
        config file's path; `subfolder` is a folder inside the directory or repo. `kwargs` as in `from_dict`:
        config fields override the file's values, other keywords are not stored (transformers' rule)."""
        from .hub import cached_file
        if not isinstance(path_or_repo_id, (str, os.PathLike)):
            raise ConfigError(f"give a folder, a hub repo id or a config file's path, got {_short(path_or_repo_id)}")
        if os.path.isfile(os.fspath(path_or_repo_id)):
            path = path_or_repo_id
        else:
            path = cached_file(path_or_repo_id, _in_subfolder(subfolder, "config.json"), revision=revision,
                               cache_dir=cache_dir, local_files_only=local_files_only, token=token)
        return cls.from_json_file(path, return_unused_kwargs=return_unused_kwargs, **kwargs)

    def save_pretrained(self, directory, weights_dtype=None):
        """Write `directory`/config.json (see `to_json_string` for `weights_dtype`)."""
        text = self.to_json_string(weights_dtype)           # before the folder is made: a bad value writes nothing
        make_folder(directory)
        write_text_atomically(os.path.join(directory, "config.json"), text)

    def __eq__(self, other):
        return isinstance(other, SqueezeBertConfig) and self.to_dict() == other.to_dict()

    def __repr__(self):
        try:
            return f"SqueezeBertConfig {self.to_json_string()}"
        except ConfigError:                                  # a repr must not fail: show the value JSON cannot hold
            return f"SqueezeBertConfig {self._fields()!r}"


def _in_subfolder(subfolder, filename):
    """`subfolder/filename` as the hub names files (`filename` alone when there is no subfolder)."""
    if not isinstance(subfolder, str):
        raise ConfigError(f"subfolder must be a string, got {type(subfolder).__name__}")
    subfolder = subfolder.strip("/")
    return f"{subfolder}/{filename}" if subfolder else filename


def parameter_count(config):
    """The parameters of the largest model `config` builds: the base model plus the larger of an untied MLM head
    and a classifier of num_labels outputs. Plain integer arithmetic, so it is known before any array exists."""
    v, c, e, i = config.vocab_size, config.hidden_size, config.embedding_size, config.intermediate_size
    embeddings = (v + config.max_position_embeddings + config.type_vocab_size) * e + 2 * e
    layer = (c * c // config.q_groups + c * c // config.k_groups + c * c // config.v_groups + 3 * c     # q, k, v
             + c * c // config.post_attention_groups + 3 * c                                            # + LN
             + c * i // config.intermediate_groups + i
             + i * c // config.output_groups + 3 * c)
    pooler = c * c + c
    mlm = c * c + 3 * c + v * c + 2 * v                      # transform, decoder weight and bias, the head's bias
    classifier = (len(config.id2label) + 1) * c              # an upper bound for every classifier head
    return embeddings + config.num_hidden_layers * layer + pooler + max(mlm, classifier)


# names a config key may not have: it would replace a method, a property or our bookkeeping
_INTERNAL_NAMES = ("_extra_keys", "id2label", "label2id")


def _check_extra_key(name):
    if name.startswith("__") or name in _INTERNAL_NAMES or hasattr(SqueezeBertConfig, name):
        raise ConfigError(f"config key {name!r} is not allowed: it would replace SqueezeBertConfig's own "
                          f"{'attribute' if name.startswith('_') else 'method or property'} of that name")


def _check_nesting(name, value):
    """ConfigError if `value` nests lists/tuples/dicts more than MAX_NESTING deep (checked without recursion, so
    the check itself cannot overflow the stack; copying and writing such a value would)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, (list, tuple)):
            continue
        if depth > MAX_NESTING:
            raise ConfigError(f"config key {name!r} nests lists or objects more than {MAX_NESTING} deep")
        stack.extend((child, depth + 1) for child in item)


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _json_depth(text):
    """How deep a JSON text nests arrays and objects (brackets inside strings do not count), without parsing it:
    strings are cut out, then the running count of opening minus closing brackets is taken with NumPy."""
    codes = np.frombuffer(_JSON_STRING.sub('""', text).encode("utf-8"), np.uint8)
    is_open = (codes == ord("[")) | (codes == ord("{"))
    brackets = is_open | (codes == ord("]")) | (codes == ord("}"))
    steps = np.where(is_open[brackets], 1, -1).astype(np.int32)   # one step per bracket
    return int(steps.cumsum().max()) if steps.size else 0


def _check_num_labels(n):
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"num_labels must be a positive integer, got {_short(n)}")
    if n > MAX_SIZES["num_labels"]:
        raise ConfigError(f"num_labels must be at most {MAX_SIZES['num_labels']:,}, got {_short(n)}")


def _as_mapping(name, value):
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a dict (a JSON object), got {type(value).__name__} {_short(value)}")
    if len(value) > MAX_SIZES["num_labels"]:
        raise ConfigError(f"{name} has {len(value):,} entries; at most {MAX_SIZES['num_labels']:,} labels")
    return value


_LABEL_TYPES = (str, int, float, bool)


def _id2label(value):
    """{int id: label name}: keys are ints or strings of ints (JSON keys are strings), class indices; labels are
    JSON scalars, kept as strings (transformers keeps a number as a number; every user of the names here, e.g. nli,
    expects strings)."""
    if not _as_mapping("id2label", value):       # transformers makes a model of 0 labels from it
        raise ConfigError("id2label is empty: a model needs at least one label")
    result = {}
    for key, label in value.items():
        if isinstance(key, bool) or not isinstance(key, (int, str)):
            raise ConfigError(f"id2label keys must be integers, got {_short(key)}")
        try:
            index = int(key) if isinstance(key, int) or len(key) <= 20 else None
        except ValueError:
            index = None
        if index is None:
            raise ConfigError(f"id2label keys must be integers (or strings of integers), got {_short(key)}")
        if not 0 <= index < MAX_SIZES["num_labels"]:
            raise ConfigError(f"id2label keys are class indices in [0, {MAX_SIZES['num_labels']:,}), got {_short(key)}")
        if not isinstance(label, _LABEL_TYPES):
            raise ConfigError(f"id2label[{_short(key)}] must be a label name (a string), got {_short(label)}")
        result[index] = str(label)
    return result


def _label2id(value):
    """{label: id}, keys and values kept as given (transformers keeps label2id as it finds it); the values must be
    integers or strings, the keys JSON scalars."""
    for label, index in _as_mapping("label2id", value).items():
        if not isinstance(label, _LABEL_TYPES):
            raise ConfigError(f"label2id keys must be label names (strings), got {_short(label)}")
        if isinstance(index, bool) or not isinstance(index, (int, str)):
            raise ConfigError(f"label2id[{_short(label)}] must be an integer id, got {_short(index)}")
    return dict(value)


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
    if isinstance(value, int) and value.bit_length() > 200:     # repr of a 4300+ digit int raises ValueError
        return f"an integer of {len(format(value, 'x'))} hex digits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def write_text_atomically(path, text):
    """Write `text` as UTF-8 through a temporary file renamed onto `path`; a failure leaves no file behind."""
    data = text.encode("utf-8")
    write_atomically(path, lambda file: file.write(data))
