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
The math lives in `functional.py`.

Training (cs231n's layers.py pattern, one level up): beside each `__call__` (inference), `forward(..., rng)` runs
the same math keeping a cache, with dropout drawn from `rng` (None: no dropout), and `backward(dout, cache)` returns
the input gradient(s) and `{parameter name: gradient}` keyed relative to the module. Dropout sits where
transformers puts it: after the embeddings' LayerNorm, on the attention probabilities, after each
ConvDropoutLayerNorm's conv (docs TRAINING.md).
"""
import numpy as np

from . import fast
from . import functional as F
from .config import SqueezeBertConfig
from .errors import InvalidInputError
from .nn import Conv1d, Embedding, LayerNorm, Linear, Module, prefixed
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
        self.dropout_prob = config.hidden_dropout_prob

    def __call__(self, input_ids, token_type_ids, position_ids, inputs_embeds=None):  # [N, W] ints -> [N, W, C]
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        e = inputs_embeds + self.position_embeddings(position_ids) + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(e)

    def forward(self, input_ids, token_type_ids, position_ids, inputs_embeds, rng):  # -> [N, W, C], cache
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        e = inputs_embeds + self.position_embeddings(position_ids) + self.token_type_embeddings(token_type_ids)
        y, ln_cache = F.layer_norm_forward(e, self.LayerNorm.weight, self.LayerNorm.bias, self.LayerNorm.eps)
        y, drop_mask = F.dropout(y, self.dropout_prob, rng)
        return y, (input_ids, token_type_ids, position_ids, ln_cache, drop_mask)

    def backward(self, dout, cache):  # [N, W, C] -> d inputs_embeds [N, W, E], grads
        """The sum e = word + position + token type passes de to each table, scattered into the looked-up rows."""
        input_ids, token_type_ids, position_ids, ln_cache, drop_mask = cache
        de, dw, db = F.layer_norm_backward(F.dropout_backward(dout, drop_mask), ln_cache)
        table = lambda emb, ids: F.embedding_backward(de, ids, emb.weight.shape[0], emb.padding_idx)
        grads = {"LayerNorm.weight": dw, "LayerNorm.bias": db,
                 "position_embeddings.weight": table(self.position_embeddings, position_ids),
                 "token_type_embeddings.weight": table(self.token_type_embeddings, token_type_ids)}
        if input_ids is not None:                 # with inputs_embeds, the word table is not used: no gradient
            grads["word_embeddings.weight"] = table(self.word_embeddings, input_ids)
        return de, grads


def _conv(conv, x):  # [N, Cin, W] -> [N, Cout, W]
    """The training forward's grouped conv: fast.py's one GEMM per group in float32 when the fast path is on,
    functional.py's otherwise (float64, `fast.disable()`)."""
    if fast.enabled() and x.dtype == np.float32:
        return fast.grouped_conv1x1(x, conv.weight, conv.bias, conv.groups)
    return conv(x)


def _conv_backward(conv, dout, x):  # [N, Cout, W], [N, Cin, W] -> dx [N, Cin, W], dweight, dbias
    if fast.enabled() and x.dtype == np.float32:
        return fast.grouped_conv1x1_backward(dout, x, conv.weight, conv.groups)
    return F.grouped_conv1x1_backward(dout, x, conv.weight, conv.groups)


class SqueezeBertSelfAttention(Module):
    def __init__(self, config):
        c = config.hidden_size
        self.num_attention_heads = config.num_attention_heads
        self.query = Conv1d(c, c, groups=config.q_groups)
        self.key = Conv1d(c, c, groups=config.k_groups)
        self.value = Conv1d(c, c, groups=config.v_groups)

        self.dropout_prob = config.attention_probs_dropout_prob

    def __call__(self, x, mask):  # [N, C, W], [N, 1, 1, W] | None -> [N, C, W], [N, h, W, W]
        return F.attention(self.query(x), self.key(x), self.value(x), mask, self.num_attention_heads)

    def forward(self, x, mask, rng):  # -> [N, C, W], [N, h, W, W], cache
        q, k, v = (_conv(conv, x) for conv in (self.query, self.key, self.value))
        attention_forward = fast.attention_forward if fast.enabled() and x.dtype == np.float32 else F.attention_forward
        context, scores, cache = attention_forward(q, k, v, mask, self.num_attention_heads, self.dropout_prob, rng)
        return context, scores, (x, cache)

    def backward(self, dcontext, cache):  # [N, C, W] -> dx [N, C, W], grads
        """x feeds three convs: dx is the sum of the three convs' input gradients."""
        x, attention_cache = cache
        dx, grads = 0, {}
        fast_path = fast.enabled() and x.dtype == np.float32
        for name, d in zip(("query", "key", "value"),
                           (fast.attention_backward if fast_path else F.attention_backward)(dcontext, attention_cache)):
            conv = getattr(self, name)
            dxi, grads[f"{name}.weight"], grads[f"{name}.bias"] = _conv_backward(conv, d, x)
            dx = dx + dxi
        return dx, grads


class ConvDropoutLayerNorm(Module):
    """conv -> dropout (identity at inference) -> + residual -> LayerNorm over channels: post-LN, as in BERT."""

    def __init__(self, cin, cout, groups, dropout_prob=0.0):
        self.conv1d = Conv1d(cin, cout, groups)
        self.layernorm = LayerNorm(cout, ENCODER_LAYER_NORM_EPS)
        self.dropout_prob = dropout_prob

    def __call__(self, h, residual):  # [N, Cin, W], [N, Cout, W] -> [N, Cout, W]
        x = self.conv1d(h) + residual
        # SqueezeBertLayerNorm permutes to [N, W, C], normalises over C, and permutes back
        return self.layernorm(x.transpose(0, 2, 1)).transpose(0, 2, 1)

    def forward(self, h, residual, rng):  # -> [N, Cout, W], cache
        c, drop_mask = F.dropout(_conv(self.conv1d, h), self.dropout_prob, rng)
        ln = self.layernorm
        y, ln_cache = F.layer_norm_forward((c + residual).transpose(0, 2, 1), ln.weight, ln.bias, ln.eps)
        return y.transpose(0, 2, 1), (h, ln_cache, drop_mask)

    def backward(self, dout, cache):  # [N, Cout, W] -> dh [N, Cin, W], dresidual [N, Cout, W], grads
        h, ln_cache, drop_mask = cache
        dx, dlw, dlb = F.layer_norm_backward(dout.transpose(0, 2, 1), ln_cache)
        dx = dx.transpose(0, 2, 1)                                   # [N, W, C] -> [N, C, W]: d(conv + residual)
        dh, dw, db = _conv_backward(self.conv1d, F.dropout_backward(dx, drop_mask), h)
        return dh, dx, {"conv1d.weight": dw, "conv1d.bias": db, "layernorm.weight": dlw, "layernorm.bias": dlb}


class ConvActivation(Module):
    def __init__(self, cin, cout, groups, act):
        self.conv1d = Conv1d(cin, cout, groups)
        self.act = act

    def __call__(self, x):  # [N, Cin, W] -> [N, Cout, W]
        return F.ACTIVATIONS[self.act](self.conv1d(x))

    def forward(self, x, rng=None):  # -> [N, Cout, W], cache
        pre = _conv(self.conv1d, x)
        if self.act == "gelu" and pre.dtype == np.float32 and fast.enabled():
            y, act_grad = fast.gelu_and_grad(pre)      # float32 in one pass (the float64 erf was ~2/3 of a step)
            return y, (x, act_grad)
        return F.ACTIVATIONS[self.act](pre), (x, F.ACTIVATION_GRADS[self.act](pre))

    def backward(self, dout, cache):  # [N, Cout, W] -> dx [N, Cin, W], grads
        x, act_grad = cache                            # act'(pre), computed in the forward
        if fast.enabled() and act_grad.dtype == np.float32:
            dpre = fast.multiply(dout, act_grad)       # into a reused buffer inside loss_and_grads (fast.py)
        else:
            dpre = dout * act_grad
        dx, dw, db = _conv_backward(self.conv1d, dpre, x)
        return dx, {"conv1d.weight": dw, "conv1d.bias": db}


class SqueezeBertModule(Module):
    """One encoder layer: BERT's layer with every dense layer replaced by a (grouped) 1x1 conv."""

    def __init__(self, config):
        c, ci = config.hidden_size, config.intermediate_size
        self.attention = SqueezeBertSelfAttention(config)
        p = config.hidden_dropout_prob
        self.post_attention = ConvDropoutLayerNorm(c, c, groups=config.post_attention_groups, dropout_prob=p)
        self.intermediate = ConvActivation(c, ci, groups=config.intermediate_groups, act=config.hidden_act)
        self.output = ConvDropoutLayerNorm(ci, c, groups=config.output_groups, dropout_prob=p)

    def __call__(self, x, mask):  # [N, C, W] -> [N, C, W], [N, h, W, W]
        context, scores = self.attention(x, mask)
        a = self.post_attention(context, x)
        h = self.intermediate(a)
        return self.output(h, a), scores

    def forward(self, x, mask, rng):  # -> [N, C, W], [N, h, W, W], cache
        context, scores, attention_cache = self.attention.forward(x, mask, rng)
        a, post_cache = self.post_attention.forward(context, x, rng)
        h, intermediate_cache = self.intermediate.forward(a)
        y, output_cache = self.output.forward(h, a, rng)
        return y, scores, (attention_cache, post_cache, intermediate_cache, output_cache)

    def backward(self, dout, cache):  # [N, C, W] -> dx [N, C, W], grads
        """The forward in reverse; a and x each feed two places (a sublayer and a residual), so their
        gradients add up."""
        attention_cache, post_cache, intermediate_cache, output_cache = cache
        dh, da, g_out = self.output.backward(dout, output_cache)
        da_h, g_int = self.intermediate.backward(dh, intermediate_cache)
        dcontext, dx, g_post = self.post_attention.backward(da + da_h, post_cache)
        dx_att, g_att = self.attention.backward(dcontext, attention_cache)
        grads = {**prefixed("attention.", g_att), **prefixed("post_attention.", g_post),
                 **prefixed("intermediate.", g_int), **prefixed("output.", g_out)}
        return dx + dx_att, grads


class SqueezeBertEncoder(Module):
    def __init__(self, config):
        self.layers = [SqueezeBertModule(config) for _ in range(config.num_hidden_layers)]

    def __call__(self, hidden, mask, keep_hidden=True, keep_scores=True):  # [N, W, C] -> [N, W, C], lists
        """The layers. Returns the last hidden state, every hidden state and every layer's scores; the fast path
        (fast.py, on by default) leaves out of the lists what `keep_hidden` / `keep_scores` say nobody reads."""
        if fast.enabled() and hidden.dtype == np.float32:          # the fast path is float32 only
            return fast.encoder_forward(self, hidden, mask, keep_hidden, keep_scores)
        x = hidden.transpose(0, 2, 1)                              # [N, W, C] -> [N, C, W]
        all_hidden, all_scores = [hidden], []
        for layer in self.layers:
            x, scores = layer(x, mask)
            all_hidden.append(x.transpose(0, 2, 1))                # each hidden state is returned as [N, W, C]
            all_scores.append(scores)
        return all_hidden[-1], all_hidden, all_scores

    def forward(self, hidden, mask, rng):  # [N, W, C] -> [N, W, C], lists, cache
        """The training forward; in float32 with several threads, over groups of sequences in parallel (fast.py)."""
        if fast.enabled() and hidden.dtype == np.float32 and fast.training_parts(hidden.shape[0]) > 1:
            return fast.encoder_train_forward(self, hidden, mask, rng)
        return self.forward_layers(hidden, mask, rng)

    def forward_layers(self, hidden, mask, rng):  # [N, W, C] -> [N, W, C], lists, cache
        x = hidden.transpose(0, 2, 1)                              # [N, W, C] -> [N, C, W]
        all_hidden, all_scores, caches = [hidden], [], []
        for layer in self.layers:
            x, scores, cache = layer.forward(x, mask, rng)
            all_hidden.append(x.transpose(0, 2, 1))
            all_scores.append(scores)
            caches.append(cache)
        return all_hidden[-1], all_hidden, all_scores, caches

    def backward(self, dout, caches):  # [N, W, C] -> d hidden [N, W, C], grads
        if isinstance(caches, fast.PartCaches):                    # the forward ran over groups of sequences
            return fast.encoder_train_backward(self, dout, caches)
        return self.backward_layers(dout, caches)

    def backward_layers(self, dout, caches):  # [N, W, C] -> d hidden [N, W, C], grads
        dx = dout.transpose(0, 2, 1)                               # [N, W, C] -> [N, C, W]
        grads = {}
        for i in reversed(range(len(self.layers))):
            dx, g = self.layers[i].backward(dx, caches[i])
            grads.update(prefixed(f"layers.{i}.", g))
        return dx.transpose(0, 2, 1), grads


class SqueezeBertPooler(Module):
    def __init__(self, config):
        self.dense = Linear(config.hidden_size, config.hidden_size)

    def __call__(self, hidden):  # [N, W, C] -> [N, C]
        return np.tanh(self.dense(hidden[:, 0]))

    def backward(self, dpooled, hidden, pooled):  # [N, C], [N, W, C], [N, C] -> d hidden [N, W, C], grads
        """y = tanh(z), z = dense(hidden[:, 0]): dz = dy (1 - y^2); only the first token gets a gradient."""
        dh0, dw, db = F.linear_backward(dpooled * (1 - np.square(pooled)), hidden[:, 0], self.dense.weight)
        dhidden = np.zeros_like(hidden)
        dhidden[:, 0] = dh0
        return dhidden, {"dense.weight": dw, "dense.bias": db}


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
                 inputs_embeds=None, dtype=np.float32):
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
        inputs_embeds = inputs_embeds.astype(dtype, copy=False)
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
    In train mode (`model.train()`) dropout is on, drawn from `model.dropout_rng` (np.random.default_rng(seed)).
    """
    def __init__(self, config, state_dict=None, *, seed=0):
        config.validate()                    # a field changed since the config was made: checked before building
        self.config = config
        self.embeddings = SqueezeBertEmbeddings(config)
        self.encoder = SqueezeBertEncoder(config)
        self.pooler = SqueezeBertPooler(config)
        self.dropout_rng = np.random.default_rng(seed)
        self._post_init(state_dict, seed)

    def __call__(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                 inputs_embeds=None, output_attentions=None, output_hidden_states=None, return_dict=None):
        config = self.config
        want_hidden = _flag(output_hidden_states, config.output_hidden_states)
        want_attentions = _flag(output_attentions, config.output_attentions)
        if self.training:                       # the training path: dropout on (its cache is dropped here)
            out = self.forward(input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds,
                               rng=self.dropout_rng)[0]
            out = base_output(out, want_hidden, want_attentions)
            return out if _flag(return_dict, config.return_dict) else out.to_tuple()
        input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, _ = check_inputs(
            config, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, self.dtype)
        mask = F.additive_attention_mask(attention_mask, self.dtype)  # [N, 1, 1, W] or None
        e = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)   # [N, W, C]
        last, hidden_states, attentions = self.encoder(e, mask, want_hidden, want_attentions)
        out = BaseModelOutputWithPooling(
            last_hidden_state=last,
            pooler_output=self.pooler(last),
            hidden_states=tuple(hidden_states) if want_hidden else None,
            attentions=tuple(attentions) if want_attentions else None)
        return out if _flag(return_dict, config.return_dict) else out.to_tuple()

    @property
    def dtype(self):
        """The parameters' dtype (float32 unless converted with `astype`)."""
        return self.embeddings.LayerNorm.weight.dtype

    # -- training ---------------------------------------------------------------------------------------------

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                inputs_embeds=None, rng=None):
        """The plain forward keeping a cache for `backward`; dropout drawn from `rng` (None: no dropout).
        Returns (last_hidden_state [N, W, C], pooler_output [N, C], hidden states, scores), cache."""
        input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, _ = check_inputs(
            self.config, input_ids, attention_mask, token_type_ids, position_ids, inputs_embeds, self.dtype)
        mask = F.additive_attention_mask(attention_mask, self.dtype)  # [N, 1, 1, W] or None
        e, embeddings_cache = self.embeddings.forward(input_ids, token_type_ids, position_ids, inputs_embeds, rng)
        last, hidden_states, scores, encoder_caches = self.encoder.forward(e, mask, rng)
        pooled = self.pooler(last)
        return (last, pooled, hidden_states, scores), (embeddings_cache, encoder_caches, last, pooled)

    def backward(self, d_last_hidden_state, d_pooler_output, cache):  # [N, W, C] | None, [N, C] | None
        """Gradients of every parameter used, {transformers name: array}, and d inputs_embeds [N, W, E].
        The pooler gets a gradient only when `d_pooler_output` is given (as in torch, where an unused
        parameter's .grad stays None)."""
        embeddings_cache, encoder_caches, last, pooled = cache
        dlast = np.zeros_like(last) if d_last_hidden_state is None else d_last_hidden_state.astype(last.dtype)
        grads = {}
        if d_pooler_output is not None:
            dh, g = self.pooler.backward(d_pooler_output.astype(last.dtype), last, pooled)
            dlast = dlast + dh
            grads.update(prefixed("pooler.", g))
        de, g = self.encoder.backward(dlast, encoder_caches)
        grads.update(prefixed("encoder.", g))
        d_inputs_embeds, g = self.embeddings.backward(de, embeddings_cache)
        grads.update(prefixed("embeddings.", g))
        return grads, d_inputs_embeds

    def loss_and_grads(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None,
                       inputs_embeds=None, d_last_hidden_state=None, d_pooler_output=None):
        """The base model has no loss: give the upstream gradient(s) of whatever sits on top of it.

        loss = sum(last_hidden_state * d_last_hidden_state) + sum(pooler_output * d_pooler_output), so `grads` are
        what torch gives for `(out.last_hidden_state * d).sum().backward()` (plus the pooler term). Returns
        (loss, grads) with grads keyed as `named_parameters()`; the pooler is left out without `d_pooler_output`.
        Dropout is on in train mode, as for `model(...)`."""
        if d_last_hidden_state is None and d_pooler_output is None:
            raise InvalidInputError("SqueezeBertModel has no loss of its own: give d_last_hidden_state and/or "
                                    "d_pooler_output (the gradient of your loss with respect to them)")
        rng = self.dropout_rng if self.training else None
        with fast.training_step(self):      # float32 temporaries reused from the last step (fast.py)
            (last, pooled, _, _), cache = self.forward(input_ids, attention_mask, token_type_ids, position_ids,
                                                       inputs_embeds, rng)
            loss = last.dtype.type(0)
            for name, value, d in (("d_last_hidden_state", last, d_last_hidden_state),
                                   ("d_pooler_output", pooled, d_pooler_output)):
                if d is not None:
                    if np.shape(d) != value.shape:
                        raise InvalidInputError(f"{name} must have shape {value.shape}, got {np.shape(d)}")
                    loss = loss + (value * np.asarray(d, value.dtype)).sum()
            grads, _ = self.backward(None if d_last_hidden_state is None else np.asarray(d_last_hidden_state),
                                     None if d_pooler_output is None else np.asarray(d_pooler_output), cache)
        return loss, self._in_parameter_order(grads)


def base_output(results, want_hidden, want_attentions):
    """SqueezeBertModel.forward's results as transformers' output class."""
    last, pooled, hidden_states, scores = results
    return BaseModelOutputWithPooling(last_hidden_state=last, pooler_output=pooled,
                                      hidden_states=tuple(hidden_states) if want_hidden else None,
                                      attentions=tuple(scores) if want_attentions else None)


def _flag(value, default):
    return default if value is None else bool(value)


__all__ = ["SqueezeBertConfig", "SqueezeBertModel"]
