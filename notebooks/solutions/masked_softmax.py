"""Solution to the exercise in 04_attention: softmax over the keys, masked keys pushed to finfo(float32).min."""
import numpy as np


def masked_softmax(scores, attention_mask):  # [N, h, W, W], [N, W] -> [N, h, W, W]
    keep = attention_mask.astype(bool)[:, None, None, :]                   # [N, 1, 1, W]: broadcast over h, queries
    s = np.where(keep, scores, np.finfo(np.float32).min)                   # not -inf: a fully masked row stays finite
    e = np.exp(s - s.max(axis=-1, keepdims=True))                          # subtract the max: exp never overflows
    return e / e.sum(axis=-1, keepdims=True)
