"""What every model class shares: building from a state dict, `from_pretrained` and `save_pretrained`.

This is transformers' PreTrainedModel cut down to what inference needs: read config.json and the weights (local
directory or hub repo id), map the keys, tie, check shapes, initialise what is missing as transformers does and say
so in one warning; write config.json + model.safetensors that transformers loads. `load_state_dict` on a built
model is torch's: what the dict lacks keeps its value.
"""
import logging
import os
import warnings

import numpy as np

from .checkpoint.state_dict import LoadingInfo, map_keys, resolve_ties, to_float32
from .errors import CheckpointError
from .nn import Module

logger = logging.getLogger("squeezebert_np")


class SqueezeBertPreTrainedModel(Module):
    base_model_prefix = "transformer"
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

    def _load(self, state_dict, rng=None, strict=False):
        """The loading rules shared by building (`rng` given: missing weights are initialised from it) and
        `load_state_dict` (`rng` None: missing weights keep their values)."""
        expected = self.state_dict()
        mapped, unexpected = map_keys(state_dict, expected.keys())
        untied = resolve_ties(mapped, self._tied_weights_keys, self.config.tie_word_embeddings)
        missing = [k for k in expected if k not in mapped]
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
        if building and missing:
            self.init_weights_all(rng, only_keys=missing, skip_ties=untied)
        elif building:
            self._tie_weights(skip=untied)
        warn_at = 4 if building else 3                     # the caller's line: the constructor, or load_state_dict
        if missing:
            what = ("were initialised randomly (as transformers does); train them before use" if building
                    else "keep their current values")
            warnings.warn(f"{type(self).__name__}: {len(missing)} weights were not in the checkpoint and {what}: "
                          f"{', '.join(missing)}", stacklevel=warn_at)
        if untied:
            warnings.warn(f"tied weights stored with different values were left untied: {', '.join(untied)}",
                          stacklevel=warn_at)
        if unexpected:
            logger.warning("%s: unused checkpoint keys: %s", type(self).__name__, ", ".join(unexpected))
        return LoadingInfo(missing_keys=missing, unexpected_keys=unexpected, untied_keys=untied)

    @classmethod
    def from_pretrained(cls, path_or_repo_id, *, config=None, revision=None, cache_dir=None, local_files_only=False,
                        token=None, seed=0, output_loading_info=False, **config_overrides):
        """Build the model from a local directory or a hub repo id: config.json plus model.safetensors (preferred),
        a sharded index, or pytorch_model.bin (read without torch). `config_overrides` (e.g. num_labels=3) change the
        config as in transformers. The files read are in `model.loading_info.files` and logged at INFO level."""
        from .checkpoint.files import load_weights
        from .config import SqueezeBertConfig
        where = dict(revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token)
        if config is None:
            config = SqueezeBertConfig.from_pretrained(path_or_repo_id, **where, **config_overrides)
        weights, files = load_weights(path_or_repo_id, **where)
        logger.info("loading weights from %s", ", ".join(files))
        model = cls(config, state_dict=weights, seed=seed)
        model.loading_info.files = list(files)
        return (model, model.loading_info) if output_loading_info else model

    def save_pretrained(self, directory, dtype="float32"):
        """Write config.json and model.safetensors (float32 or float16) that transformers' from_pretrained loads.

        Like transformers v5, a tied copy is not written twice (the decoder keys are omitted while tied), and
        config.json says `"dtype": dtype` without a v4 `torch_dtype`, whatever the source config held (see
        `SqueezeBertConfig.to_json_string`). The config is serialised first, so a value JSON cannot hold raises
        ConfigError before any file is touched; each file is written atomically.
        """
        from .checkpoint.safetensors_io import save_safetensors
        from .config import write_text_atomically
        if not isinstance(dtype, (str, np.dtype)) or dtype not in ("float32", "float16"):
            raise CheckpointError(f"save_pretrained: dtype must be 'float32' or 'float16', got {dtype!r:.80}")
        config_json = self.config.to_json_string(weights_dtype=dtype)
        sd = self.state_dict()
        for target, source in self._tied_weights_keys.items():
            if sd.get(target) is sd.get(source):
                del sd[target]
        tensors = {k: np.ascontiguousarray(v, dtype=np.dtype(dtype)) for k, v in sd.items()}
        os.makedirs(directory, exist_ok=True)
        save_safetensors(tensors, os.path.join(directory, "model.safetensors"), metadata={"format": "pt"})
        write_text_atomically(os.path.join(directory, "config.json"), config_json)
