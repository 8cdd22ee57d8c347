"""SqueezeBertModel: thin classes that hold weights and mirror transformers' module tree.

    SqueezeBertModel
    ├── embeddings: SqueezeBertEmbeddings       word + position + token type, then LayerNorm     [N, W, C]
    ├── encoder: SqueezeBertEncoder             [N, W, C] -> [N, C, W], the layers, -> [N, W, C]
    │   └── layers[i]: SqueezeBertModule
    │       ├── attention: SqueezeBertSelfAttention   query/key/value: grouped 1x1 convs, then attention
    │       ├── post_attention: ConvDropoutLayerNorm  LN(conv(ctx) + x)
    │       ├── intermediate: ConvActivation          act(conv(a))
    │       └── output: ConvDropoutLayerNorm          LN(conv(h) + a)
    └── pooler: SqueezeBertPooler               tanh(dense(first token))

Each class's attribute names are transformers' names, so the keys of `state_dict()` are the checkpoint's keys.
Dropout is the identity at inference and is left out. The math lives in `functional.py`.
"""
import numpy as np

from . import fast
from . import functional as F
from .config import SqueezeBertConfig
from .errors import InvalidInputError
from .nn import Conv1d, Embedding, LayerNorm, Linear, Module
from .outputs import BaseModelOutputWithPooling
from .pretrained import SqueezeBertPreTrainedModel

# SqueezeBertLayerNorm is built without `eps`, so the encoder's LayerNorms always use 1e-12 (transformers L130),
# whatever config.layer_norm_eps says; only the embeddings and MLM-head LayerNorms read the config value.
ENCODER_LAYER_NORM_EPS = 1e-12


class SqueezeBertEmbeddings(Module):
    def __init__(self, config):
        self.word_embeddings = Embedding(config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id)
        self.position_embeddings = Embedding(config.max_position_embeddings, config.embedding_size)
        self.token_type_embeddings = Embedding(config.type_vocab_size, config.embedding_size)
        self.LayerNorm = LayerNorm(config.hidden_size, config.layer_norm_eps)

    def __call__(self, input_ids, token_type_ids, position_ids, inputs_embeds=None):  # [N, W] ints -> [N, W, C]
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        e = inputs_embeds + self.position_embeddings(position_ids) + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(e)


class SqueezeBertSelfAttention(Module):
    def __init__(self, config):
        c = config.hidden_size
        self.num_attention_heads = config.num_attention_heads
        self.query = Conv1d(c, c, groups=config.q_groups)
        self.key = Conv1d(c, c, groups=config.k_groups)
        self.value = Conv1d(c, c, groups=config.v_groups)

    def __call__(self, x, mask):  # [N, C, W], [N, 1, 1, W] | None -> [N, C, W], [N, h, W, W]
        return F.attention(self.query(x), self.key(x), self.value(x), mask, self.num_attention_heads)


class ConvDropoutLayerNorm(Module):
    """conv -> dropout (identity at inference) -> + residual -> LayerNorm over channels: post-LN, as in BERT."""

    def __init__(self, cin, cout, groups):
        self.conv1d = Conv1d(cin, cout, groups)
        self.layernorm = LayerNorm(cout, ENCODER_LAYER_NORM_EPS)

    def __call__(self, h, residual):  # [N, Cin, W], [N, Cout, W] -> [N, Cout, W]
        x = self.conv1d(h) + residual
        # SqueezeBertLayerNorm permutes to [N, W, C], normalises over C, and permutes back
        return self.layernorm(x.transpose(0, 2, 1)).transpose(0, 2, 1)


class ConvActivation(Module):
    def __init__(self, cin, cout, groups, act):
        self.conv1d = Conv1d(cin, cout, groups)
        self.act = act

    def __call__(self, x):  # [N, Cin, W] -> [N, Cout, W]
        return F.ACTIVATIONS[self.act](self.conv1d(x))


class SqueezeBertModule(Module):
    """One encoder layer: BERT's layer with every dense layer replaced by a (grouped) 1x1 conv."""

    def __init__(self, config):
        c, ci = config.hidden_size, config.intermediate_size
        self.attention = SqueezeBertSelfAttention(config)
        self.post_attention = ConvDropoutLayerNorm(c, c, groups=config.post_attention_groups)
        self.intermediate = ConvActivation(c, ci, groups=config.intermediate_groups, act=config.hidden_act)
        self.output = ConvDropoutLayerNorm(ci, c, groups=config.output_groups)

    def __call__(self, x, mask):  # [N, C, W] -> [N, C, W], [N, h, W, W]
        context, scores = self.attention(x, mask)
        a = self.post_attention(context, x)
        h = self.intermediate(a)
        return self.output(h, a), scores


class SqueezeBertEncoder(Module):
    def __init__(self, config):
        self.layers = [SqueezeBertModule(config) for _ in range(config.num_hidden_layers)]

    def __call__(self, hidden, mask, keep_hidden=True, keep_scores=True):  # [N, W, C] -> [N, W, C], lists
        """The layers. Returns the last hidden state, every hidden state and every layer's scores; the fast path
        (fast.py, on by default) leaves out of the lists what `keep_hidden` / `keep_scores` say nobody reads."""
        if fast.enabled():
            return fast.encoder_forward(self, hidden, mask, keep_hidden, keep_scores)
        x = hidden.transpose(0, 2, 1)                              # [N, W, C] -> [N, C, W]
        all_hidden, all_scores = [hidden], []
        for layer in self.layers:
            x, scores = layer(x, mask)
            all_hidden.append(x.transpose(0, 2, 1))                # each hidden state is returned as [N, W, C]
            all_scores.append(scores)
        return all_hidden[-1], all_hidden, all_scores


class SqueezeBertPooler(Module):
    def __init__(self, config):
        self.dense = Linear(config.hidden_size, config.hidden_size)

    def __call__(self, hidden):  # [N, W, C] -> [N, C]
        return np.tanh(self.dense(hidden[:, 0]))


# ---------------------------------------------------------------------------------------------------------------
# input checks: every way a call can be wrong gets a message naming the problem and the allowed range
# ---------------------------------------------------------------------------------------------------------------

def _as_int_array(value, name, floats_ok=False):
    try:
        a = np.asarray(value)
    except ValueError:   # ragged nested lists
        raise InvalidInputError(f"{name} must be a rectangular array; got ragged nested lists "
                                "(pad the sequences to one length, e.g. with the tokenizer's padding=True)") from None
    if a.dtype == object:
        raise InvalidInputError(f"{name} must be a rectangular array of integers; got ragged or mixed nested lists")
    if a.dtype.kind == "b" and name != "attention_mask":
        raise InvalidInputError(f"{name} must hold integers, got booleans")
    if a.dtype.kind not in ("iubf" if floats_ok else "iub"):
        raise InvalidInputError(f"{name} must hold integers, got dtype {a.dtype}"
                                + (" (token ids are integers: use .astype(np.int64) if they are whole numbers)"
                                   if a.dtype.kind == "f" else ""))
    return a


def _check_range(a, name, high):
    if a.size and (a.min() < 0 or a.max() >= high):
        bad = a.min() if a.min() < 0 else a.max()
        raise InvalidInputError(f"{name} must be in [0, {high}), found {int(bad)}")


def check_inputs(config, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                 inputs_embeds=None):
    """Validate and normalise a call's inputs; returns (input_ids, attention_mask, token_type_ids, position_ids,
    inputs_embeds, (N, W)) with transformers' defaults filled in: mask of ones, token types 0, positions 0..W-1."""
    if (input_ids is None) == (inputs_embeds is None):
        raise InvalidInputError("give exactly one of input_ids or inputs_embeds"
                                + (" (got both)" if input_ids is not None else " (got neither)"))
    if input_ids is not None:
        input_ids = _as_int_array(input_ids, "input_ids")
        if input_ids.ndim != 2:
            raise InvalidInputError(f"input_ids must be 2-D [batch, seq], got shape {input_ids.shape}"
                                    + (" (wrap a single sequence as [ids])" if input_ids.ndim == 1 else ""))
        _check_range(input_ids, "input_ids", config.vocab_size)
        shape = input_ids.shape
    else:
        try:
            inputs_embeds = np.asarray(inputs_embeds)
        except ValueError:
            raise InvalidInputError("inputs_embeds must be a rectangular float array [batch, seq, hidden]; "
                                    "got ragged nested lists") from None
        if inputs_embeds.dtype.kind not in "fiu" or inputs_embeds.ndim != 3 \
                or inputs_embeds.shape[2] != config.embedding_size:
            raise InvalidInputError(f"inputs_embeds must be a float array [batch, seq, {config.embedding_size}], "
                                    f"got shape {inputs_embeds.shape} dtype {inputs_embeds.dtype}")
        inputs_embeds = inputs_embeds.astype(np.float32, copy=False)
        shape = inputs_embeds.shape[:2]
    n, w = shape
    if n == 0:
        raise InvalidInputError("the batch is empty (batch size 0)")
    if w == 0:
        raise InvalidInputError("the sequences are empty (length 0)")
    # checked with explicit position_ids too: the attention scores take N * heads * W * W floats, whatever the ids
    if w > config.max_position_embeddings:
        raise InvalidInputError(f"sequence length {w} is longer than max_position_embeddings "
                                f"({config.max_position_embeddings}); truncate the input (tokenizer: truncation=True, "
                                f"max_length={config.max_position_embeddings})")

    def optional(value, name, default, high):
        if value is None:
            return default
        a = _as_int_array(value, name, floats_ok=name == "attention_mask")
        if name != "attention_mask" and a.ndim == 2 and a.shape[0] == 1 and a.shape[1] == shape[1]:
            a = np.broadcast_to(a, shape)          # [1, W] rows shared by the batch, as torch broadcasts them
        if a.shape != shape:
            raise InvalidInputError(f"{name} must have the shape of the input, {tuple(shape)}, got {a.shape}")
        if high is not None:
            _check_range(a, name, high)
        return a

    attention_mask = optional(attention_mask, "attention_mask", np.ones(shape, np.int64), None)
    token_type_ids = optional(token_type_ids, "token_type_ids", np.zeros(shape, np.int64), config.type_vocab_size)
    position_ids = optional(position_ids, "position_ids", np.broadcast_to(np.arange(w), shape),
                            config.max_position_embeddings)
    return input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, (n, w)


class SqueezeBertModel(SqueezeBertPreTrainedModel):
    """The bare SqueezeBERT encoder: embeddings, the layers, and the pooler over the first token.

    `SqueezeBertModel(config)` is initialised randomly as transformers does (seeded); `SqueezeBertModel(config,
    state_dict)` takes a dict of arrays keyed by transformers' names, with or without the `transformer.` prefix.
    """
    def __init__(self, config, state_dict=None, *, seed=0):
        config.validate()                    # a field changed since the config was made: checked before building
        self.config = config
        self.embeddings = SqueezeBertEmbeddings(config)
        self.encoder = SqueezeBertEncoder(config)
        self.pooler = SqueezeBertPooler(config)
        self._post_init(state_dict, seed)

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                 inputs_embeds=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        config = self.config
        input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, _ = check_inputs(
            config, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds)
        mask = F.additive_attention_mask(attention_mask)              # [N, 1, 1, W] or None
        e = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)   # [N, W, C]
        want_hidden = _flag(output_hidden_states, config.output_hidden_states)
        want_attentions = _flag(output_attentions, config.output_attentions)
        last, hidden_states, attentions = self.encoder(e, mask, want_hidden, want_attentions)
        out = BaseModelOutputWithPooling(
            last_hidden_state=last,
            pooler_output=self.pooler(last),
            hidden_states=tuple(hidden_states) if want_hidden else None,
            attentions=tuple(attentions) if want_attentions else None)
        return out if _flag(return_dict, config.return_dict) else out.to_tuple()


def _flag(value, default):
    return default if value is None else bool(value)


__all__ = ["SqueezeBertConfig", "SqueezeBertModel"]
