"""What the notebooks in `notebooks/` share: where the repository is, where the optional official weights are, and
the architecture drawn from a model object.

The notebooks find the repository's files (`tests/golden/`, `weights/`) from this package's location, never from
the current directory, so `python notebooks/05_model_vs_pytorch.py`, Jupyter opened anywhere and a hosted notebook
service all find the same files. That needs the package imported from a checkout (`pip install -e .`, or the checkout
on `sys.path`); an installed copy in site-packages has no repository around it and gets a CourseError saying so.
"""
import os

import numpy as np

from .errors import CourseError

# ---------------------------------------------------------------------------------------------------------------
# paths
# ---------------------------------------------------------------------------------------------------------------

_MARKERS = ("notebooks", os.path.join("tests", "golden"))     # what a checkout of this repository has at its root


def repository():
    """The root of the checkout this package was imported from, e.g. /home/me/squeezebert_np."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not all(os.path.isdir(os.path.join(root, m)) for m in _MARKERS):
        raise CourseError(f"the notebooks need the repository's files, but squeezebert_np was imported from {root}, "
                          "which is not a checkout (no notebooks/ and tests/golden/ there): clone the repository "
                          "and install it with `pip install -e .` from its root")
    return root


def repo_path(*parts):
    """A path inside the repository: repo_path("tests", "golden", "meta.json")."""
    return os.path.join(repository(), *parts)


def weights_dir():
    """Where the optional official weights are: $SQUEEZEBERT_DIR, else weights/ at the repository's root."""
    return os.environ.get("SQUEEZEBERT_DIR") or repo_path("weights")


def official(name):
    """The folder of an official checkpoint (e.g. "squeezebert-uncased") if it is there, else None."""
    path = os.path.join(weights_dir(), name)
    return path if os.path.isdir(path) else None


# ---------------------------------------------------------------------------------------------------------------
# the architecture, drawn from the model itself
# ---------------------------------------------------------------------------------------------------------------

def _describe(module, n, w):
    """One line for a module that holds weights: its kind, groups, the shapes in and out, its parameter count."""
    kind = type(module).__name__
    count = sum(a.size for _, a in module.named_parameters())
    if kind == "Conv1d":
        out, per_group, _ = module.weight.shape                       # [Cout, Cin/g, 1]
        cin = per_group * module.groups
        return f"Conv1d {cin}->{out} groups={module.groups}  [{n}, {cin}, {w}] -> [{n}, {out}, {w}]", count
    if kind == "Linear":
        out, cin = module.weight.shape                                # [Cout, Cin]
        return f"Linear {cin}->{out}  [{n}, {cin}] -> [{n}, {out}]", count
    if kind == "Embedding":
        rows, dim = module.weight.shape
        return f"Embedding {rows} x {dim}  [{n}, {w}] -> [{n}, {w}, {dim}]", count
    if kind == "LayerNorm":
        return f"LayerNorm over {module.weight.shape[0]} channels, eps={module.eps:g}", count
    return kind, count


def architecture(model, batch=1, length=128):
    """The module tree of `model` as text: every module, and for each one that holds weights its groups, the shapes
    for `batch` sequences of `length` tokens and its parameter count. Encoder layer 0 stands for its equal siblings.

    >>> print(architecture(SqueezeBertModel(SqueezeBertConfig())))       # doctest: +SKIP
    SqueezeBertModel  51,089,664 parameters
      embeddings: SqueezeBertEmbeddings
        word_embeddings: Embedding 30522 x 768  [1, 128] -> [1, 128, 768]  23,440,896
    ...
    """
    unique = {id(a): a for _, a in model.named_parameters()}           # a tied array (MLM decoder) counts once
    total = sum(a.size for a in unique.values())
    lines = [f"{type(model).__name__}  {total:,} parameters"]
    for name, module in model.named_modules():
        parts = name.split(".")
        if not name or ("layers" in parts and parts[parts.index("layers") + 1] != "0"):
            continue                                               # the root is the title; layers 1.. repeat 0
        indent = "  " * (len(parts) - ("layers" in parts))          # layers.0 is one level, not two
        if any(isinstance(v, np.ndarray) for v in vars(module).values()):
            text, count = _describe(module, batch, length)
            lines.append(f"{indent}{parts[-1]}: {text}  {count:,}")
        elif parts[-1] == "0" and parts[-2] == "layers":
            n_layers = len(model.get(".".join(parts[:-1])))
            lines.append(f"{indent}layers[0 .. {n_layers - 1}]: {type(module).__name__}  (x {n_layers}, each alike)")
        elif parts[-1] != "layers":
            heads = getattr(module, "num_attention_heads", None)
            lines.append(f"{indent}{parts[-1]}: {type(module).__name__}"
                         + (f"  ({heads} heads, [{batch}, {heads}, {length}, {length}] scores)" if heads else ""))
    return "\n".join(lines)
