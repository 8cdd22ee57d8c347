"""A minimal stand-in for torch.nn: modules that hold NumPy weights under transformers' names.

A Module's array attributes and sub-modules make up its state dict, exactly as in torch, so a model built from
these classes has the same keys as transformers' (`encoder.layers.0.attention.query.weight`, ...) and loading a
checkpoint is one loop. Parameters are float32. A freshly built module is initialised as transformers'
`_init_weights` does: weights ~ Normal(0, initializer_range), biases 0, LayerNorm 1 and 0.
"""
import numpy as np

from . import functional as F


class Module:
    """Holds parameters (np.ndarray attributes) and sub-modules (Module attributes or lists of them)."""
    training = False          # as torch after from_pretrained: eval mode until train() is called

    def named_parameters(self, prefix="", remove_duplicate=True):
        """(name, array) pairs. As torch's default, a tied array (one object under several names) is listed once,
        under its first name; `remove_duplicate=False` lists every name (what state_dict() holds)."""
        seen = set()
        for name, value in self._all_arrays(prefix):
            if remove_duplicate:
                if id(value) in seen:
                    continue
                seen.add(id(value))
            yield name, value

    def _all_arrays(self, prefix=""):
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray):
                yield prefix + name, value
            elif isinstance(value, Module):
                yield from value._all_arrays(f"{prefix}{name}.")
            elif isinstance(value, list) and all(isinstance(m, Module) for m in value):
                for i, m in enumerate(value):
                    yield from m._all_arrays(f"{prefix}{name}.{i}.")

    def state_dict(self):
        """{transformers key: array}; arrays shared between keys (tied weights) appear under each key."""
        return dict(self.named_parameters(remove_duplicate=False))

    def _in_parameter_order(self, grads):
        """{any parameter name: gradient} -> {named_parameters() name: gradient}, in that order: the gradients of
        names that share one array (tied weights) are summed under the name named_parameters() lists."""
        canonical = {}
        for name, value in self.named_parameters():
            canonical[id(value)] = name
        merged = {}
        for name, value in self.named_parameters(remove_duplicate=False):
            if name in grads:
                key = canonical[id(value)]
                merged[key] = grads[name] if key not in merged else merged[key] + grads[name]
        return {name: merged[name] for name in canonical.values() if name in merged}

    def train(self, mode=True):
        """Training mode (dropout on) for this module and every sub-module, as torch; returns self.

        Parameters must then be writable, as torch's always are, so that an optimizer can update them in place:
        read-only arrays (the memory maps from_pretrained hands out) are copied into memory here, once, keeping
        tied parameters one array."""
        for _, module in self.named_modules():
            module.training = bool(mode)
        if mode:
            copies = {}
            for name, value in list(self.named_parameters(remove_duplicate=False)):
                if not value.flags.writeable:
                    self.set(name, copies.setdefault(id(value), np.array(value)))
        return self

    def eval(self):
        """Inference mode (dropout off), as torch; returns self."""
        return self.train(False)

    def astype(self, dtype):
        """Convert every parameter to `dtype` in place (e.g. np.float64 for exact gradient checks; the forward and
        backward then run in that dtype end to end); tied parameters stay one array. Returns self."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"parameters must be floating point, got {dtype}")
        converted = {}
        for name, value in list(self.named_parameters(remove_duplicate=False)):
            if id(value) not in converted:
                converted[id(value)] = value.astype(dtype)
            self.set(name, converted[id(value)])
        return self

    def named_modules(self, prefix=""):
        yield prefix.rstrip("."), self
        for name, value in vars(self).items():
            if isinstance(value, Module):
                yield from value.named_modules(f"{prefix}{name}.")
            elif isinstance(value, list) and all(isinstance(m, Module) for m in value):
                for i, m in enumerate(value):
                    yield from m.named_modules(f"{prefix}{name}.{i}.")

    def get(self, key):
        """The module or array at a dotted key, e.g. "encoder.layers.3.attention.query"."""
        obj = self
        for part in key.split(".") if key else []:
            obj = obj[int(part)] if isinstance(obj, list) else getattr(obj, part)
        return obj

    def set(self, key, array):
        """Replace the parameter at a dotted key (no copy: the model keeps the array it is given)."""
        owner, _, name = key.rpartition(".")
        setattr(self.get(owner), name, array)

    def initial_values(self, rng, std):
        """transformers' `_init_weights` for this module's own parameters: {name: fresh array}."""
        return {}

    def init_weights(self, rng, std, only=None):
        """(Re)initialise this module's own parameters, or just those named in `only`."""
        for name, value in self.initial_values(rng, std).items():
            if only is None or name in only:
                setattr(self, name, value)


def prefixed(prefix, grads):
    """{name: gradient} of a sub-module, keyed from its parent: "query.weight" -> "attention.query.weight"."""
    return {prefix + name: g for name, g in grads.items()}


def _normal(rng, shape, std):
    return (rng.standard_normal(shape, dtype=np.float32) * np.float32(std)).astype(np.float32)


class Linear(Module):
    def __init__(self, in_features, out_features):
        self.weight = np.zeros((out_features, in_features), np.float32)   # [out, in], as torch stores it
        self.bias = np.zeros(out_features, np.float32)

    def initial_values(self, rng, std):
        return {"weight": _normal(rng, self.weight.shape, std), "bias": np.zeros_like(self.bias)}

    def __call__(self, x):  # [..., in] -> [..., out]
        return F.linear(x, self.weight, self.bias)


class Conv1d(Module):
    """torch.nn.Conv1d with kernel size 1 and `groups`: weight [out, in/groups, 1]."""

    def __init__(self, in_channels, out_channels, groups):
        self.groups = groups
        self.weight = np.zeros((out_channels, in_channels // groups, 1), np.float32)
        self.bias = np.zeros(out_channels, np.float32)

    def initial_values(self, rng, std):
        return {"weight": _normal(rng, self.weight.shape, std), "bias": np.zeros_like(self.bias)}

    def __call__(self, x):  # [N, in, W] -> [N, out, W]
        return F.grouped_conv1x1(x, self.weight, self.bias, self.groups)


class LayerNorm(Module):
    def __init__(self, size, eps):
        self.eps = eps
        self.weight = np.ones(size, np.float32)
        self.bias = np.zeros(size, np.float32)

    def initial_values(self, rng, std):
        return {"weight": np.ones_like(self.weight), "bias": np.zeros_like(self.bias)}

    def __call__(self, x):  # [..., C] -> [..., C]
        return F.layer_norm(x, self.weight, self.bias, self.eps)


class Embedding(Module):
    def __init__(self, num_embeddings, dim, padding_idx=None):
        self.padding_idx = padding_idx      # as in torch: only the initialisation zeroes this row
        self.weight = np.zeros((num_embeddings, dim), np.float32)

    def initial_values(self, rng, std):
        weight = _normal(rng, self.weight.shape, std)
        if self.padding_idx is not None:
            weight[self.padding_idx] = 0
        return {"weight": weight}

    def __call__(self, ids):  # [N, W] int -> [N, W, dim]
        return F.embedding(self.weight, ids)
