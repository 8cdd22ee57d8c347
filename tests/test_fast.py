"""The fast path (squeezebert_np/fast.py, on by default) against the plain reference path (functional.py).

Stated bounds: the float32 GELU is within 2e-7 + 4e-7 |GELU(x)| of the exact one. A whole model's outputs, by the
fast path and by the plain path, are each within the float32 rounding budget of tests/numerics.py of the exact
(float64) evaluation of the same weights, and so within twice it of each other, whatever the CPU and BLAS kernel.
"""
import os

import numpy as np
import pytest

import squeezebert_np
from squeezebert_np import fast
from squeezebert_np import functional as F
from squeezebert_np.synthetic import synthetic_state_dict

from numerics import U, as_float64, assert_close, between_two, budget, stages


def gelu_bound(exact):
    return 2e-7 + 4e-7 * np.abs(exact)


def test_gelu_error_bound_dense_grid():
    """A dense grid over [-12, 12] (where GELU is not yet 0 or x), plus extremes (x + |x| must not overflow: x <= 1.7e38)."""
    x = np.concatenate([np.linspace(-12, 12, 4_000_001, dtype=np.float32),
                        np.float32([0.0, -0.0, 1e-30, -1e-30, 1e-45, -1e-45, 30, -30, 1e30, -1e30, 1.7e38, -3.4e38])])
    exact = F.gelu(x.astype(np.float64))           # the reference GELU, ~1e-11 in float64
    err = np.abs(fast.gelu(x).astype(np.float64) - exact)
    assert np.all(err <= gelu_bound(exact)), f"worst {err.max():.3e} at x={x[np.argmax(err / gelu_bound(exact))]}"


def test_gelu_every_float32_in_a_binade():
    """Exhaustively: all 2^23 float32 in [1, 2) and in [-2, -1) (the region where the error peaks)."""
    x = (np.arange(2 ** 23, dtype=np.uint32) | np.uint32(0x3F800000)).view(np.float32)
    for sign in (1, -1):
        xs = np.float32(sign) * x
        exact = F.gelu(xs.astype(np.float64))
        assert np.all(np.abs(fast.gelu(xs) - exact) <= gelu_bound(exact))


@pytest.mark.parametrize("size", [1, 7, fast._GELU_CHUNK - 1, fast._GELU_CHUNK + 3, 5 * fast._GELU_CHUNK + 11])
def test_gelu_in_place_chunking_and_threads(size):
    x = np.random.default_rng(size).standard_normal(size, dtype=np.float32) * 4
    outs = []
    for threads in (1, 2, 3):
        old = fast.get_num_threads()
        fast.set_num_threads(threads)
        try:
            y = x.copy()
            assert fast.gelu_(y) is y
            outs.append(y)
        finally:
            fast.set_num_threads(old)
    assert all(np.array_equal(outs[0], o) for o in outs)     # the split does not change a single bit
    assert np.all(np.abs(outs[0] - F.gelu(x)) <= gelu_bound(F.gelu(x.astype(np.float64))) + 1e-7)


def test_gelu_in_place_refuses_arrays_it_cannot_write():
    x = np.ones((4, 4), np.float32)
    x.setflags(write=False)
    with pytest.raises(ValueError):
        fast.gelu_(x)
    with pytest.raises(ValueError):
        fast.gelu_(np.ones((4, 4), np.float32).T[:, :2])
    assert np.array_equal(fast.gelu(x), fast.gelu(x.copy()))   # the copying form is fine


def test_layer_norm_and_softmax_in_place():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((96, 300), dtype=np.float32) * 3 + 1
    w, b = rng.standard_normal(96, dtype=np.float32), rng.standard_normal(96, dtype=np.float32)
    ref = F.layer_norm(x.T, w, b, 1e-12).T
    assert np.abs(fast.layer_norm_(x.copy(), w, b, 1e-12) - ref).max() <= between_two(1, np.abs(ref).max())
    s = rng.standard_normal((2, 3, 50, 50), dtype=np.float32) * 5
    s[1, :, :, 40:] = np.finfo(np.float32).min
    assert np.abs(fast.softmax_(s.copy()) - F.softmax(s)).max() < 1e-7


# ---------------------------------------------------------------------------------------------------------------
# whole models: fast == plain
# ---------------------------------------------------------------------------------------------------------------

def small_config(**overrides):
    cfg = dict(vocab_size=60, hidden_size=32, embedding_size=32, num_hidden_layers=3, num_attention_heads=4,
               intermediate_size=64, max_position_embeddings=40, q_groups=4, k_groups=2, v_groups=4,
               post_attention_groups=1, intermediate_groups=4, output_groups=2)
    return squeezebert_np.SqueezeBertConfig(**{**cfg, **overrides})


def batch(n=3, w=11, vocab=60, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, vocab, (n, w))
    mask = np.ones((n, w), np.int64)
    mask[1, w - 4:] = 0                      # right padding
    mask[2, 2:] = 0                          # mostly padding
    ids[mask == 0] = 0
    types = (np.arange(w) >= w // 2).astype(np.int64)[None].repeat(n, 0)
    return ids, mask, types


def both(model, **inputs):
    """The fast and the plain path's outputs, each checked against the exact (float64) evaluation, and against each
    other; returns them."""
    fast_out = model(**inputs, output_hidden_states=True, output_attentions=True)
    with fast.disable():
        assert not fast.enabled()
        plain_out = model(**inputs, output_hidden_states=True, output_attentions=True)
        exact_out = as_float64(model)(**inputs, output_hidden_states=True, output_attentions=True)
    assert fast.enabled()
    layers = model.config.num_hidden_layers
    assert_outputs_close(fast_out, exact_out, layers, budget)
    assert_outputs_close(plain_out, exact_out, layers, budget)
    assert_outputs_close(fast_out, plain_out, layers, between_two)
    return fast_out, plain_out


def assert_outputs_close(a, b, layers, bound):
    """Every output field of `a` (float32) within `bound(stages, scale)` of `b` (float32, or float64 exact); masked
    attention scores (finfo.min in both) must be masked in both."""
    assert a.keys() == b.keys()
    low = np.finfo(np.float32).min / 2
    for key in a.keys():
        xs, ys = (a[key], b[key]) if isinstance(a[key], tuple) else ((a[key],), (b[key],))
        assert len(xs) == len(ys)
        for i, (x, y) in enumerate(zip(xs, ys)):
            x, y = np.asarray(x), np.asarray(y)
            assert x.shape == y.shape and x.dtype == np.float32, f"{key}[{i}]: {x.shape} {x.dtype} vs {y.shape}"
            kept = y > low
            assert np.array_equal(x > low, kept), f"{key}[{i}]: the masked entries differ"
            assert_close(x[kept], y[kept], stages(key, i, layers), f"{key}[{i}]", bound)


@pytest.mark.parametrize("act", ["gelu", "relu", "gelu_new"])
@pytest.mark.parametrize("padded", [False, True])
def test_model_fast_equals_plain(act, padded):
    config = small_config(hidden_act=act)
    model = squeezebert_np.SqueezeBertModel(config, synthetic_state_dict(config, squeezebert_np.SqueezeBertModel, 2))
    ids, mask, types = batch()
    a, b = both(model, input_ids=ids, attention_mask=mask if padded else None, token_type_ids=types)
    assert np.array_equal(a.hidden_states[-1], a.last_hidden_state)
    fast_only = model(ids, attention_mask=mask if padded else None, token_type_ids=types)   # no optional outputs
    assert np.array_equal(fast_only.last_hidden_state, a.last_hidden_state)
    assert fast_only.hidden_states is None and fast_only.attentions is None


@pytest.mark.parametrize("block,tile", [(512, 512), (11, 5), (30, 7), (1, 3)])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_blocks_tiles_and_threads_change_nothing(monkeypatch, block, tile, threads):
    """Small blocks and tiles (several per layer, tiles not dividing the block, sequences of 11 tokens) and the
    batch split over 1-3 threads (5 sequences: uneven groups) against the plain path, hidden states and scores
    included; OpenBLAS's thread count is the same after the call as before."""
    monkeypatch.setattr(fast, "BLOCK_COLUMNS", block)
    monkeypatch.setattr(fast, "TILE_COLUMNS", tile)
    config = small_config()
    model = squeezebert_np.SqueezeBertModel(config, synthetic_state_dict(config, squeezebert_np.SqueezeBertModel, 7))
    ids, mask, types = batch(n=5)
    old = fast.get_num_threads()
    blas_before = fast.blas_threads()
    fast.set_num_threads(threads)
    try:
        a, b = both(model, input_ids=ids, attention_mask=mask, token_type_ids=types)
        single = model(ids[3:4], attention_mask=mask[3:4], token_type_ids=types[3:4])
    finally:
        fast.set_num_threads(old)
    assert fast.blas_threads() == blas_before
    one = single.last_hidden_state - a.last_hidden_state[3:4]      # alone or in a batch: another summation order
    assert np.abs(one).max() <= between_two(config.num_hidden_layers + 1, np.abs(a.last_hidden_state).max())


@pytest.fixture
def blas_spy(monkeypatch):
    """(set_blas, seen, model): every encoder layer call appends (OpenBLAS's thread count, whether our elementwise
    work is inline) to `seen`; our threads are 2 and OpenBLAS's count is put back afterwards."""
    if fast.blas_threads() is None:
        pytest.skip("NumPy's BLAS is not OpenBLAS here")
    get, set_ = fast._openblas_apis()[0]
    config = small_config()
    model = squeezebert_np.SqueezeBertModel(config, synthetic_state_dict(config, squeezebert_np.SqueezeBertModel, 7))
    seen = []
    real_layer = fast.encoder_layer_

    def spy(*args):
        seen.append((get(), getattr(fast._state, "inline", False)))
        return real_layer(*args)

    monkeypatch.setattr(fast, "encoder_layer_", spy)
    old_ours, old_blas = fast.get_num_threads(), get()
    fast.set_num_threads(2)
    yield set_, seen, model
    set_(old_blas)
    fast.set_num_threads(old_ours)
    assert get() == old_blas


def test_batch_split_sets_blas_to_one_thread_and_restores_it(blas_spy):
    """The split runs only when OpenBLAS may use several threads, runs its groups with OpenBLAS at 1 thread,
    and puts the old count back (skipped where NumPy's BLAS is not an OpenBLAS we can reach)."""
    set_blas, seen, model = blas_spy
    ids, mask, _ = batch(n=4)
    layers = model.config.num_hidden_layers
    for blas in (1, 2):
        set_blas(blas)
        seen.clear()
        model(ids, attention_mask=mask)
        assert fast.blas_threads() == blas
        assert [count for count, _ in seen] == [1] * (layers * (1 if blas == 1 else 2))   # 2 groups when split


def test_one_sequence_keeps_elementwise_work_in_the_calling_thread_when_blas_is_threaded(blas_spy):
    """With one sequence, multi-threaded OpenBLAS runs the GEMMs and our elementwise work is not split (it would
    compete with OpenBLAS's spinning threads); with single-threaded BLAS, it is split over our threads."""
    set_blas, seen, model = blas_spy
    ids, mask, _ = batch(n=3)
    ids, mask = ids[1:2], mask[1:2]                  # one (padded) sequence
    for blas, inline in ((2, True), (1, False)):
        set_blas(blas)
        seen.clear()
        model(ids, attention_mask=mask)
        assert seen == [(blas, inline)] * model.config.num_hidden_layers


def test_without_a_visible_openblas_the_forward_runs_in_the_calling_thread(monkeypatch):
    """Another BLAS (MKL, Accelerate): no batch split, elementwise work split over our threads; same numbers."""
    monkeypatch.setattr(fast, "_blas_apis", [])
    assert fast.blas_threads() is None
    config = small_config()
    model = squeezebert_np.SqueezeBertModel(config, synthetic_state_dict(config, squeezebert_np.SqueezeBertModel, 7))
    ids, mask, types = batch(n=4)
    old = fast.get_num_threads()
    try:
        fast.set_num_threads(2)
        both(model, input_ids=ids, attention_mask=mask, token_type_ids=types)
    finally:
        fast.set_num_threads(old)


def _run_in_child(model, ids, queue):
    queue.put(model(ids).last_hidden_state)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")
@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")
def test_a_forked_child_runs_the_model():
    """"Warm up in the parent, then fork workers" (multiprocessing, DataLoader): the child inherits our thread
    pool without its threads and must not wait on it forever."""
    import multiprocessing
    config = small_config()
    model = squeezebert_np.SqueezeBertModel(config, synthetic_state_dict(config, squeezebert_np.SqueezeBertModel, 7))
    ids, _, _ = batch(n=4)
    old = fast.get_num_threads()
    fast.set_num_threads(2)
    try:
        expected = model(ids).last_hidden_state          # the parent's pool now exists
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_run_in_child, args=(model, ids, queue))
        child.start()
        child.join(60)
        hung = child.is_alive()
        if hung:
            child.kill()
        assert not hung, "the forked child hung"
        assert np.array_equal(queue.get(timeout=10), expected)
    finally:
        fast.set_num_threads(old)


HEADS = [("SqueezeBertForMaskedLM", {}, lambda n, w: {"labels": np.arange(n * w).reshape(n, w) % 60}),
         ("SqueezeBertForSequenceClassification", {"num_labels": 3}, lambda n, w: {"labels": np.arange(n) % 3}),
         ("SqueezeBertForTokenClassification", {"num_labels": 5}, lambda n, w: {"labels": np.ones((n, w), int)}),
         ("SqueezeBertForQuestionAnswering", {}, lambda n, w: {"start_positions": np.arange(n),
                                                                "end_positions": np.arange(n) + 1}),
         ("SqueezeBertForMultipleChoice", {}, lambda n, w: {"labels": np.arange(n) % 2})]


@pytest.mark.parametrize("head,overrides,labels", HEADS, ids=[h[0] for h in HEADS])
def test_every_head_fast_equals_plain(head, overrides, labels):
    config = small_config(**overrides)
    cls = getattr(squeezebert_np, head)
    model = cls(config, synthetic_state_dict(config, cls, seed=4))
    ids, mask, types = batch()
    inputs = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    if head == "SqueezeBertForMultipleChoice":
        inputs = {k: np.stack([v, v[::-1]], 1) for k, v in inputs.items()}
    both(model, **inputs, **labels(*ids.shape))


def test_read_only_parameters_are_never_written():
    config = small_config()
    sd = synthetic_state_dict(config, squeezebert_np.SqueezeBertModel, 5)
    for v in sd.values():
        v.setflags(write=False)
    model = squeezebert_np.SqueezeBertModel(config, sd)
    before = {k: v.copy() for k, v in sd.items()}
    ids, mask, _ = batch()
    model(ids, attention_mask=mask)
    assert all(np.array_equal(before[k], model.state_dict()[k]) for k in before)


def test_switches():
    assert fast.enabled()
    with fast.disable():
        assert not fast.enabled()
        with fast.disable():
            assert not fast.enabled()
        assert not fast.enabled()
    assert fast.enabled()
    fast.set_enabled(False)
    try:
        assert not fast.enabled()
    finally:
        fast.set_enabled(True)
    assert fast.enabled()


@pytest.mark.slow
def test_official_architecture_fast_equals_plain():
    """Full size (12 layers, 768 channels), a padded batch of 3."""
    config = squeezebert_np.SqueezeBertConfig(vocab_size=30528)
    model = squeezebert_np.SqueezeBertModel(config, synthetic_state_dict(config, squeezebert_np.SqueezeBertModel, 0))
    ids, mask, types = batch(n=3, w=37, vocab=30528)
    both(model, input_ids=ids, attention_mask=mask, token_type_ids=types)


# ---------------------------------------------------------------------------------------------------------------
# the training path: GELU and its derivative in one float32 pass, and a whole training step fast vs plain
# ---------------------------------------------------------------------------------------------------------------

def training_config(**overrides):
    """The small classifier the training-path tests step: 2 layers, every group count varied, 3 labels."""
    return squeezebert_np.SqueezeBertConfig(**{**dict(
        vocab_size=50, hidden_size=32, embedding_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=128, q_groups=2, k_groups=2, v_groups=2, post_attention_groups=1, intermediate_groups=4,
        output_groups=2, num_labels=3), **overrides})


GELU_GRAD_ATOL = 2e-7 + 4 * U   # the normal tail Phi(-a) carries gelu_'s approximation error (its stated 2e-7),
                                # then exp, two products and the sum round, on values <= 1.13: 4 U


def test_gelu_and_grad_error_bound():
    x = np.concatenate([np.linspace(-12, 12, 2_000_001, dtype=np.float32),
                        np.float32([0.0, -0.0, 1e-30, -1e-30, 30, -30, 1e30, -1e30, 1.7e38, -3.4e38])])
    y, grad = fast.gelu_and_grad(x)
    x64 = x.astype(np.float64)
    exact = F.gelu(x64)
    assert y.dtype == grad.dtype == np.float32 and y.shape == grad.shape == x.shape
    assert np.all(np.abs(y - exact) <= gelu_bound(exact))
    err = np.abs(grad - F.gelu_grad(x64))
    assert err.max() <= GELU_GRAD_ATOL, f"worst {err.max():.3e} at x={x[np.argmax(err)]}"


@pytest.mark.parametrize("size", [1, fast._GELU_CHUNK + 3])
def test_gelu_and_grad_threads_and_shapes(size):
    x = np.random.default_rng(size).standard_normal((size, 3), dtype=np.float32)
    outs = []
    for threads in (1, 2):
        old = fast.get_num_threads()
        fast.set_num_threads(threads)
        try:
            outs.append(fast.gelu_and_grad(x))
        finally:
            fast.set_num_threads(old)
    assert all(np.array_equal(a, b) for a, b in zip(*outs))
    assert outs[0][0].shape == x.shape


def test_training_step_fast_equals_plain():
    """loss_and_grads with the fast GELU against the plain path (functional.py's float64-erf GELU): the loss and every
    gradient within twice the float32 budget (tests/numerics.py) of the forward's and the backward's stages, relative
    to the tensor's largest entry, floored at 1e-2 x the largest gradient of all: some gradients are 0 in exact
    arithmetic (the key bias's), and both sides then return rounding noise of the other gradients' size."""
    config = training_config()
    cls = squeezebert_np.SqueezeBertForSequenceClassification
    model = cls(config, synthetic_state_dict(config, cls, 0))
    rng = np.random.default_rng(0)
    inputs = dict(input_ids=rng.integers(0, 50, (3, 20)), attention_mask=(np.arange(20) < [[20], [13], [5]]),
                  labels=np.array([0, 2, 1]))
    loss, grads = model.loss_and_grads(**inputs)
    with fast.disable():
        plain_loss, plain = model.loss_and_grads(**inputs)
    forward = stages("logits", 0, config.num_hidden_layers)
    assert abs(loss - plain_loss) <= between_two(forward + 1, plain_loss)
    assert grads.keys() == plain.keys()
    largest = max(np.abs(g).max() for g in plain.values())
    for name, g in plain.items():
        assert grads[name].dtype == np.float32
        tol = between_two(2 * forward + 1, np.abs(g).max(), floor=1e-2 * largest)
        assert np.abs(grads[name] - g).max() <= tol, name


@pytest.mark.parametrize("dropout_p", [0.0, 0.3])
def test_training_attention_fast_equals_plain(dropout_p):
    """fast.attention_forward / _backward (results written into step buffers) against functional.py's, from the
    same generator state: the same operations in the same order; only the GEMMs' summation order may differ
    (another output memory, another BLAS blocking), bounded by 2 U per term of the two products in a row
    (d + W terms), relative to the largest entry. The generator ends in the same state."""
    rng = np.random.default_rng(3)
    n, c, w, h = 2, 32, 9, 4
    q, k, v, dctx = (rng.standard_normal((n, c, w)).astype(np.float32) for _ in range(4))
    q = np.ascontiguousarray(q.transpose(0, 2, 1)).transpose(0, 2, 1)        # a conv's [N, C, W] view of [N, W, C]
    mask = np.where(np.arange(w) < [[[[9]]], [[[5]]]], 0, -1e4).astype(np.float32)
    gens = [np.random.default_rng(5), np.random.default_rng(5)]
    fast_out = fast.attention_forward(q, k, v, mask, h, dropout_p, gens[0])
    plain_out = F.attention_forward(q, k, v, mask, h, dropout_p, gens[1])
    assert gens[0].random() == gens[1].random()
    for a, b in zip(fast_out[:2], plain_out[:2]):
        assert a.shape == b.shape and a.dtype == np.float32
        assert np.abs(a - b).max() <= 2 * (c // h + w) * U * np.abs(b).max()
    for a, b in zip(fast.attention_backward(dctx, fast_out[2]), F.attention_backward(dctx, plain_out[2])):
        assert a.shape == b.shape and a.dtype == np.float32
        assert np.abs(a - b).max() <= 2 * (c // h + w) * U * np.abs(b).max()


@pytest.mark.parametrize("groups", [1, 2])
def test_training_steps_reuse_buffers_and_keep_returned_arrays(monkeypatch, groups):
    """Inside loss_and_grads the fast path's large temporaries come from buffers reused once nothing references
    them (fast.StepBuffers), within a step and from step to step. Two consecutive steps on different inputs of the
    same shape, dropout on: with one group the second step allocates no new buffer (with 2 groups of sequences the
    groups' threads free and take buffers in an order that depends on their timing, so some may differ); in both
    the pool holds less than half of what the step asked for, the first step's returned loss and gradients are not
    changed by the second, and each step equals the plain path (functional.py, fresh arrays) from the same
    generator state within the float32 budget of test_training_step_fast_equals_plain."""
    config = training_config(hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.2)
    cls = squeezebert_np.SqueezeBertForSequenceClassification
    model = cls(config, synthetic_state_dict(config, cls, 0)).train()
    rng = np.random.default_rng(1)
    batches = [dict(input_ids=rng.integers(0, 50, (4, 20)), attention_mask=(np.arange(20) < [[20], [13], [5], [9]]),
                    labels=rng.integers(0, 3, 4)) for _ in range(2)]
    monkeypatch.setattr(fast, "training_parts", lambda n: min(groups, n))
    taken = []
    take = fast.StepBuffers.take
    monkeypatch.setattr(fast.StepBuffers, "take", lambda self, shape: taken.append(np.prod(shape)) or take(self, shape))
    old = fast.get_num_threads()
    fast.set_num_threads(groups)
    try:
        results, buffer_ids = [], []
        for k, batch in enumerate(batches):
            model.dropout_rng = np.random.default_rng(10 + k)
            results.append(model.loss_and_grads(**batch))
            buffer_ids.append(sorted(id(b) for bufs in fast._step_buffers[model]._by_size.values() for b in bufs))
        first_loss, first = results[0]
        kept = (float(first_loss), {name: g.copy() for name, g in first.items()})
    finally:
        fast.set_num_threads(old)
    assert buffer_ids[0] and buffer_ids[1]
    if groups == 1:                       # the same requests in the same order find the same free buffers
        assert buffer_ids[1] == buffer_ids[0]
    held = sum(b.size for bufs in fast._step_buffers[model]._by_size.values() for b in bufs)
    assert held < sum(taken) / 2          # buffers freed within a step serve later requests (the peak stays low)
    forward = stages("logits", 0, config.num_hidden_layers)
    for k, batch in enumerate(batches):
        model.dropout_rng = np.random.default_rng(10 + k)
        with fast.disable():
            plain_loss, plain = model.loss_and_grads(**batch)
        loss, grads = results[k]
        assert abs(loss - plain_loss) <= between_two(forward + 1, plain_loss)
        assert grads.keys() == plain.keys()
        largest = max(np.abs(g).max() for g in plain.values())
        for name, g in plain.items():
            assert np.abs(grads[name] - g).max() <= between_two(2 * forward + 1, np.abs(g).max(),
                                                                floor=1e-2 * largest), (k, name)
    assert float(first_loss) == kept[0]
    for name, g in first.items():
        assert np.array_equal(g, kept[1][name]), name          # the second step did not write into them


@pytest.mark.parametrize("n, c_in, c_out, w, groups, token_major", [
    (3, 32, 32, 20, 4, True), (3, 32, 128, 20, 4, False), (2, 128, 32, 7, 2, True), (1, 16, 24, 5, 1, False)])
def test_grouped_conv_fast_equals_plain(n, c_in, c_out, w, groups, token_major):
    """fast.grouped_conv1x1(_backward) (one GEMM per group over all N*W tokens) against functional.py's per-sample
    products, for inputs laid out [N, C, W] and as views of [N, W, C] (LayerNorm's output). Both are sums of K
    products in some order; by the standard bound |fl(sum) - sum| <= K U sum |terms| (Higham, gamma_K, first
    order), each is within K U (|W| |x| + |b|) of the exact value, so they differ by at most twice that:
    K = Cin/g for y and dx's Cout/g, K = N*W for dW and db."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, w, c_in) if token_major else (n, c_in, w), dtype=np.float32)
    dy = rng.standard_normal((n, w, c_out) if token_major else (n, c_out, w), dtype=np.float32)
    if token_major:
        x, dy = x.transpose(0, 2, 1), dy.transpose(0, 2, 1)          # [N, C, W] views of [N, W, C]
    weight = rng.standard_normal((c_out, c_in // groups, 1), dtype=np.float32)
    bias = rng.standard_normal(c_out, dtype=np.float32)
    a = lambda t: np.abs(t.astype(np.float64))

    y, plain_y = fast.grouped_conv1x1(x, weight, bias, groups), F.grouped_conv1x1(x, weight, bias, groups)
    assert y.shape == plain_y.shape and y.dtype == np.float32
    bound_y = 2 * (c_in // groups) * U * (F.grouped_conv1x1(a(x), a(weight), a(bias), groups))
    assert np.all(np.abs(y - plain_y) <= bound_y)

    dx, dw, db = fast.grouped_conv1x1_backward(dy, x, weight, groups)
    plain_dx, plain_dw, plain_db = F.grouped_conv1x1_backward(dy, x, weight, groups)
    abs_dx, abs_dw, abs_db = F.grouped_conv1x1_backward(a(dy), a(x), a(weight), groups)   # sums of |terms|
    assert dx.shape == plain_dx.shape and dw.shape == weight.shape and db.shape == bias.shape
    assert np.all(np.abs(dx - plain_dx) <= 2 * (c_out // groups) * U * abs_dx)
    assert np.all(np.abs(dw - plain_dw) <= 2 * n * w * U * abs_dw)
    assert np.all(np.abs(db - plain_db) <= 2 * n * w * U * abs_db)


@pytest.mark.parametrize("groups", [2, 3])
def test_training_step_over_groups_of_sequences_equals_plain(monkeypatch, groups):
    """With several threads a float32 training step runs its encoder over groups of sequences in parallel and sums
    the groups' gradients (fast.encoder_train_forward / _backward). In train mode, dropout on: the masks must be
    the plain path's (same generator state, same draws), so loss and gradients agree within the float32 budget of
    test_training_step_fast_equals_plain, and the generator ends in the same state."""
    config = training_config(hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3)
    cls = squeezebert_np.SqueezeBertForSequenceClassification
    model = cls(config, synthetic_state_dict(config, cls, 0)).train()
    rng = np.random.default_rng(0)
    inputs = dict(input_ids=rng.integers(0, 50, (5, 20)), attention_mask=(np.arange(20) < [[20], [13], [5], [20], [9]]),
                  labels=np.array([0, 2, 1, 1, 0]))
    monkeypatch.setattr(fast, "training_parts", lambda n: min(groups, n))
    old = fast.get_num_threads()
    fast.set_num_threads(groups)
    try:
        model.dropout_rng = np.random.default_rng(7)
        loss, grads = model.loss_and_grads(**inputs)
        after = model.dropout_rng.random()
    finally:
        fast.set_num_threads(old)
    model.dropout_rng = np.random.default_rng(7)
    with fast.disable():
        plain_loss, plain = model.loss_and_grads(**inputs)
    assert model.dropout_rng.random() == after
    forward = stages("logits", 0, config.num_hidden_layers)
    assert abs(loss - plain_loss) <= between_two(forward + 1, plain_loss)
    assert grads.keys() == plain.keys()
    largest = max(np.abs(g).max() for g in plain.values())
    for name, g in plain.items():
        assert grads[name].dtype == np.float32 and grads[name].shape == g.shape
        assert np.abs(grads[name] - g).max() <= between_two(2 * forward + 1, np.abs(g).max(), floor=1e-2 * largest), name
