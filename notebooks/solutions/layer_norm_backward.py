"""Solution to the exercise in 08_backward: LayerNorm's backward pass, derived in the lesson."""
import numpy as np


def layer_norm_backward(dout, x, weight, eps):  # [..., C], [..., C], [C] -> dx [..., C], dweight [C], dbias [C]
    mean = x.mean(axis=-1, keepdims=True)
    s = np.sqrt(((x - mean) ** 2).mean(axis=-1, keepdims=True) + eps)    # the standard deviation, eps inside
    xhat = (x - mean) / s
    dxhat = dout * weight                                                  # through y = xhat * weight + bias
    dx = (dxhat - dxhat.mean(axis=-1, keepdims=True) - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True)) / s
    rows = tuple(range(dout.ndim - 1))                                     # every axis but the channels
    return dx, (dout * xhat).sum(axis=rows), dout.sum(axis=rows)
