"""How far apart two float32 results may be, derived from float32 arithmetic, not from what one machine showed.

U = 2**-24 is float32's unit roundoff: one rounding moves a value v by at most U |v|. We count a model in
*stages*: the embeddings are one (a sum of three rows, then LayerNorm), each encoder layer one more (three
grouped convolutions, attention, GELU, two residual LayerNorms), a head one more. A stage rounds its results
about ROUNDINGS_PER_STAGE times in sequence (the convolutions' sums, the bias adds, attention's two products and
softmax, GELU, the residual adds, LayerNorm's mean, variance, scale and shift), each relative to the scale S of
the activations (LayerNorm keeps them O(1) times its weight). The sums are long (up to 3072 terms) but BLAS adds
them in blocks and rounding errors of long sums grow like sqrt(K) U rather than K U (Higham & Mary, "A new
approach to probabilistic rounding error analysis", 2019), so each counts as a few roundings; errors of
successive stages add with no cancellation assumed:

    |float32 result - exact result| <= ROUNDINGS_PER_STAGE * stages * U * S

Two float32 evaluations that round in another order (two OpenBLAS kernels, AVX2 or AVX-512; our fast path and
the plain one; torch and us) are each within that budget of the exact result, hence within twice it of each
other. Tests that have an exact (float64) evaluation at hand check each side against it.
"""
import numpy as np

U = 2.0 ** -24                     # float32 unit roundoff (half an ulp of 1.0)
ROUNDINGS_PER_STAGE = 8


def budget(stages, scale, floor=1.0):
    """The rounding-error budget of one float32 evaluation through `stages` stages at scale `scale` (activations:
    at least 1, LayerNorm's; gradients pass their own floor). A backward pass counts its stages again."""
    return ROUNDINGS_PER_STAGE * stages * U * max(floor, float(scale))


def between_two(stages, scale, floor=1.0):
    """How far two float32 evaluations of the same thing may differ: each within `budget` of exact."""
    return 2 * budget(stages, scale, floor)


def elementwise_bound(x, roundings):
    """For an elementwise float32 function computed in `roundings` roundings of quantities up to max(1, |x|):
    e.g. GELU = x/2 (1 + erf(x/sqrt2)): the argument, erf (a few ulps in any library), the sum, two products."""
    return roundings * U * np.maximum(1.0, np.abs(np.asarray(x, dtype=np.float64)))


def as_float64(model):
    """A float64 twin of a model (same class, config and weights): the plain path in float64 is the exact reference
    the float32 paths are measured against (its own error, ~1e-16 relative, is negligible here)."""
    import copy
    state = model.state_dict()
    twin = copy.deepcopy(model, memo={id(a): a for a in state.values()})   # share the float32 arrays, then replace
    widened = {}                                                               # tied keys stay one array
    for key, array in state.items():
        twin.set(key, widened.setdefault(id(array), np.asarray(array, dtype=np.float64)))
    return twin


def stages(field, index, layers):
    """How many stages an output of a model with `layers` encoder layers has been through: hidden_states[i] i + 1
    (the embeddings, then a layer each), attentions[i] i + 2, last_hidden_state layers + 1, a head's output
    (pooler, logits) one more, a loss one more than its logits."""
    return {"hidden_states": index + 1, "attentions": index + 2, "last_hidden_state": layers + 1,
            "loss": layers + 3}.get(field, layers + 2)


def assert_close(ours, theirs, stages, what, bound=between_two):
    """max |ours - theirs| <= bound(stages, max |theirs|), with the numbers in the message."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    err = float(np.max(np.abs(ours - theirs), initial=0))
    tol = bound(stages, np.max(np.abs(theirs), initial=0))
    assert err <= tol, f"{what}: max |difference| = {err:.3e} > {tol:.3e} (float32 budget of {stages} stages)"
