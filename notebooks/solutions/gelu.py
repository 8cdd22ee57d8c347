"""Solution to the exercise in 05_model_vs_pytorch: the exact GELU with math.erf."""
import math

import numpy as np

erf = np.vectorize(math.erf, otypes=[np.float64])                         # erf of each element, in float64


def gelu(x):  # [...] -> [...]
    return (x * 0.5 * (1.0 + erf(x / math.sqrt(2.0)))).astype(np.float32)
