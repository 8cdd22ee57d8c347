"""AdamW, gradient clipping, the linear warmup schedule and gradient accumulation, as torch and transformers do them.

    opt = AdamW(model, lr=2e-5, weight_decay=0.01)        # Trainer's groups: no decay for biases and LayerNorms
    sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=10, num_training_steps=100)
    loss, grads = model.loss_and_grads(**batch, labels=labels)
    clip_grad_norm_(grads, max_norm=1.0)
    opt.step(grads)                                         # the model's arrays change in place
    sched.step()

Each piece mirrors one torch or transformers function, in the same order of operations, so that ten steps in
float64 agree with torch to rounding:
- `AdamW.step` is torch.optim.AdamW's single-tensor update (what torch runs on CPU). Per parameter with a gradient,
  step t += 1, then  p *= 1 - lr*wd;  m = lerp(m, g, 1-b1);  v = b2*v + (1-b2)*g*g;
  p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).  A parameter absent from `grads` is skipped entirely, as
  torch skips `p.grad is None` (its step count does not advance).
- The default parameter groups are transformers' Trainer's: weight decay for the names `decay_parameter_names`
  returns, 0.0 for the rest (biases, LayerNorm weights).
- `clip_grad_norm_` is torch.nn.utils.clip_grad_norm_: one L2 norm over all gradients; every gradient is multiplied
  by min(1, max_norm / (norm + 1e-6)).
- `get_linear_schedule_with_warmup` is transformers' (a LambdaLR): lr = base_lr * step/W during W warmup steps, then
  base_lr * max(0, (T-step)/(T-W)). As in torch, the factor for step 0 is applied at construction, so with warmup
  the first update uses lr 0.
- Gradient accumulation (`add_grads`): the Trainer divides each micro-batch loss by the number of micro-batches and
  lets backward() sum the gradients; here that is a scaled sum of the gradient dicts.
"""
import math
import re

import numpy as np

from .errors import TrainingError
from .nn import LayerNorm

# transformers' Trainer.get_decay_parameter_names: these names (lower-cased) get no weight decay
NO_DECAY_PATTERNS = (r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)")


def unique_parameters(params):
    """({name: array} with each shared (tied) array once, {every name: that name}) for a model or a {name: array}
    dict. A tied array goes under transformers' name: the source of the model's `_tied_weights_keys`, else the
    first name listed."""
    named = list(params.named_parameters() if hasattr(params, "named_parameters") else params.items())
    tied_targets = set(getattr(params, "_tied_weights_keys", {}))
    names_of_id = {}
    for name, array in named:
        names_of_id.setdefault(id(array), (array, []))[1].append(name)
    primary, alias = {}, {}
    for array, names in names_of_id.values():
        first = next((n for n in names if n not in tied_targets), names[0])
        primary[first] = array
        alias.update(dict.fromkeys(names, first))
    return primary, alias


def decay_parameter_names(params):
    """Names that get weight decay under transformers' Trainer: not in a LayerNorm module, no pattern of
    NO_DECAY_PATTERNS in the name. `params` is a model or a {name: array} dict (then only the patterns apply)."""
    in_layer_norm = set()
    if hasattr(params, "named_modules"):
        for module_name, module in params.named_modules():
            if isinstance(module, LayerNorm):
                in_layer_norm.update(f"{module_name}.{p}" for p, v in vars(module).items()
                                     if isinstance(v, np.ndarray))
    names, _ = unique_parameters(params)
    return [n for n in names
            if n not in in_layer_norm and not any(re.search(p, n.lower()) for p in NO_DECAY_PATTERNS)]


def _check_hyperparameters(lr, betas, eps, weight_decay):
    """torch.optim.AdamW's checks, as our own error."""
    for name, value, ok in (("lr", lr, lambda v: v >= 0), ("eps", eps, lambda v: v >= 0),
                            ("weight_decay", weight_decay, lambda v: v >= 0),
                            ("betas[0]", betas[0], lambda v: 0 <= v < 1), ("betas[1]", betas[1], lambda v: 0 <= v < 1)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not ok(value):
            allowed = "in [0, 1)" if name.startswith("betas") else ">= 0"
            raise TrainingError(f"AdamW: {name} must be a finite number {allowed}, got {value!r}")


def adamw_update(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps, weight_decay, scratch):
    """One torch.optim.AdamW update of `param` in place (step = the count after this update, from 1).
    All arrays have the parameter's shape; `scratch` is a buffer of that shape that is overwritten."""
    if weight_decay != 0:
        param *= 1 - lr * weight_decay                       # decoupled weight decay
    np.subtract(grad, exp_avg, out=scratch)                  # m = lerp(m, g, 1 - b1) = m + (1-b1) (g - m)
    scratch *= 1 - beta1
    exp_avg += scratch
    exp_avg_sq *= beta2                                      # v = b2 v + (1-b2) g g
    np.multiply(grad, 1 - beta2, out=scratch)
    scratch *= grad
    exp_avg_sq += scratch
    step_size = lr / (1 - beta1 ** step)
    np.sqrt(exp_avg_sq, out=scratch)                         # denom = sqrt(v) / sqrt(1 - b2^t) + eps
    scratch /= (1 - beta2 ** step) ** 0.5
    scratch += eps
    np.divide(exp_avg, scratch, out=scratch)                 # p += -step_size * (m / denom)
    scratch *= -step_size
    param += scratch


class AdamW:
    """torch.optim.AdamW over a model's parameters (or a {name: array} dict), updating them in place.

    `param_groups=None` gives transformers' Trainer's two groups (weight_decay for `decay_parameter_names`, 0.0 for
    biases and LayerNorm weights). Pass torch-style groups to choose: `[{"params": [names], "weight_decay": 0.1}]`;
    a group's missing settings take the constructor's values. Defaults are the Trainer's (lr 5e-5, no decay).

    The parameters are replaced by writable copies first (checkpoint arrays may be read-only memory maps, and the
    caller's state dict must not change under it); arrays shared between names (tied weights) stay one array.
    """

    def __init__(self, params, lr=5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, param_groups=None):
        _check_hyperparameters(lr, tuple(betas), eps, weight_decay)
        self.defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        self._owner = params
        self._own_parameters_writable()
        self.params, self._alias = unique_parameters(params)
        if param_groups is None:
            decay = set(decay_parameter_names(params))
            param_groups = [{"params": [n for n in self.params if n in decay], "weight_decay": weight_decay},
                            {"params": [n for n in self.params if n not in decay], "weight_decay": 0.0}]
        self.param_groups = [self._make_group(g) for g in param_groups]
        self._group_of = {}
        for i, group in enumerate(self.param_groups):
            for name in group["params"]:
                if name in self._group_of:
                    raise TrainingError(f"AdamW: parameter {name!r} is in more than one parameter group")
                self._group_of[name] = i
        self.state = {}                                       # name -> {"step", "exp_avg", "exp_avg_sq"}

    def _make_group(self, group):
        if "params" not in group:
            raise TrainingError("AdamW: a parameter group needs 'params' (a list of parameter names)")
        unknown = [k for k in group if k not in ("params", *self.defaults, "initial_lr")]
        if unknown:
            raise TrainingError(f"AdamW: unknown parameter group setting(s) {unknown}")
        out = {**self.defaults, **group}
        out["betas"] = tuple(out["betas"])
        _check_hyperparameters(out["lr"], out["betas"], out["eps"], out["weight_decay"])
        names = []
        for name in group["params"]:
            if name not in self._alias:
                raise TrainingError(f"AdamW: a parameter group names {name!r}, which is not a parameter")
            names.append(self._alias[name])
        out["params"] = names
        return out

    def _own_parameters_writable(self):
        """Replace every parameter array by a writable copy of its own, tied names sharing one copy: checkpoint
        arrays may be read-only memory maps, and arrays the caller still holds (a state dict) must not change."""
        items = (self._owner.state_dict() if hasattr(self._owner, "state_dict") else dict(self._owner)).items()
        keys_of = {}
        for key, array in items:
            keys_of.setdefault(id(array), (array, []))[1].append(key)
        for array, keys in keys_of.values():
            copy = np.array(array, order="C")
            for key in keys:
                if hasattr(self._owner, "set"):
                    self._owner.set(key, copy)
                else:
                    self._owner[key] = copy

    def _resolve(self, grads):
        """{primary name: gradient} after checking names and shapes."""
        resolved = {}
        for key, grad in grads.items():
            if key not in self._alias:
                raise TrainingError(f"AdamW.step: gradient for {key!r}, which is not a parameter of the model")
            name = self._alias[key]
            if name in resolved:
                raise TrainingError(f"AdamW.step: two gradients for the tied parameter {name!r} (give one)")
            if name not in self._group_of:
                continue                                      # not optimised, as a tensor outside every group
            grad = np.asarray(grad)
            if grad.shape != self.params[name].shape:
                raise TrainingError(f"AdamW.step: gradient for {key!r} has shape {grad.shape}, "
                                    f"the parameter has {self.params[name].shape}")
            resolved[name] = grad
        return resolved

    CHUNK = 1 << 15     # elements updated at a time: the update's ~14 passes then run in cache, not in memory

    def step(self, grads):
        """One AdamW update of every parameter that has a gradient in `grads` ({name: array}), in place."""
        grads = self._resolve(grads)
        buffers = {}
        for name, grad in grads.items():
            param = self.params[name]
            group = self.param_groups[self._group_of[name]]
            state = self.state.get(name)
            if state is None:
                state = self.state[name] = {"step": 0, "exp_avg": np.zeros_like(param),
                                            "exp_avg_sq": np.zeros_like(param)}
            state["step"] += 1
            beta1, beta2 = group["betas"]
            if not (param.flags.c_contiguous and param.flags.writeable):
                raise TrainingError(f"AdamW.step: parameter {name!r} was replaced by a read-only or strided array "
                                    "after the optimizer was made; make the optimizer after changing the model")
            scratch = buffers.setdefault(param.dtype, np.empty(self.CHUNK, param.dtype))
            flat = [a.reshape(-1) for a in (param, np.ascontiguousarray(grad, param.dtype), state["exp_avg"],
                                            state["exp_avg_sq"])]
            for begin in range(0, param.size, self.CHUNK):       # elementwise: chunks give the same numbers
                end = min(begin + self.CHUNK, param.size)
                p, g, m, v = (a[begin:end] for a in flat)
                adamw_update(p, g, m, v, state["step"], group["lr"], beta1, beta2, group["eps"],
                             group["weight_decay"], scratch[:end - begin])

    def state_dict(self):
        """{"state": {name: {"step", "exp_avg", "exp_avg_sq"}}, "param_groups": [...]}, torch's layout keyed by
        parameter name (the arrays are the optimizer's own, not copies)."""
        return {"state": {name: dict(s) for name, s in self.state.items()},
                "param_groups": [{**g, "params": list(g["params"])} for g in self.param_groups]}

    def load_state_dict(self, state_dict):
        """Restore what `state_dict` returned (arrays are copied; names and shapes are checked first)."""
        groups = state_dict.get("param_groups") if isinstance(state_dict, dict) else None
        if not isinstance(groups, list) or len(groups) != len(self.param_groups):
            raise TrainingError("AdamW.load_state_dict: the state has a different number of parameter groups")
        for mine, theirs in zip(self.param_groups, groups):
            if list(theirs.get("params", ())) != mine["params"]:
                raise TrainingError("AdamW.load_state_dict: the parameter groups hold different parameters")
        state = {}
        for name, s in state_dict.get("state", {}).items():
            if name not in self.params:
                raise TrainingError(f"AdamW.load_state_dict: state for {name!r}, which is not a parameter")
            shape, dtype = self.params[name].shape, self.params[name].dtype
            arrays = {k: np.asarray(s[k]) for k in ("exp_avg", "exp_avg_sq")}
            if any(a.shape != shape for a in arrays.values()):
                raise TrainingError(f"AdamW.load_state_dict: state for {name!r} does not have shape {shape}")
            step = int(s["step"])
            if step < 0:
                raise TrainingError(f"AdamW.load_state_dict: negative step for {name!r}")
            state[name] = {"step": step, **{k: np.array(a, dtype=dtype) for k, a in arrays.items()}}
        new_groups = []
        for mine, theirs in zip(self.param_groups, groups):
            new_groups.append(self._make_group({k: v for k, v in theirs.items()}))
        self.param_groups, self.state = new_groups, state


def clip_grad_norm_(grads, max_norm):
    """torch.nn.utils.clip_grad_norm_ on a {name: gradient} dict: scales every gradient in place by
    min(1, max_norm / (total + 1e-6)) and returns total, the L2 norm of all gradients together (as a float)."""
    if isinstance(max_norm, bool) or not isinstance(max_norm, (int, float)) or not max_norm > 0:
        raise TrainingError(f"max_norm must be a positive number, got {max_norm!r}")
    norms = [np.linalg.norm(g.reshape(-1)) for g in grads.values()]            # each tensor's norm, then theirs
    total = float(np.linalg.norm(np.array(norms, dtype=np.result_type(*grads.values())))) if norms else 0.0
    coef = min(max_norm / (total + 1e-6), 1.0)
    for g in grads.values():
        g *= coef
    return total


def add_grads(total, grads, scale=1.0):
    """Gradient accumulation: total[name] += scale * grads[name] (a new array the first time); returns total."""
    for name, g in grads.items():
        if name in total:
            total[name] += scale * g
        else:
            total[name] = scale * g if scale != 1.0 else np.array(g)
    return total


class LambdaLR:
    """torch.optim.lr_scheduler.LambdaLR: each group's lr = its initial lr * lr_lambda(number of step() calls)."""

    def __init__(self, optimizer, lr_lambda):
        self.optimizer, self.lr_lambda = optimizer, lr_lambda
        self.base_lrs = [g.setdefault("initial_lr", g["lr"]) for g in optimizer.param_groups]
        self.last_epoch = -1
        self.step()

    def step(self):
        self.last_epoch += 1
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base_lr * self.lr_lambda(self.last_epoch)

    def get_last_lr(self):
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self):
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state_dict):
        self.last_epoch, self.base_lrs = int(state_dict["last_epoch"]), list(state_dict["base_lrs"])
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["initial_lr"] = base_lr
            group["lr"] = base_lr * self.lr_lambda(self.last_epoch)


def linear_warmup_factor(step, num_warmup_steps, num_training_steps):
    """transformers' _get_linear_schedule_with_warmup_lr_lambda."""
    if step < num_warmup_steps:
        return float(step) / float(max(1, num_warmup_steps))
    return max(0.0, float(num_training_steps - step) / float(max(1, num_training_steps - num_warmup_steps)))


def get_linear_schedule_with_warmup(optimizer, num_warmup_steps, num_training_steps):
    """lr rises linearly from 0 over `num_warmup_steps`, then falls linearly to 0 at `num_training_steps`."""
    for name, value in (("num_warmup_steps", num_warmup_steps), ("num_training_steps", num_training_steps)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise TrainingError(f"{name} must be a non-negative integer, got {value!r}")
    return LambdaLR(optimizer, lambda step: linear_warmup_factor(step, num_warmup_steps, num_training_steps))
