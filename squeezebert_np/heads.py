"""The five task heads on top of SqueezeBertModel, with their losses, as transformers defines them.

Each head model holds the base model as `transformer` (transformers' `base_model_prefix`), so its checkpoint keys
start with `transformer.`; the head's own keys are `cls.predictions.*`, `classifier.*` or `qa_outputs.*`.
Dropout before the classifiers acts in train mode only (as transformers: sequence classification, multiple choice
and token classification have one; QA and MLM none). Losses follow REFERENCE.md §6.

Training: `loss, grads = model.loss_and_grads(..., labels=...)` runs the base model's `forward`, the head and its
loss, then back: each head's `_head_loss_and_grads` is the head's forward and backward on one screen.
"""
import numpy as np

from . import fast
from . import functional as F
from .errors import InvalidInputError
from .modeling import SqueezeBertModel, _flag, base_output
from .nn import LayerNorm, Linear, Module, prefixed
from .outputs import (MaskedLMOutput, MultipleChoiceModelOutput, QuestionAnsweringModelOutput,
                      SequenceClassifierOutput, TokenClassifierOutput)
from .pretrained import SqueezeBertPreTrainedModel


class _HeadModel(SqueezeBertPreTrainedModel):
    """A base model under `transformer` plus a head (built by the subclass's `_build_head`), then the weights:
    initialised as transformers does without a state dict, loaded from it otherwise."""

    def __init__(self, config, state_dict=None, *, seed=0):
        self.config = config
        self.transformer = SqueezeBertModel(config, state_dict=SqueezeBertModel.BUILD_ONLY)
        self._build_head(config)
        self.dropout_rng = np.random.default_rng(seed)    # every dropout of this model draws from it (train mode)
        self._post_init(state_dict, seed)

    @property
    def num_labels(self):
        return self.config.num_labels

    @property
    def dtype(self):
        return self.transformer.dtype

    def _rng(self):
        """The generator dropout draws from: the model's own in train mode, none (no dropout) in eval mode."""
        return self.dropout_rng if self.training else None

    def _dropout(self, x):
        return F.dropout(x, self.config.hidden_dropout_prob, self._rng())[0]

    def loss_and_grads(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                       inputs_embeds=None, **targets):
        """(loss, grads): the loss `model(..., labels=...)` computes in the current mode (dropout in train mode),
        and its gradient with respect to every parameter it uses, {name: array} keyed and ordered as
        transformers' `named_parameters()` (a tied weight once, under its first name, with the sum of both uses;
        parameters the head never uses, such as the pooler under token classification, QA and MLM, left out)."""
        rng = self._rng()
        inputs, meta = self._base_inputs(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds)
        with fast.training_step(self):      # float32 temporaries reused from the last step (fast.py)
            (last, pooled, _, _), base_cache = self.transformer.forward(**inputs, rng=rng)
            loss, d_last, d_pooled, head_grads = self._head_loss_and_grads(last, pooled, rng, meta, **targets)
            base_grads, _ = self.transformer.backward(d_last, d_pooled, base_cache)
        return loss, self._in_parameter_order({**prefixed("transformer.", base_grads), **head_grads})

    def _base_inputs(self, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds):
        return dict(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                    position_ids=position_ids, inputs_embeds=inputs_embeds), None

    def _run_base(self, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                  output_attentions, output_hidden_states):
        if self.training:               # the training path, dropout drawn from this model's generator
            results = self.transformer.forward(input_ids, attention_mask, token_type_ids, position_ids,
                                               inputs_embeds, rng=self.dropout_rng)[0]
            return base_output(results, _flag(output_hidden_states, self.config.output_hidden_states),
                               _flag(output_attentions, self.config.output_attentions))
        return self.transformer(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                                position_ids=position_ids, inputs_embeds=inputs_embeds,
                                output_attentions=output_attentions, output_hidden_states=output_hidden_states,
                                return_dict=True)

    def _finish(self, out, return_dict):
        return out if _flag(return_dict, self.config.return_dict) else out.to_tuple()


def _as_array(value, name):
    """`np.asarray(value)`, or InvalidInputError naming `name` if it is ragged or not numbers."""
    try:
        a = np.asarray(value)
    except ValueError:                                                 # ragged nested lists
        raise InvalidInputError(f"{name} must be a rectangular array; got ragged nested lists") from None
    if a.dtype == object:
        raise InvalidInputError(f"{name} must be a rectangular array of numbers; got ragged or mixed values")
    return a


def _labels(labels, name, shape, kinds="iu"):
    """Labels as an array of the expected shape and dtype kind, or a clear error."""
    a = _as_array(labels, name)
    if a.dtype.kind not in kinds:
        raise InvalidInputError(f"{name} must be {'integers' if kinds == 'iu' else 'numbers'}, got dtype {a.dtype}")
    if tuple(a.shape) != tuple(shape):
        raise InvalidInputError(f"{name} must have shape {tuple(shape)}, got {a.shape}")
    return a


def _required(value, name, model):
    if value is None:
        raise InvalidInputError(f"{type(model).__name__}.loss_and_grads needs {name}")
    return value


def _class_labels(labels, name, shape, num_classes):
    """Integer class labels in [0, num_classes), or -100 (ignored, as torch's CrossEntropyLoss default).

    transformers flattens labels with .view(-1), so any shape with the right number of elements is accepted."""
    a = _as_array(labels, name)
    if a.size == int(np.prod(shape)) and a.shape != tuple(shape):
        a = a.reshape(shape)
    a = _labels(a, name, shape)
    if a.dtype.kind == "u":          # checked before the cast: 2**64 - 100 must not wrap to -100 (ignored)
        bad = a >= num_classes
        if bad.any():
            raise InvalidInputError(f"{name} must be class indices in [0, {num_classes}) or -100 (ignored), "
                                    f"found {int(a[bad][0])}")
    a = a.astype(np.int64)
    bad = (a != -100) & ((a < 0) | (a >= num_classes))
    if bad.any():
        raise InvalidInputError(f"{name} must be class indices in [0, {num_classes}) or -100 (ignored), "
                                f"found {int(a[bad][0])}")
    return a


# ---------------------------------------------------------------------------------------------------------------
# masked language modelling
# ---------------------------------------------------------------------------------------------------------------

class SqueezeBertPredictionHeadTransform(Module):
    def __init__(self, config):
        self.dense = Linear(config.hidden_size, config.hidden_size)
        self.act = config.hidden_act
        self.LayerNorm = LayerNorm(config.hidden_size, config.layer_norm_eps)

    def __call__(self, x):  # [..., C] -> [..., C]
        return self.LayerNorm(F.ACTIVATIONS[self.act](self.dense(x)))


class SqueezeBertLMPredictionHead(Module):
    """transform, then the decoder: logits over all vocab_size rows of the (tied) word embeddings, plus a bias."""

    def __init__(self, config):
        # bias first: named_parameters() then lists the tied bias as transformers does, "cls.predictions.bias"
        self.bias = np.zeros(config.vocab_size, np.float32)            # the decoder's bias (tied)
        self.transform = SqueezeBertPredictionHeadTransform(config)
        self.decoder = Linear(config.hidden_size, config.vocab_size)   # weight: the word embeddings (tied)

    def initial_values(self, rng, std):
        return {"bias": np.zeros_like(self.bias)}

    def __call__(self, x):  # [..., C] -> [..., vocab_size]
        return self.decoder(self.transform(x))


class SqueezeBertOnlyMLMHead(Module):
    def __init__(self, config):
        self.predictions = SqueezeBertLMPredictionHead(config)

    def __call__(self, x):
        return self.predictions(x)


class SqueezeBertForMaskedLM(_HeadModel):
    """Masked-language-model logits at every position (fill-mask uses `cls` on the masked positions only)."""
    _tied_weights_keys = {"cls.predictions.decoder.bias": "cls.predictions.bias",
                          "cls.predictions.decoder.weight": "transformer.embeddings.word_embeddings.weight"}

    def _build_head(self, config):
        self.cls = SqueezeBertOnlyMLMHead(config)

    def get_output_embeddings(self):
        return self.cls.predictions.decoder

    def set_output_embeddings(self, new_embeddings):   # transformers: the head's bias follows the decoder's
        self.cls.predictions.decoder = new_embeddings
        self.cls.predictions.bias = new_embeddings.bias

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                 inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        base = self._run_base(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                              output_attentions, output_hidden_states)
        logits = self.cls(base.last_hidden_state)                      # [N, W, vocab_size]
        loss = None
        if labels is not None:
            labels = _class_labels(labels, "labels", logits.shape[:2], self.config.vocab_size)
            loss = F.cross_entropy(logits.reshape(-1, self.config.vocab_size), labels.reshape(-1))
        return self._finish(MaskedLMOutput(loss, logits, base.hidden_states, base.attentions), return_dict)

    def _head_loss_and_grads(self, last, pooled, rng, meta, labels=None):
        """dense -> act -> LayerNorm -> decoder, cross-entropy over the vocabulary; back again. The decoder's
        weight and bias gradients are folded into the tied word embeddings and cls.predictions.bias by the caller."""
        t, dec, v = self.cls.predictions.transform, self.cls.predictions.decoder, self.config.vocab_size
        pre = t.dense(last)                                            # [N, W, C]
        h, ln_cache = F.layer_norm_forward(F.ACTIVATIONS[t.act](pre), t.LayerNorm.weight, t.LayerNorm.bias,
                                           t.LayerNorm.eps)
        logits = dec(h)                                                # [N, W, vocab_size]
        labels = _class_labels(_required(labels, "labels", self), "labels", logits.shape[:2], v)
        loss, ce_cache = F.cross_entropy_forward(logits.reshape(-1, v), labels.reshape(-1))
        dlogits = F.cross_entropy_backward(1.0, ce_cache).reshape(logits.shape)
        dh, dw_dec, db_dec = F.linear_backward(dlogits, h, dec.weight)
        dact, dw_ln, db_ln = F.layer_norm_backward(dh, ln_cache)
        dlast, dw, db = F.linear_backward(dact * F.ACTIVATION_GRADS[t.act](pre), last, t.dense.weight)
        grads = {"cls.predictions.transform.dense.weight": dw, "cls.predictions.transform.dense.bias": db,
                 "cls.predictions.transform.LayerNorm.weight": dw_ln, "cls.predictions.transform.LayerNorm.bias": db_ln,
                 "cls.predictions.decoder.weight": dw_dec, "cls.predictions.decoder.bias": db_dec}
        return loss, dlast, None, grads


# ---------------------------------------------------------------------------------------------------------------
# classification heads
# ---------------------------------------------------------------------------------------------------------------

def sequence_classification_loss(config, logits, labels, with_grad=False):
    """transformers' rule: problem_type inferred from num_labels and the labels' dtype, then set on the config
    for good (later calls keep the first choice, a quirk kept for parity), or honoured when already set.
    With `with_grad`, returns (loss, dloss/dlogits)."""
    labels = _as_array(labels, "labels")
    if config.problem_type is None:
        if config.num_labels == 1:
            config.problem_type = "regression"
        elif labels.dtype.kind in "iu":
            config.problem_type = "single_label_classification"
        else:
            config.problem_type = "multi_label_classification"
    n, k = logits.shape
    if config.problem_type == "regression":
        labels = _labels(labels, "labels", (n,) if k == 1 and labels.ndim == 1 else (n, k), kinds="iuf")
        labels = labels.astype(logits.dtype)
        pred, target = (logits.squeeze(), labels.squeeze()) if k == 1 else (logits, labels)
        loss = F.mse_loss(pred, target)
        grad = lambda: F.mse_loss_backward(1.0, pred, target).reshape(logits.shape)
    elif config.problem_type == "single_label_classification":
        loss, cache = F.cross_entropy_forward(logits, _class_labels(labels, "labels", (n,), k))
        grad = lambda: F.cross_entropy_backward(1.0, cache)
    else:
        labels = _labels(labels, "labels", (n, k), kinds="iufb")       # multi-label: one 0/1 target per class
        loss = F.bce_with_logits(logits, labels)
        grad = lambda: F.bce_with_logits_backward(1.0, logits, labels)
    return (loss, grad()) if with_grad else loss


def _classifier_loss_and_grads(model, x, rng, loss_fn, reshape=None):
    """dropout -> classifier -> loss, and back: (loss, dx, grads of the classifier). `loss_fn(logits)` returns
    (loss, dlogits); `reshape` maps the classifier's output to the logits (multiple choice)."""
    dropped, drop_mask = F.dropout(x, model.config.hidden_dropout_prob, rng)
    out = model.classifier(dropped)
    loss, dlogits = loss_fn(out if reshape is None else out.reshape(reshape))
    dx, dw, db = F.linear_backward(dlogits.reshape(out.shape), dropped, model.classifier.weight)
    return loss, F.dropout_backward(dx, drop_mask), {"classifier.weight": dw, "classifier.bias": db}


class SqueezeBertForSequenceClassification(_HeadModel):
    """A linear classifier on the pooled first token: num_labels logits (3 for squeezebert-mnli)."""

    def _build_head(self, config):
        self.classifier = Linear(config.hidden_size, config.num_labels)

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                 inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        base = self._run_base(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                              output_attentions, output_hidden_states)
        logits = self.classifier(self._dropout(base.pooler_output))    # [N, num_labels]
        loss = None if labels is None else sequence_classification_loss(self.config, logits, labels)
        return self._finish(SequenceClassifierOutput(loss, logits, base.hidden_states, base.attentions), return_dict)

    def _head_loss_and_grads(self, last, pooled, rng, meta, labels=None):
        labels = _required(labels, "labels", self)
        loss, dpooled, grads = _classifier_loss_and_grads(
            self, pooled, rng, lambda logits: sequence_classification_loss(self.config, logits, labels, True))
        return loss, None, dpooled, grads


def _flatten_choices(value, name, shape, trailing=0):
    """[N, choices, W(, C)] -> [N * choices, W(, C)], checking that every input has the same choices."""
    if value is None:
        return None
    a = _as_array(value, name)
    if a.ndim != 3 + trailing or tuple(a.shape[:3]) != tuple(shape):
        raise InvalidInputError(f"{name} must have shape [batch, num_choices, seq{', hidden' if trailing else ''}] "
                                f"= {tuple(shape)}{' + (hidden,)' if trailing else ''}, got {a.shape}")
    return a.reshape(-1, *a.shape[2:])


class SqueezeBertForMultipleChoice(_HeadModel):
    """Scores each of C candidate sequences with one pooled logit; softmax over the choices."""

    def _build_head(self, config):
        self.classifier = Linear(config.hidden_size, 1)

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                 inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        inputs, (n, num_choices) = self._base_inputs(input_ids, attention_mask, token_type_ids, position_ids,
                                                     inputs_embeds)
        base = self._run_base(**inputs, output_attentions=output_attentions,
                              output_hidden_states=output_hidden_states)
        logits = self.classifier(self._dropout(base.pooler_output)).reshape(n, num_choices)  # [N * C, 1] -> [N, C]
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits, _class_labels(labels, "labels", (n,), num_choices))
        return self._finish(MultipleChoiceModelOutput(loss, logits, base.hidden_states, base.attentions), return_dict)

    def _base_inputs(self, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds):
        """[N, choices, W] inputs flattened to [N * choices, W] for the base model, and (N, choices)."""
        first = input_ids if input_ids is not None else inputs_embeds
        if first is None:
            raise InvalidInputError("give exactly one of input_ids or inputs_embeds (got neither)")
        first = _as_array(first, "input_ids" if input_ids is not None else "inputs_embeds")
        if first.ndim != (3 if input_ids is not None else 4):
            raise InvalidInputError(f"{'input_ids' if input_ids is not None else 'inputs_embeds'} must have shape "
                                    f"[batch, num_choices, seq{'' if input_ids is not None else ', hidden'}], "
                                    f"got {first.shape}")
        shape = first.shape[:3]
        return dict(input_ids=_flatten_choices(input_ids, "input_ids", shape),
                    attention_mask=_flatten_choices(attention_mask, "attention_mask", shape),
                    token_type_ids=_flatten_choices(token_type_ids, "token_type_ids", shape),
                    position_ids=_flatten_choices(position_ids, "position_ids", shape),
                    inputs_embeds=_flatten_choices(inputs_embeds, "inputs_embeds", shape, trailing=1)), shape[:2]

    def _head_loss_and_grads(self, last, pooled, rng, meta, labels=None):
        n, num_choices = meta
        labels = _class_labels(_required(labels, "labels", self), "labels", (n,), num_choices)

        def loss_fn(logits):                                           # [N, C]
            loss, cache = F.cross_entropy_forward(logits, labels)
            return loss, F.cross_entropy_backward(1.0, cache)
        loss, dpooled, grads = _classifier_loss_and_grads(self, pooled, rng, loss_fn, reshape=(n, num_choices))
        return loss, None, dpooled, grads


class SqueezeBertForTokenClassification(_HeadModel):
    """A linear classifier on every position (label padding -100: it is not masked automatically)."""

    def _build_head(self, config):
        self.classifier = Linear(config.hidden_size, config.num_labels)

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                 inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        base = self._run_base(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                              output_attentions, output_hidden_states)
        logits = self.classifier(self._dropout(base.last_hidden_state))   # [N, W, num_labels]
        loss = None
        if labels is not None:
            k = self.config.num_labels
            labels = _class_labels(labels, "labels", logits.shape[:2], k)
            loss = F.cross_entropy(logits.reshape(-1, k), labels.reshape(-1))
        return self._finish(TokenClassifierOutput(loss, logits, base.hidden_states, base.attentions), return_dict)

    def _head_loss_and_grads(self, last, pooled, rng, meta, labels=None):
        k = self.config.num_labels
        labels = _class_labels(_required(labels, "labels", self), "labels", last.shape[:2], k)

        def loss_fn(logits):                                           # [N, W, K]
            loss, cache = F.cross_entropy_forward(logits.reshape(-1, k), labels.reshape(-1))
            return loss, F.cross_entropy_backward(1.0, cache)
        loss, dlast, grads = _classifier_loss_and_grads(self, last, rng, loss_fn)
        return loss, dlast, None, grads


def _positions(value, name, n):
    a = _as_array(value, name)
    a = _labels(a, name, a.shape, kinds="iu")
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]                                                    # transformers squeezes a trailing 1
    if a.shape != (n,):
        raise InvalidInputError(f"{name} must have shape ({n},) or ({n}, 1), got {a.shape}")
    if a.dtype.kind == "u":                                            # no wrap to negative: clamped high, as torch
        a = np.minimum(a, np.iinfo(np.int64).max)
    return a.astype(np.int64)


class SqueezeBertForQuestionAnswering(_HeadModel):
    """Extractive QA: a start and an end logit per position (no dropout before qa_outputs, as in transformers)."""

    def _build_head(self, config):
        self.qa_outputs = Linear(config.hidden_size, config.num_labels)

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                 inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                 output_hidden_states=None, return_dict=None):
        if self.config.num_labels != 2:
            raise InvalidInputError(f"question answering needs num_labels=2 (start, end), config has "
                                    f"{self.config.num_labels}")
        base = self._run_base(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                              output_attentions, output_hidden_states)
        logits = self.qa_outputs(base.last_hidden_state)              # [N, W, 2]
        start_logits, end_logits = logits[..., 0], logits[..., 1]      # [N, W] each
        loss = None
        if start_positions is not None and end_positions is not None:
            n, w = start_logits.shape
            # positions outside the sequence are clamped to [0, W] and W is ignored (negative ones count as 0:
            # transformers' behaviour, kept for parity)
            start = np.clip(_positions(start_positions, "start_positions", n), 0, w)
            end = np.clip(_positions(end_positions, "end_positions", n), 0, w)
            loss = start_logits.dtype.type((F.cross_entropy(start_logits, start, ignore_index=w)
                                            + F.cross_entropy(end_logits, end, ignore_index=w)) / 2)
        out = QuestionAnsweringModelOutput(loss, start_logits, end_logits, base.hidden_states, base.attentions)
        return self._finish(out, return_dict)

    def _head_loss_and_grads(self, last, pooled, rng, meta, start_positions=None, end_positions=None):
        """loss = (CE(start) + CE(end)) / 2 with positions clamped to [0, W] and W ignored; each CE's gradient
        is halved and the two are stacked back into qa_outputs' [N, W, 2]."""
        if self.config.num_labels != 2:
            raise InvalidInputError(f"question answering needs num_labels=2 (start, end), config has "
                                    f"{self.config.num_labels}")
        logits = self.qa_outputs(last)                                 # [N, W, 2]
        n, w = logits.shape[:2]
        start = np.clip(_positions(_required(start_positions, "start_positions", self), "start_positions", n), 0, w)
        end = np.clip(_positions(_required(end_positions, "end_positions", self), "end_positions", n), 0, w)
        start_loss, start_cache = F.cross_entropy_forward(logits[..., 0], start, ignore_index=w)
        end_loss, end_cache = F.cross_entropy_forward(logits[..., 1], end, ignore_index=w)
        dlogits = np.stack([F.cross_entropy_backward(0.5, start_cache), F.cross_entropy_backward(0.5, end_cache)],
                           axis=-1)                                    # [N, W, 2]
        dlast, dw, db = F.linear_backward(dlogits, last, self.qa_outputs.weight)
        loss = logits.dtype.type((start_loss + end_loss) / 2)
        return loss, dlast, None, {"qa_outputs.weight": dw, "qa_outputs.bias": db}

