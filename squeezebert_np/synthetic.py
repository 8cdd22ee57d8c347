"""Deterministic stand-in checkpoints: official-layout state dicts filled from a seed.

The hub is out of reach on the machines where this project is tested, so the golden files, the differential tests,
the notebooks and the benchmarks run on checkpoints made here: every key and shape of the real thing, values drawn
from a seeded generator (the same numbers on every machine: NumPy's PCG64 stream is stable). The values are larger
than transformers' initialisation (std 0.02) so that every layer does visible work and parity checks are not trivial.
They are not trained: fill-mask answers from them are noise.
"""
import zlib

import numpy as np

from .heads import SqueezeBertForMaskedLM


def synthetic_value(key, shape, seed):
    """A float32 array for one checkpoint key, from a generator seeded by (seed, crc32(key))."""
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    noise = rng.standard_normal(shape, dtype=np.float32)
    if key.lower().endswith("layernorm.weight"):
        return 1 + 0.2 * noise                       # LayerNorm gains around 1
    if key.endswith("bias"):
        return 0.1 * noise
    if "embeddings" in key:
        return 0.05 * noise                          # word rows double as the MLM decoder: logits O(1)
    fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return noise * np.float32(1 / np.sqrt(fan_in))     # unit gain: activations stay O(1) through the layers


def synthetic_state_dict(config, model_class=SqueezeBertForMaskedLM, seed=0):
    """{transformers key: float32 array} for `model_class` under `config`; tied keys share one array.

    A key's values do not depend on the head: `transformer.x` in a head model equals `x` in the base model.
    """
    shapes = {k: v.shape for k, v in model_class(config, state_dict=model_class.BUILD_ONLY).state_dict().items()}
    sd = {}
    for key, shape in shapes.items():
        base_key = key[len("transformer."):] if key.startswith("transformer.") else key
        sd[key] = synthetic_value(base_key, shape, seed)
    for target, source in model_class._tied_weights_keys.items():
        if target in sd and config.tie_word_embeddings:
            sd[target] = sd[source]
    return sd
