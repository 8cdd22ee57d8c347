"""The training contract: train()/eval(), dropout from `model.dropout_rng`, the same masks in forward and backward,
named_parameters without tied duplicates, float64 end to end, and bad calls of loss_and_grads."""
import warnings

import numpy as np
import pytest

import squeezebert_np
from squeezebert_np.errors import InvalidInputError
from squeezebert_np.synthetic import synthetic_state_dict

HEADS = ["SqueezeBertForMaskedLM", "SqueezeBertForSequenceClassification", "SqueezeBertForTokenClassification",
         "SqueezeBertForQuestionAnswering", "SqueezeBertForMultipleChoice"]
SMALL = dict(vocab_size=40, hidden_size=16, embedding_size=16, num_hidden_layers=2, num_attention_heads=2,
             intermediate_size=32, max_position_embeddings=16, type_vocab_size=2, q_groups=2, k_groups=1,
             v_groups=2, post_attention_groups=2, intermediate_groups=4, output_groups=2)


def small_model(head="SqueezeBertForSequenceClassification", dtype=np.float64, **overrides):
    config = squeezebert_np.SqueezeBertConfig(**{**SMALL, **overrides})
    cls = getattr(squeezebert_np, head)
    return cls(config, synthetic_state_dict(config, cls, seed=3), seed=5).astype(dtype)


def batch(n=2, w=7, vocab=40):
    rng = np.random.default_rng(0)
    mask = np.ones((n, w), np.int64)
    mask[1, 5:] = 0
    return dict(input_ids=rng.integers(1, vocab, (n, w)), attention_mask=mask,
                token_type_ids=rng.integers(0, 2, (n, w)))


def test_eval_after_construction_and_train_eval_return_self():
    model = small_model()
    assert model.training is False and all(not m.training for _, m in model.named_modules())
    assert model.train() is model and model.training
    assert all(m.training for _, m in model.named_modules())
    assert model.eval() is model and not any(m.training for _, m in model.named_modules())
    assert model.train(False) is model and not model.training
    assert isinstance(model.dropout_rng, np.random.Generator)


def test_from_pretrained_is_in_eval_mode_and_train_makes_parameters_writable(tmp_path):
    """from_pretrained hands out read-only memory maps; train() copies them once so an optimizer can update them in
    place (torch's parameters are always writable), and the MLM decoder stays tied to the word embeddings."""
    small_model("SqueezeBertForMaskedLM", dtype=np.float32).save_pretrained(tmp_path)
    model = squeezebert_np.SqueezeBertForMaskedLM.from_pretrained(str(tmp_path))
    assert model.training is False
    assert not all(p.flags.writeable for _, p in model.named_parameters())
    before = {n: p.copy() for n, p in model.named_parameters()}
    model.train()
    assert all(p.flags.writeable for _, p in model.named_parameters())
    assert all(np.array_equal(p, before[n]) for n, p in model.named_parameters())
    assert model.cls.predictions.decoder.weight is model.transformer.embeddings.word_embeddings.weight
    assert model.cls.predictions.decoder.bias is model.cls.predictions.bias
    dict(model.named_parameters())["transformer.embeddings.word_embeddings.weight"][3] += 1.0   # in place works


def test_train_and_eval_differ_only_in_dropout():
    """Dropout probabilities 0: train mode gives eval's numbers; dropout on: train differs, eval does not."""
    inputs = batch()
    labels = np.array([0, 1])
    quiet = small_model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    eval_out = quiet(**inputs, labels=labels)
    train_out = quiet.train()(**inputs, labels=labels)
    assert np.allclose(train_out.logits, eval_out.logits, rtol=0, atol=1e-13)
    loss, _ = quiet.loss_and_grads(**inputs, labels=labels)
    assert abs(loss - eval_out.loss) <= 1e-13
    noisy = small_model(hidden_dropout_prob=0.3, attention_probs_dropout_prob=0.3)
    eval_logits = noisy(**inputs).logits
    assert np.allclose(eval_logits, eval_out.logits, rtol=0, atol=1e-13)       # eval: dropout is the identity
    noisy.train()
    first, second = noisy(**inputs).logits, noisy(**inputs).logits
    assert not np.allclose(first, eval_logits) and not np.allclose(first, second)   # fresh masks every call
    assert np.allclose(noisy.eval()(**inputs).logits, eval_logits, rtol=0, atol=0)


def test_call_and_loss_and_grads_draw_the_same_masks():
    """With the generator in the same state, model(...) and loss_and_grads draw the same masks: same loss."""
    inputs = batch()
    for head, targets in [("SqueezeBertForSequenceClassification", dict(labels=np.array([2, 0]))),
                          ("SqueezeBertForTokenClassification", dict(labels=np.ones((2, 7), np.int64)))]:
        model = small_model(head, num_labels=3).train()
        model.dropout_rng = np.random.default_rng(11)
        loss = model(**inputs, **targets).loss
        model.dropout_rng = np.random.default_rng(11)
        assert loss == model.loss_and_grads(**inputs, **targets)[0]
        assert loss != model.loss_and_grads(**inputs, **targets)[0]      # the generator moved on


def test_dropout_masks_are_the_same_in_forward_and_backward():
    """Central differences of the training loss with dropout on, the generator reset to one seed before every
    evaluation (so every evaluation draws the same masks), against loss_and_grads under that seed: they agree
    only if the backward applies the forward's masks. Fourth-order stencil, the largest entries of each tensor."""
    inputs, labels = batch(), np.array([1, 0])
    model = small_model(hidden_dropout_prob=0.2, attention_probs_dropout_prob=0.2).train()

    def loss():
        model.dropout_rng = np.random.default_rng(42)
        return model.loss_and_grads(**inputs, labels=labels)

    _, grads = loss()
    params = dict(model.named_parameters())
    h = 1e-3
    for name in ("transformer.embeddings.word_embeddings.weight", "transformer.embeddings.LayerNorm.weight",
                 "transformer.encoder.layers.0.attention.query.weight",
                 "transformer.encoder.layers.0.attention.value.weight",
                 "transformer.encoder.layers.1.post_attention.conv1d.weight",
                 "transformer.encoder.layers.1.intermediate.conv1d.bias",
                 "transformer.encoder.layers.1.output.conv1d.weight", "transformer.pooler.dense.weight",
                 "classifier.weight"):
        p = params[name]
        for i in np.argsort(np.abs(grads[name]).ravel())[-3:]:
            i = np.unravel_index(i, p.shape)
            old, values = p[i], []
            for step in (2, 1, -1, -2):
                p[i] = old + step * h
                values.append(loss()[0])
            p[i] = old
            numerical = (8 * (values[1] - values[2]) - (values[0] - values[3])) / (12 * h)
            assert abs(numerical - grads[name][i]) / (abs(numerical) + abs(grads[name][i])) <= 1e-7, name


@pytest.mark.parametrize("head", HEADS + ["SqueezeBertModel"])
def test_named_parameters_are_transformers_names(head):
    """Tied weights once, under transformers' first name (torch's remove_duplicate); state_dict keeps every key."""
    transformers = pytest.importorskip("transformers")
    config = squeezebert_np.SqueezeBertConfig(**SMALL)
    ours = getattr(squeezebert_np, head)(config)
    theirs = getattr(transformers, head)(transformers.SqueezeBertConfig(**SMALL))
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert set(ours.state_dict()) == set(theirs.state_dict())


def test_mlm_tied_gradient_is_the_sum_of_both_uses():
    """The decoder's gradient lands in the word embeddings and the decoder bias in cls.predictions.bias; untied
    (tie_word_embeddings=False) each has its own, and cls.predictions.bias is unused (no gradient)."""
    inputs = batch()
    labels = np.where(inputs["attention_mask"] == 1, inputs["input_ids"], -100)
    tied = small_model("SqueezeBertForMaskedLM", dtype=np.float32)
    config = squeezebert_np.SqueezeBertConfig(**SMALL, tie_word_embeddings=False)
    same_values = {k: v.copy() for k, v in tied.state_dict().items()}            # separate arrays
    untied = squeezebert_np.SqueezeBertForMaskedLM(config, same_values).astype(np.float64)
    assert untied.cls.predictions.decoder.weight is not untied.transformer.embeddings.word_embeddings.weight
    _, grads = tied.astype(np.float64).loss_and_grads(**inputs, labels=labels)
    assert "cls.predictions.decoder.weight" not in grads and "cls.predictions.bias" in grads
    _, untied_grads = untied.loss_and_grads(**inputs, labels=labels)
    assert "cls.predictions.bias" not in untied_grads
    word = "transformer.embeddings.word_embeddings.weight"
    assert np.allclose(grads[word], untied_grads[word] + untied_grads["cls.predictions.decoder.weight"],
                       rtol=0, atol=1e-14)
    assert np.array_equal(grads["cls.predictions.bias"], untied_grads["cls.predictions.decoder.bias"])


def test_float64_end_to_end_and_float32_by_default():
    inputs, labels = batch(), np.array([0, 1])
    model = small_model(dtype=np.float32)
    out = model(**inputs, labels=labels)
    loss, grads = model.loss_and_grads(**inputs, labels=labels)
    assert out.logits.dtype == np.float32 and np.asarray(loss).dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())
    assert model.astype(np.float64) is model
    out = model(**inputs, labels=labels, output_hidden_states=True)
    loss, grads = model.loss_and_grads(**inputs, labels=labels)
    assert out.logits.dtype == np.float64 and out.loss.dtype == np.float64
    assert all(h.dtype == np.float64 for h in out.hidden_states)
    assert np.asarray(loss).dtype == np.float64 and all(g.dtype == np.float64 for g in grads.values())
    assert all(p.dtype == np.float64 for _, p in model.named_parameters())
    with pytest.raises(TypeError):
        model.astype(np.int32)


def test_grads_have_the_parameters_shapes_and_unused_ones_are_left_out():
    inputs = batch()
    for head, targets, unused in [
            ("SqueezeBertForTokenClassification", dict(labels=np.zeros((2, 7), np.int64)), "transformer.pooler"),
            ("SqueezeBertForQuestionAnswering", dict(start_positions=[1, 2], end_positions=[3, 4]),
             "transformer.pooler"),
            ("SqueezeBertForMaskedLM", dict(labels=np.zeros((2, 7), np.int64)), "transformer.pooler")]:
        model = small_model(head, num_labels=2)
        _, grads = model.loss_and_grads(**inputs, **targets)
        params = dict(model.named_parameters())
        assert set(grads) == {n for n in params if not n.startswith(unused)}
        assert all(grads[n].shape == params[n].shape for n in grads)


def test_inputs_embeds_leave_the_word_embeddings_without_gradient():
    model = small_model()
    embeds = np.random.default_rng(0).standard_normal((2, 7, 16))
    _, grads = model.loss_and_grads(inputs_embeds=embeds, labels=np.array([0, 1]))
    assert "transformer.embeddings.word_embeddings.weight" not in grads
    assert "transformer.embeddings.position_embeddings.weight" in grads


def test_padding_row_gets_no_gradient():
    model = small_model(pad_token_id=0)
    ids = batch()
    ids["input_ids"][:, -1] = 0
    _, grads = model.loss_and_grads(**ids, labels=np.array([0, 1]))
    word = grads["transformer.embeddings.word_embeddings.weight"]
    assert np.all(word[0] == 0) and np.any(word[ids["input_ids"][0, 0]] != 0)


def test_bad_calls_are_clear_errors():
    model = small_model()
    with pytest.raises(InvalidInputError, match="needs labels"):
        model.loss_and_grads(**batch())
    base = small_model("SqueezeBertModel")
    with pytest.raises(InvalidInputError, match="d_last_hidden_state"):
        base.loss_and_grads(**batch())
    with pytest.raises(InvalidInputError, match="must have shape"):
        base.loss_and_grads(**batch(), d_last_hidden_state=np.zeros((2, 7, 3)))
    qa = small_model("SqueezeBertForQuestionAnswering", num_labels=2)
    with pytest.raises(InvalidInputError, match="start_positions"):
        qa.loss_and_grads(**batch(), end_positions=[1, 2])
    with pytest.raises(InvalidInputError, match="class indices"):
        model.loss_and_grads(**batch(), labels=np.array([0, 7]))


@pytest.mark.slow
def test_official_architecture_grads_match_torch_float64():
    """Full size (12 layers, 768 channels, vocab 30528), sequence classification, a padded batch of 2 x 12:
    every gradient within 1e-9 of torch's float64 autograd (relative to each tensor's largest)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from test_grads import assert_grads_match
    config = squeezebert_np.SqueezeBertConfig(vocab_size=30528, num_labels=3)
    cls = squeezebert_np.SqueezeBertForSequenceClassification
    sd = synthetic_state_dict(config, cls, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = cls(config, sd).astype(np.float64)
    theirs = transformers.SqueezeBertForSequenceClassification(transformers.SqueezeBertConfig(
        vocab_size=30528, num_labels=3)).eval()
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()}, strict=True)
    theirs.double()
    inputs, labels = batch(2, 12, 30528), np.array([2, 0])
    loss, grads = ours.loss_and_grads(**inputs, labels=labels)
    out = theirs(**{k: torch.from_numpy(v) for k, v in inputs.items()}, labels=torch.from_numpy(labels))
    out.loss.backward()
    assert_grads_match(grads, loss, theirs, out.loss.item(), np.float64)
