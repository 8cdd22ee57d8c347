"""What every model class shares: building from a state dict, `from_pretrained` and `save_pretrained`.

This is transformers' PreTrainedModel cut down to what inference and fine-tuning need: read config.json and the
weights (local directory or hub repo id, or a subfolder of either), map the keys, tie, check shapes (or re-initialise
the mismatched ones), initialise what is missing as transformers does and say so in one warning; write config.json +
model.safetensors that transformers loads. `load_state_dict` on a built model is torch's: what the dict lacks keeps
its value. The accessors fine-tuning code uses (`base_model`, `get_input_embeddings`, `resize_token_embeddings`,
`num_parameters`, ...) behave as transformers' do.
"""
import copy
import logging
import os
import warnings
from collections.abc import Mapping

import numpy as np

from .checkpoint.state_dict import LoadingInfo, map_keys, resolve_ties, to_float32
from .errors import CheckpointError, ConfigError, UnexpectedArgumentError
from .nn import Embedding, Module

logger = logging.getLogger("squeezebert_np")


class SqueezeBertPreTrainedModel(Module):
    base_model_prefix = "transformer"
    main_input_name = "input_ids"
    _tied_weights_keys = {}        # target key -> source key (the MLM head ties its decoder)
    BUILD_ONLY = "build only"      # as state_dict: build the modules and set no weights (parameters stay zero pages)

    def _post_init(self, state_dict, seed):
        """Tie, then either initialise every weight (no state dict) or load the given one, initialising what it
        lacks (seeded), as transformers' from_pretrained does."""
        self._tie_weights()
        if state_dict is self.BUILD_ONLY:
            self.loading_info = LoadingInfo()
        elif state_dict is None:
            self.init_weights_all(np.random.default_rng(seed))
            self.loading_info = LoadingInfo()
        else:
            self.loading_info = self._load(state_dict, rng=np.random.default_rng(seed))

    def _tie_weights(self, skip=()):
        """Make each tied target the same array as its source; tie_word_embeddings=False unties them all, as in
        transformers 5.24 (the decoder then has its own weight and bias)."""
        if not self.config.tie_word_embeddings:
            return
        for target, source in self._tied_weights_keys.items():
            if target in skip:
                continue
            self.set(target, self.get(source))

    def init_weights_all(self, rng, only_keys=None, skip_ties=()):
        """transformers' `_init_weights` on every parameter, or on `only_keys`; tied partners stay tied."""
        std = self.config.initializer_range
        wanted = None if only_keys is None else set(only_keys)
        for name, module in self.named_modules():
            own = [k for k, v in vars(module).items() if isinstance(v, np.ndarray)]
            keys = {p: f"{name}.{p}" if name else p for p in own}
            chosen = [p for p, key in keys.items() if wanted is None or key in wanted]
            if chosen:
                module.init_weights(rng, std, only=set(chosen))
        self._tie_weights(skip=skip_ties)

    def load_state_dict(self, state_dict, *, strict=False):
        """Load (part of) a checkpoint into this model, as torch's `Module.load_state_dict`; returns LoadingInfo.

        Keys are mapped and tied as in `from_pretrained` (checkpoint/state_dict.py). A weight the dict lacks keeps
        its current value (torch's `strict=False`); it is listed in `missing_keys` and in one warning.
        With `strict=True`, missing or unexpected keys raise CheckpointError instead, as torch raises; the default
        stays False (torch's is True) so that loading a head or a partial update needs no flag. Keys the loading
        rules drop on purpose (`position_ids`, `cls.seq_relationship.*`) and tied copies filled from their partner
        are not counted as either. Nothing is changed unless every array fits.
        """
        return self._load(state_dict, strict=strict)

    def _load(self, state_dict, rng=None, strict=False, ignore_mismatched_sizes=False, warn_at=None):
        """The loading rules shared by building (`rng` given: missing weights are initialised from it) and
        `load_state_dict` (`rng` None: missing weights keep their values). With `ignore_mismatched_sizes`, a weight
        whose shape differs from the model's is dropped and initialised like a missing one (transformers' option)."""
        if not isinstance(state_dict, Mapping) or not all(isinstance(key, str) for key in state_dict):
            raise CheckpointError(f"a state dict maps parameter names (strings) to arrays; got a "
                                  f"{type(state_dict).__name__}" + (" with non-string keys"
                                                                     if isinstance(state_dict, Mapping) else ""))
        expected = self.state_dict()
        mapped, unexpected = map_keys(state_dict, expected.keys())
        mismatched = [(k, tuple(np.shape(v)), tuple(expected[k].shape)) for k, v in mapped.items()
                      if tuple(np.shape(v)) != tuple(expected[k].shape)]
        if mismatched and not ignore_mismatched_sizes:
            raise CheckpointError(f"{type(self).__name__}: the checkpoint's shapes differ from the config's: "
                                  + "; ".join(f"{k} is {c} in the checkpoint, {m} in the model" for k, c, m in mismatched)
                                  + ". Was it made with another config? To re-initialise these weights (e.g. a "
                                  "classifier for another number of labels), load with from_pretrained(..., "
                                  "ignore_mismatched_sizes=True)")
        for key, _, _ in mismatched:
            del mapped[key]
        untied = resolve_ties(mapped, self._tied_weights_keys, self.config.tie_word_embeddings)
        mismatched_names = {k for k, _, _ in mismatched}
        if self.config.tie_word_embeddings:               # a tied copy of a mismatched weight follows it (transformers)
            mismatched_names |= {t for t, source in self._tied_weights_keys.items() if source in mismatched_names}
        to_init = [k for k in expected if k not in mapped]
        missing = [k for k in to_init if k not in mismatched_names]
        if strict and (missing or unexpected):
            raise CheckpointError(f"{type(self).__name__}.load_state_dict(strict=True): "
                                  f"missing keys: {', '.join(missing) or 'none'}; "
                                  f"unexpected keys: {', '.join(unexpected) or 'none'}")
        converted = {}   # id(file array) -> float32 array: keys that share an array in the file stay one object
        for key, array in mapped.items():                  # every shape is checked before anything is set
            if id(array) not in converted:
                converted[id(array)] = to_float32(key, array, expected[key].shape)
        for key, array in mapped.items():
            self.set(key, converted[id(array)])
        building = rng is not None
        if building and to_init:
            self.init_weights_all(rng, only_keys=to_init, skip_ties=untied)
        elif building:
            self._tie_weights(skip=untied)
        if warn_at is None:
            warn_at = 4 if building else 3                 # the caller's line: the constructor, or load_state_dict
        if missing:
            what = ("were initialised randomly (as transformers does); train them before use" if building
                    else "keep their current values")
            warnings.warn(f"{type(self).__name__}: {len(missing)} weights were not in the checkpoint and {what}: "
                          f"{', '.join(missing)}", stacklevel=warn_at)
        if mismatched:
            what = ("were initialised randomly (ignore_mismatched_sizes=True); train them before use" if building
                    else "keep their current values")
            warnings.warn(f"{type(self).__name__}: {len(mismatched)} weights have another shape in the checkpoint and "
                          f"{what}: " + ", ".join(f"{k} (checkpoint {c}, model {m})" for k, c, m in mismatched),
                          stacklevel=warn_at)
        if untied:
            warnings.warn(f"tied weights stored with different values were left untied: {', '.join(untied)}",
                          stacklevel=warn_at)
        if unexpected:
            logger.warning("%s: unused checkpoint keys: %s", type(self).__name__, ", ".join(unexpected))
        return LoadingInfo(missing_keys=missing, unexpected_keys=unexpected, untied_keys=untied,
                           mismatched_keys=mismatched)

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, /, *, config=None, state_dict=None, subfolder="",
                        revision=None, cache_dir=None, local_files_only=False, token=None, seed=0,
                        output_loading_info=False, ignore_mismatched_sizes=False, **kwargs):
        """Build the model from a local directory or a hub repo id (or `subfolder` of either): config.json plus
        model.safetensors (preferred), a sharded index, or pytorch_model.bin (read without torch).

        As in transformers: keywords that are config fields (e.g. num_labels=5) change the config read from the
        folder, and any other keyword is refused (UnexpectedArgumentError, a TypeError); with `config=` given, every
        extra keyword is refused. `dtype` (or v4's `torch_dtype`) may be "auto" or float32, what we compute in;
        anything else is refused. The model gets a copy of `config`. `state_dict` (a dict of arrays) is used instead
        of the folder's weight files; `from_pretrained(None, config=..., state_dict=...)` needs no folder at all.
        `ignore_mismatched_sizes=True` re-initialises weights whose shape differs from the config's (a classifier
        for another number of labels) and names them in a warning. `output_loading_info=True` returns
        `(model, info)`, info as transformers' dict of sets; `model.loading_info` keeps the details (and `files`,
        the files read, also logged at INFO level).
        """
        from .checkpoint.files import load_weights
        from .config import SqueezeBertConfig
        for name in ("dtype", "torch_dtype"):                # transformers' dtype option: float32 is what we compute in
            if name in kwargs and not _is_float32(kwargs.pop(name)):
                raise ConfigError(f"{name}: squeezebert_np computes in float32 only (fp16/bf16 checkpoints are "
                                  "upcast on load); pass dtype='float32' or 'auto', or leave it out")
        where = dict(revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token)
        path = pretrained_model_name_or_path
        if path is None and (config is None or state_dict is None):
            raise ConfigError("from_pretrained(None, ...) needs both config= and state_dict= (there is no folder to "
                              "read them from)")
        if config is not None:
            if kwargs:
                raise UnexpectedArgumentError(
                    f"{cls.__name__}.from_pretrained() got unexpected keyword arguments {sorted(kwargs)}: with "
                    "config= given, set config fields on the config itself")
            if not isinstance(config, SqueezeBertConfig):
                raise ConfigError(f"config must be a SqueezeBertConfig, got {type(config).__name__}")
            config = copy.deepcopy(config)
        else:
            config, unused = SqueezeBertConfig.from_pretrained(path, subfolder=subfolder, return_unused_kwargs=True,
                                                               **where, **kwargs)
            if unused:
                raise UnexpectedArgumentError(
                    f"{cls.__name__}.from_pretrained() got unexpected keyword arguments {sorted(unused)}: they are "
                    "neither options of from_pretrained nor fields of the config")
        files = []
        if state_dict is None:
            state_dict, files = load_weights(path, subfolder=subfolder, **where)
            logger.info("loading weights from %s", ", ".join(files))
        model = cls(config, state_dict=cls.BUILD_ONLY)
        model.loading_info = model._load(state_dict, rng=np.random.default_rng(seed),
                                         ignore_mismatched_sizes=ignore_mismatched_sizes, warn_at=3)
        model.loading_info.files = list(files)
        return (model, model.loading_info.to_dict()) if output_loading_info else model

    # ---- the accessors transformers' PreTrainedModel offers ----

    @property
    def base_model(self):
        """The SqueezeBertModel inside a head model (`self.transformer`); the model itself if it is one."""
        return getattr(self, self.base_model_prefix, self)

    def get_input_embeddings(self):
        """The word embeddings (an `nn.Embedding`: `.weight` is [vocab_size, embedding_size])."""
        return self.base_model.embeddings.word_embeddings

    def set_input_embeddings(self, new_embeddings):
        """Replace the word embeddings with an `nn.Embedding` of width embedding_size. As in transformers, the
        config and a tied decoder are not changed: call `tie_weights()` to tie again."""
        if not isinstance(new_embeddings, Embedding):
            raise ConfigError(f"set_input_embeddings needs an nn.Embedding, got {type(new_embeddings).__name__}")
        width = self.config.embedding_size
        if new_embeddings.weight.ndim != 2 or new_embeddings.weight.shape[1] != width:
            raise ConfigError(f"the new embeddings must be [num_embeddings, {width}], got "
                              f"{new_embeddings.weight.shape}")
        self.base_model.embeddings.word_embeddings = new_embeddings

    def get_output_embeddings(self):
        """The layer producing vocabulary logits: None here, the MLM decoder in SqueezeBertForMaskedLM."""
        return None

    def resize_token_embeddings(self, new_num_tokens=None, pad_to_multiple_of=None, mean_resizing=True, seed=0):
        """Give the word embeddings `new_num_tokens` rows (rounded up to a multiple of `pad_to_multiple_of`), as
        transformers does: the first rows are kept, rows are cut from the end or added there, and
        `config.vocab_size` follows; the MLM decoder and its bias are resized with them (and tied again).

        New rows, as transformers 5.24 initialises them (`seed`: our generator's seed): with `mean_resizing`
        (default), drawn from a normal with the old rows' mean and 1e-9 times their covariance (just the mean if
        that covariance is not positive definite); an untied decoder's rows likewise and its new biases the old
        biases' mean (+ 1e-9 of their std); a tied decoder's new biases are 0 (transformers' tie pads them with
        zeros). Without mean resizing: Normal(0, initializer_range) rows and zero biases. Returns the input
        embeddings.
        """
        from .config import MAX_SIZES
        embeddings = self.get_input_embeddings()
        if pad_to_multiple_of is not None:
            if not isinstance(pad_to_multiple_of, int) or isinstance(pad_to_multiple_of, bool) \
                    or not 1 <= pad_to_multiple_of <= MAX_SIZES["vocab_size"]:
                raise ConfigError(f"pad_to_multiple_of must be an integer in [1, {MAX_SIZES['vocab_size']:,}], "
                                  f"got {pad_to_multiple_of!r}")
            n = embeddings.weight.shape[0] if new_num_tokens is None else new_num_tokens
            if isinstance(n, int) and not isinstance(n, bool):
                new_num_tokens = -(-n // pad_to_multiple_of) * pad_to_multiple_of
        if new_num_tokens is None:
            return embeddings
        if not isinstance(new_num_tokens, int) or isinstance(new_num_tokens, bool) \
                or not 1 <= new_num_tokens <= MAX_SIZES["vocab_size"]:
            raise ConfigError(f"new_num_tokens must be an integer in [1, {MAX_SIZES['vocab_size']:,}], "
                              f"got {new_num_tokens!r}")
        pad = self.config.pad_token_id
        if pad is not None and new_num_tokens <= pad:
            raise ConfigError(f"new_num_tokens={new_num_tokens} would drop the padding row (pad_token_id={pad})")
        rng = np.random.default_rng(seed)
        init = self.config.initializer_range
        old_weight = embeddings.weight
        embeddings.weight = resized_rows(old_weight, new_num_tokens, rng, mean_resizing, init)
        decoder = self.get_output_embeddings()
        if decoder is not None:
            if decoder.weight is old_weight:       # tied: transformers' tie pads the bias with zeros (or cuts it)
                decoder.bias = resized_bias(decoder.bias, new_num_tokens, rng, mean_resizing=False)
            else:
                decoder.weight = resized_rows(decoder.weight, new_num_tokens, rng, mean_resizing, init)
                decoder.bias = resized_bias(decoder.bias, new_num_tokens, rng, mean_resizing)
            self.set_output_embeddings(decoder)
        self.config.vocab_size = new_num_tokens
        self.tie_weights()
        return embeddings

    def tie_weights(self):
        """Tie the MLM decoder to the word embeddings again (nothing if tie_word_embeddings is False)."""
        self._tie_weights()

    def num_parameters(self, only_trainable=False, exclude_embeddings=False):
        """The number of parameters, each shared (tied) array counted once, as torch's `parameters()` does.
        `exclude_embeddings`: leave out the weights of the three embedding tables. Every parameter is trainable
        here, so `only_trainable` changes nothing."""
        seen, total = set(), 0
        for name, module in self.named_modules():
            for attr, value in vars(module).items():
                if not isinstance(value, np.ndarray) or id(value) in seen:
                    continue
                seen.add(id(value))
                if not (exclude_embeddings and isinstance(module, Embedding) and attr == "weight"):
                    total += value.size
        return total

    def save_pretrained(self, directory, dtype="float32"):
        """Write config.json and model.safetensors (float32 or float16) that transformers' from_pretrained loads.

        Like transformers v5, a tied copy is not written twice (the decoder keys are omitted while tied), and
        config.json says `"dtype": dtype` without a v4 `torch_dtype`, whatever the source config held (see
        `SqueezeBertConfig.to_json_string`). The config is serialised first, so a value JSON cannot hold raises
        ConfigError before any file is touched; each file is written atomically.
        """
        from .checkpoint.safetensors_io import make_folder, save_safetensors
        from .config import write_text_atomically
        try:
            dtype = np.dtype(dtype).name                     # "float32", np.float16, "f4", ... -> the name
        except (TypeError, ValueError):
            dtype = repr(dtype)[:60]
        if dtype not in ("float32", "float16"):
            raise CheckpointError(f"save_pretrained: dtype must be 'float32' or 'float16', got {dtype} (bfloat16: "
                                  "NumPy has no such type; save float32 and convert with torch if you need it)")
        config_json = self.config.to_json_string(weights_dtype=dtype)
        sd = self.state_dict()
        for target, source in self._tied_weights_keys.items():
            if self.config.tie_word_embeddings and sd.get(target) is sd.get(source):
                del sd[target]
        tensors = {k: np.ascontiguousarray(v, dtype=np.dtype(dtype)) for k, v in sd.items()}
        make_folder(directory)
        save_safetensors(tensors, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})
        write_text_atomically(os.path.join(directory, "config.json"), config_json)


def _is_float32(dtype):
    """"auto", "float32", "torch.float32", torch.float32 or np.float32: what from_pretrained's dtype may say."""
    return str(dtype).removeprefix("torch.") in ("auto", "float32", "<class 'numpy.float32'>")


def resized_rows(weight, n, rng, mean_resizing, std):  # [V, C] -> [n, C]
    """transformers' `_get_resized_embeddings` on an array: keep min(V, n) rows, add new ones at the end."""
    old = weight.shape[0]
    if n <= old:
        return weight[:n].copy()
    added = n - old
    if mean_resizing:
        w = weight.astype(np.float32)
        mean = w.mean(axis=0)                                          # [C]
        centered = w - mean
        covariance = centered.T @ centered / np.float32(old)           # [C, C], as torch computes it
        try:
            chol = np.linalg.cholesky(np.float32(1e-9) * covariance)   # torch's positive-definite check
            new_rows = mean + rng.standard_normal((added, w.shape[1]), dtype=np.float32) @ chol.T
        except np.linalg.LinAlgError:
            new_rows = np.broadcast_to(mean, (added, w.shape[1]))      # not positive definite: the mean
    else:
        new_rows = rng.standard_normal((added, weight.shape[1]), dtype=np.float32) * np.float32(std)
    return np.concatenate([weight, new_rows.astype(np.float32)])


def resized_bias(bias, n, rng, mean_resizing):  # [V] -> [n]
    """transformers' `_init_added_lm_head_bias_with_mean`: new entries ~ Normal(mean, 1e-9 * std) of the old
    (zeros without mean resizing)."""
    old = bias.shape[0]
    if n <= old:
        return bias[:n].copy()
    if mean_resizing:
        std = np.float32(bias.std(ddof=1)) if old > 1 else np.float32(0)   # torch.std is the unbiased one
        added = bias.mean(dtype=np.float32) + np.float32(1e-9) * std * rng.standard_normal(n - old, dtype=np.float32)
    else:
        added = np.zeros(n - old, np.float32)
    return np.concatenate([bias, added.astype(np.float32)])
