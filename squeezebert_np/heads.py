"""The five task heads on top of SqueezeBertModel, with their losses, as transformers defines them.

Each head model holds the base model as `transformer` (transformers' `base_model_prefix`), so its checkpoint keys
start with `transformer.`; the head's own keys are `cls.predictions.*`, `classifier.*` or `qa_outputs.*`.
Dropout before the classifiers is the identity at inference and is left out. Losses follow REFERENCE.md §6.
"""
import numpy as np

from . import functional as F
from .errors import InvalidInputError
from .modeling import SqueezeBertModel, _flag
from .nn import LayerNorm, Linear, Module
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
        self._post_init(state_dict, seed)

    @property
    def num_labels(self):
        return self.config.num_labels

    def _run_base(self, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                  output_attentions, output_hidden_states):
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
        self.transform = SqueezeBertPredictionHeadTransform(config)
        self.decoder = Linear(config.hidden_size, config.vocab_size)   # weight: the word embeddings (tied)
        self.bias = np.zeros(config.vocab_size, np.float32)            # the decoder's bias (tied)

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


# ---------------------------------------------------------------------------------------------------------------
# classification heads
# ---------------------------------------------------------------------------------------------------------------

def sequence_classification_loss(config, logits, labels):
    """transformers' rule: problem_type inferred from num_labels and the labels' dtype, then set on the config
    for good (later calls keep the first choice, a quirk kept for parity), or honoured when already set."""
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
        labels = labels.astype(np.float32)
        return F.mse_loss(logits.squeeze(), labels.squeeze()) if k == 1 else F.mse_loss(logits, labels)
    if config.problem_type == "single_label_classification":
        return F.cross_entropy(logits, _class_labels(labels, "labels", (n,), k))
    labels = _labels(labels, "labels", (n, k), kinds="iufb")           # multi-label: one 0/1 target per class
    return F.bce_with_logits(logits, labels)


class SqueezeBertForSequenceClassification(_HeadModel):
    """A linear classifier on the pooled first token: num_labels logits (3 for squeezebert-mnli)."""

    def _build_head(self, config):
        self.classifier = Linear(config.hidden_size, config.num_labels)

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                 inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        base = self._run_base(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                              output_attentions, output_hidden_states)
        logits = self.classifier(base.pooler_output)                   # [N, num_labels]
        loss = None if labels is None else sequence_classification_loss(self.config, logits, labels)
        return self._finish(SequenceClassifierOutput(loss, logits, base.hidden_states, base.attentions), return_dict)


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
        first = input_ids if input_ids is not None else inputs_embeds
        if first is None:
            raise InvalidInputError("give exactly one of input_ids or inputs_embeds (got neither)")
        first = _as_array(first, "input_ids" if input_ids is not None else "inputs_embeds")
        if first.ndim != (3 if input_ids is not None else 4):
            raise InvalidInputError(f"{'input_ids' if input_ids is not None else 'inputs_embeds'} must have shape "
                                    f"[batch, num_choices, seq{'' if input_ids is not None else ', hidden'}], "
                                    f"got {first.shape}")
        shape = first.shape[:3]
        n, num_choices = shape[:2]
        base = self._run_base(_flatten_choices(input_ids, "input_ids", shape),
                              _flatten_choices(attention_mask, "attention_mask", shape),
                              _flatten_choices(token_type_ids, "token_type_ids", shape),
                              _flatten_choices(position_ids, "position_ids", shape),
                              _flatten_choices(inputs_embeds, "inputs_embeds", shape, trailing=1),
                              output_attentions, output_hidden_states)
        logits = self.classifier(base.pooler_output).reshape(n, num_choices)   # [N * C, 1] -> [N, C]
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits, _class_labels(labels, "labels", (n,), num_choices))
        return self._finish(MultipleChoiceModelOutput(loss, logits, base.hidden_states, base.attentions), return_dict)


class SqueezeBertForTokenClassification(_HeadModel):
    """A linear classifier on every position (label padding -100: it is not masked automatically)."""

    def _build_head(self, config):
        self.classifier = Linear(config.hidden_size, config.num_labels)

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                 inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        base = self._run_base(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                              output_attentions, output_hidden_states)
        logits = self.classifier(base.last_hidden_state)              # [N, W, num_labels]
        loss = None
        if labels is not None:
            k = self.config.num_labels
            labels = _class_labels(labels, "labels", logits.shape[:2], k)
            loss = F.cross_entropy(logits.reshape(-1, k), labels.reshape(-1))
        return self._finish(TokenClassifierOutput(loss, logits, base.hidden_states, base.attentions), return_dict)


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
            loss = np.float32((F.cross_entropy(start_logits, start, ignore_index=w)
                               + F.cross_entropy(end_logits, end, ignore_index=w)) / 2)
        out = QuestionAnsweringModelOutput(loss, start_logits, end_logits, base.hidden_states, base.attentions)
        return self._finish(out, return_dict)

