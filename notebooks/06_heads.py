# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · The heads: fill-mask, NLI and zero-shot, token classification, question answering, and their losses
#
# The encoder gives one vector per token. A *head* turns those vectors into an answer: a word for a `[MASK]`, a
# class for a sentence pair, a label per token, a span of the text. Each head is one or two small layers, and each
# has a loss for training.
#
# **Before this:** 05 (the encoder); 01 for the tokenizer's pairs and padding. **Time:** about 30 minutes, 15 for the
# exercise. **Leaves for the next lesson:** the complete models as users call them, whose speed 07 measures.
#
# **What you'll do:** compute fill-mask predictions through the tied MLM decoder; classify a premise/hypothesis pair
# and turn an NLI model into a zero-shot classifier; align word labels with WordPiece tokens; find the best answer
# span; write each loss naively and check it against the package and against transformers' numbers.
#
# **What you'll learn:** what each transformers head class computes (`SqueezeBertForMaskedLM`,
# `...ForSequenceClassification`, `...ForTokenClassification`, `...ForQuestionAnswering`, `...ForMultipleChoice`);
# that squeezebert-mnli's label order is *not recorded* in its checkpoint; why the losses are written the way they are.
#
# **What you'll need:** `squeezebert_np`. Optional: the official `squeezebert-uncased` and `squeezebert-mnli` folders
# in `$SQUEEZEBERT_DIR` (default `weights/` at the repository root). Without them, every model here has
# deterministic **synthetic** weights: the mechanics and checks are the same, but **the predictions are noise**.

# %%
import json
import math
import os
import shutil
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import squeezebert_np
from squeezebert_np import (SqueezeBertConfig, SqueezeBertForMaskedLM, SqueezeBertForQuestionAnswering,
                            SqueezeBertForSequenceClassification, SqueezeBertForTokenClassification)
from squeezebert_np import functional as F, nli
from squeezebert_np.course import official, repo_path    # $SQUEEZEBERT_DIR or weights/: the folder, or None
from squeezebert_np.fill_mask import predict
from squeezebert_np.synthetic import synthetic_state_dict
from squeezebert_np.tokenization_fast import SqueezeBertTokenizerFast

# %%
tokenizer = SqueezeBertTokenizerFast()
print({name: official(name) or "not found" for name in ["squeezebert-uncased", "squeezebert-mnli"]})

# %% [markdown]
# ## `SqueezeBertForMaskedLM`: fill-mask
#
# squeezebert-uncased was pretrained to guess masked words. Its head (`cls.predictions`) takes the encoder's vector at
# a `[MASK]`, applies `transform` (dense → GELU → LayerNorm), then the **decoder**: a product with the
# word-embedding matrix itself (the weights are *tied*: one array, read at the input and at the output) plus a
# bias, giving one logit per vocabulary row, 30,528 of them.

# %%
uncased = official("squeezebert-uncased")
if uncased:
    mlm = SqueezeBertForMaskedLM.from_pretrained(uncased)
    print("fill-mask: the official squeezebert-uncased weights")
else:
    config = SqueezeBertConfig(vocab_size=30528)                       # the official architecture
    mlm = SqueezeBertForMaskedLM(config, synthetic_state_dict(config, SqueezeBertForMaskedLM, seed=0))
    print("fill-mask: SYNTHETIC weights (official architecture, seed 0): the predictions below are NOISE")
decoder = mlm.cls.predictions.decoder
assert decoder.weight is mlm.transformer.embeddings.word_embeddings.weight      # tied: the very same array
print("decoder weight", decoder.weight.shape)

# %%
text = "Paris is the [MASK] of France."
enc = tokenizer(text, return_tensors="np")
position = int(np.flatnonzero(enc["input_ids"][0] == tokenizer.mask_token_id)[0])
hidden = mlm.transformer(**enc).last_hidden_state[0, position]                 # [C]
t = mlm.cls.predictions.transform
h = F.layer_norm(F.gelu(hidden @ t.dense.weight.T + t.dense.bias), t.LayerNorm.weight, t.LayerNorm.bias,
                 mlm.config.layer_norm_eps)                                    # [C]
logits = h @ decoder.weight.T + mlm.cls.predictions.bias                       # [30528]
probs = F.softmax(logits)
best = np.argsort(-probs)[:5]
print(f"top 5 for [MASK] ({'official weights' if uncased else 'SYNTHETIC weights: noise, not a prediction'}):")
for token_id in best:
    print(f"  {tokenizer.decode([token_id]):>12}  {probs[token_id]:.4f}")

# %% [markdown]
# Check against the head model's logits (which run the decoder at *every* position) and against the package's
# fill-mask, which runs it at the masked positions only (1 × 768 × 30,528 multiply-adds instead of W times that):

# %%
assert np.allclose(mlm(**enc).logits[0, position], logits, atol=1e-4)
result = predict(mlm, tokenizer, [text], k=5)[0]
assert [r["token"] for r in result] == best.tolist()
assert np.allclose([r["score"] for r in result], probs[best], atol=1e-6)
print(result[0]["sequence"])
if uncased:
    assert "capital" in [r["token_str"] for r in result], result

# %% [markdown]
# ## `SqueezeBertForSequenceClassification`: natural-language inference
#
# squeezebert-mnli was fine-tuned on MNLI: given a *premise* and a *hypothesis* (one input, `[CLS] premise [SEP]
# hypothesis [SEP]`, token types 0 then 1), say whether the premise entails, contradicts, or is neutral to the
# hypothesis. The head: the pooler (`tanh(dense(first token))`, notebook 05), then a linear layer to 3 logits.
#
# Without the official folder we make a small synthetic stand-in (2 layers, hidden 64, the real vocabulary) and save
# it like one, so that the same code loads either.

# %%
mnli, scratch = official("squeezebert-mnli"), None
if mnli is None:
    config = SqueezeBertConfig(vocab_size=30528, hidden_size=64, embedding_size=64, num_hidden_layers=2,
                               num_attention_heads=4, intermediate_size=256, num_labels=3)
    scratch = tempfile.mkdtemp(prefix="squeezebert_np_06_")
    mnli = os.path.join(scratch, "synthetic-mnli")
    synthetic = synthetic_state_dict(config, SqueezeBertForSequenceClassification, seed=0)
    SqueezeBertForSequenceClassification(config, synthetic).save_pretrained(mnli)
    tokenizer.save_pretrained(mnli)
    print("NLI: a small SYNTHETIC model: the classes below are NOISE")
else:
    print("NLI: the official squeezebert-mnli weights")
clf = SqueezeBertForSequenceClassification.from_pretrained(mnli)
print("id2label:", clf.config.id2label)

# %%
premise, hypothesis = "A man is playing a guitar on stage.", "A person is making music."
enc = tokenizer(premise, hypothesis, return_tensors="np")
last = clf.transformer(**enc).last_hidden_state                              # [1, W, C]
pooler = clf.transformer.pooler.dense
pooled = np.tanh(last[:, 0] @ pooler.weight.T + pooler.bias)                  # [1, C]: the [CLS] position
logits = pooled @ clf.classifier.weight.T + clf.classifier.bias               # [1, 3]
assert np.allclose(logits, clf(**enc).logits, atol=1e-5)
print("logits", logits[0], "probabilities", F.softmax(logits)[0],
      "" if scratch is None else "(SYNTHETIC model: these numbers are noise)")

# %% [markdown]
# **Which probability is "entailment"?** The config says only `num_labels: 3`, so the classes are `LABEL_0..2`,
# and nothing in the checkpoint records the order. Two candidates circulate: transformers' GLUE processor order
# `(contradiction, entailment, neutral)`, which the package's `nli` module assumes (the checkpoint's config looks
# like one written by transformers' `run_glue.py` of 2020), and `(entailment, neutral, contradiction)` from a
# third-party table. Neither is confirmed against the real weights; with them, a few clear MNLI pairs decide it.
# The package lets you override the order (`label_names=`, CLI `--label-order`).

# %%
for order in [nli.MNLI_LABELS, ("entailment", "neutral", "contradiction")]:
    print({name: round(float(p), 4) for name, p in zip(order, F.softmax(logits)[0])},
          "" if scratch is None else "(noise)")
by_package = nli.nli(premise, hypothesis, model=mnli, local_files_only=True)
assert list(by_package) == list(nli.MNLI_LABELS)
assert np.allclose(list(by_package.values()), F.softmax(logits)[0], atol=1e-6)

# %% [markdown]
# With the official weights, transformers' own integration test gives a check value: for the ids below (no mask,
# token types 0) squeezebert-mnli must give logits `[0.6401, -0.0349, -0.6041]` to 1e-4.

# %%
if official("squeezebert-mnli"):
    check = clf(np.array([[1, 29414, 232, 328, 740, 1140, 12695, 69, 13, 1588, 2]])).logits
    print(check)
    assert np.allclose(check, [[0.6401, -0.0349, -0.6041]], atol=1e-4)
else:
    print("no official squeezebert-mnli: skipping transformers' integration check value")

# %% [markdown]
# ## Zero-shot classification with an NLI model
#
# Any label set can be scored without training: make each label a hypothesis ("This example is sports."), run the
# (text, hypothesis) pairs as one batch, and compare the labels' **entailment** logits with a softmax across labels.
# This is transformers' `ZeroShotClassificationPipeline`; note that it depends on knowing which class is entailment.

# %%
text, labels = "The team won the cup final after extra time.", ["sports", "politics", "cooking"]
template = "This example is {}."
enc = tokenizer([text] * len(labels), [template.format(label) for label in labels], padding=True,
                return_tensors="np")
pair_logits = clf(**enc).logits                                              # [labels, 3]
entailment = nli.MNLI_LABELS.index("entailment")
scores = F.softmax(pair_logits[:, entailment])                                # the labels compete
print({label: round(float(score), 4) for label, score in zip(labels, scores)},
      "" if scratch is None else "(SYNTHETIC model: noise)")
result = nli.zero_shot(text, labels, model=mnli, local_files_only=True)
assert result["labels"] == [labels[i] for i in np.argsort(-scores, kind="stable")]
assert np.allclose(result["scores"], np.sort(scores)[::-1], atol=1e-6)

# %% [markdown]
# The three answers so far in one picture. Each panel's title says which weights produced it: on synthetic weights
# (what CI runs, and what you get without the official folders) the bars are the model's arithmetic applied to
# random numbers, so their heights and order mean nothing, however confident a bar looks.

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 3))
panels = [("fill-mask: Paris is the [MASK] of France.", [tokenizer.decode([i]) for i in best], probs[best], uncased),
          ("NLI (label order: the package's)", list(nli.MNLI_LABELS), F.softmax(logits)[0], scratch is None),
          (f"zero-shot: {text[:28]}...", labels, scores, scratch is None)]
for ax, (title, names, values, real) in zip(axes, panels):
    ax.barh(names[::-1], values[::-1], color="C0" if real else "0.6")
    ax.set_xlim(0, 1.15 * max(values)), ax.set_xlabel("probability")
    ax.set_title(title + ("" if real else "\nSYNTHETIC weights: noise"), fontsize=8, color="k" if real else "C3")
plt.tight_layout()

# %% [markdown]
# ## `SqueezeBertForTokenClassification`: one label per token
#
# A linear layer on *every* position's vector: `[N, W, C] → [N, W, num_labels]`. There is no official SqueezeBERT
# token classifier, so this part always uses a small synthetic model: it is about mechanics. Labels belong to words,
# but the model sees WordPiece tokens; the usual rule is to score the **first piece** of each word and give the other
# pieces, and `[CLS]`/`[SEP]`, the label `-100`, which the loss ignores.

# %%
ner_config = SqueezeBertConfig(vocab_size=30528, hidden_size=64, embedding_size=64, num_hidden_layers=2,
                               num_attention_heads=4, intermediate_size=256, num_labels=4)   # O, B-PER, I-PER, B-LOC
tagger = SqueezeBertForTokenClassification(
    ner_config, synthetic_state_dict(ner_config, SqueezeBertForTokenClassification, seed=0))
words, word_labels = ["Forrest", "Iandola", "lives", "in", "Berkeley", "."], [1, 2, 0, 0, 3, 0]
tokens, token_labels = ["[CLS]"], [-100]
for word, label in zip(words, word_labels):
    pieces = tokenizer.tokenize(word)
    tokens += pieces
    token_labels += [label] + [-100] * (len(pieces) - 1)         # only the first piece is scored
tokens, token_labels = tokens + ["[SEP]"], token_labels + [-100]
ids = np.array([tokenizer.convert_tokens_to_ids(tokens)])
assert ids[0].tolist() == tokenizer(" ".join(words))["input_ids"]
print(list(zip(tokens, token_labels)))

# %%
hidden = tagger.transformer(ids).last_hidden_state                           # [1, W, C]
logits = hidden @ tagger.classifier.weight.T + tagger.classifier.bias       # [1, W, 4]
labels = np.array([token_labels])
keep = labels[0] != -100
log_probs = F.log_softmax(logits[0][keep])                                   # [scored tokens, 4]
loss = -log_probs[np.arange(keep.sum()), labels[0][keep]].mean()
out = tagger(ids, labels=labels)
assert np.allclose(out.logits, logits, atol=1e-5) and np.isclose(out.loss, loss, atol=1e-6)
predicted = logits[0].argmax(-1)[keep]                                       # one label per word
print(f"loss {loss:.4f}; predicted word labels {predicted.tolist()} (noise: untrained head)")

# %% [markdown]
# ## `SqueezeBertForQuestionAnswering`: an answer span
#
# Extractive QA reads `[CLS] question [SEP] context [SEP]` and gives each position two logits (a linear layer to 2
# outputs): how likely the answer *starts* there and *ends* there. The answer is the span `i ≤ j` inside the context
# that maximises `start[i] + end[j]`, usually with a length limit. (Again a synthetic model: mechanics only.)

# %%
qa_config = SqueezeBertConfig(vocab_size=30528, hidden_size=64, embedding_size=64, num_hidden_layers=2,
                              num_attention_heads=4, intermediate_size=256, num_labels=2)
qa = SqueezeBertForQuestionAnswering(qa_config, synthetic_state_dict(qa_config, SqueezeBertForQuestionAnswering, 0))
question, context = "Where does Forrest live?", "Forrest Iandola lives in Berkeley, California, near the bay."
enc = tokenizer(question, context, return_tensors="np")
out = qa(**enc)
start, end = out.start_logits[0], out.end_logits[0]                          # [W] each
W, max_len = start.size, 8
in_context = (enc["token_type_ids"][0] == 1) & (enc["input_ids"][0] != tokenizer.sep_token_id)
span_ok = np.triu(np.ones((W, W), bool)) & ~np.triu(np.ones((W, W), bool), max_len)   # i <= j < i + max_len
span_ok &= in_context[:, None] & in_context[None, :]
i, j = np.unravel_index(np.where(span_ok, start[:, None] + end[None, :], -np.inf).argmax(), (W, W))
print(f"answer tokens {i}..{j}: {tokenizer.decode(enc['input_ids'][0][i:j + 1])!r} (noise: untrained head)")

# %% [markdown]
# The same search as a plain double loop, and the loss: the mean of two cross-entropies, one over start positions
# and one over end positions. A position outside the sequence is clamped to `W` and ignored (transformers'
# behaviour, which the package keeps).

# %%
spans = [(start[a] + end[b], a, b) for a in range(W) for b in range(a, min(a + max_len, W))
         if in_context[a] and in_context[b]]
assert max(spans)[1:] == (i, j)
answer_start = answer_end = tokenizer.convert_ids_to_tokens(enc["input_ids"][0]).index("berkeley")
ce = lambda logits, label: -F.log_softmax(logits)[label]
loss = (ce(start, answer_start) + ce(end, answer_end)) / 2
assert np.isclose(qa(**enc, start_positions=[answer_start], end_positions=[answer_end]).loss, loss, atol=1e-6)
only_end = qa(**enc, start_positions=[W + 5], end_positions=[answer_end]).loss   # start past the end: ignored
print(f"loss {loss:.4f}; with the start position out of range: {only_end}")

# %% [markdown]
# (With the start ignored, its cross-entropy averages over zero rows: NaN, exactly as in PyTorch, and half of NaN
# plus anything is NaN.)
#
# ## The losses, naively
#
# Each head's training loss is one of three, all averaged over the rows that count. Written the obvious way, with
# Python floats (float64) and a loop:

# %%
def naive_cross_entropy(logits, labels, ignore_index=-100):   # [M, K], [M] -> mean of -log p(label)
    total, count = 0.0, 0
    for row, label in zip(logits.tolist(), labels.tolist()):
        if label != ignore_index:
            total += math.log(sum(math.exp(v) for v in row)) - row[label]
            count += 1
    return total / count

def naive_mse(predictions, targets):
    return sum((p - t) ** 2 for p, t in zip(predictions.ravel().tolist(), targets.ravel().tolist())) / targets.size

def naive_bce(logits, targets):                               # sigmoid, then binary cross-entropy
    sigmoid = lambda x: 1 / (1 + math.exp(-x))
    pairs = zip(logits.ravel().tolist(), targets.ravel().tolist())
    return -sum(y * math.log(sigmoid(x)) + (1 - y) * math.log(1 - sigmoid(x)) for x, y in pairs) / targets.size

# %%
rng = np.random.default_rng(0)
logits = rng.standard_normal((6, 5), dtype=np.float32) * 3
labels = np.array([0, 4, -100, 2, 2, 1])
targets = (rng.random((6, 5)) < 0.5).astype(np.float32)
values = rng.standard_normal((6, 5), dtype=np.float32)
for name, ours, naive in [("cross-entropy", F.cross_entropy(logits, labels), naive_cross_entropy(logits, labels)),
                          ("MSE", F.mse_loss(logits, values), naive_mse(logits, values)),
                          ("BCE with logits", F.bce_with_logits(logits, targets), naive_bce(logits, targets))]:
    print(f"{name:16} package {float(ours):.6f}   naive {naive:.6f}")
    assert abs(float(ours) - naive) < 1e-5 and ours.dtype == np.float32

# %% [markdown]
# Why the package does not compute them that way: large logits. `exp(1000)` overflows, and `sigmoid(40)` is exactly
# 1.0 in floating point, so `log(1 - sigmoid(40))` is `log(0)`. The package uses log-sum-exp (subtract the row
# max first) and `max(x, 0) - x·y + log(1 + exp(-|x|))`, which stay finite:

# %%
big = np.array([[1000.0, 0.0, -1000.0]], np.float32)
print("cross-entropy, label 1:", F.cross_entropy(big, np.array([1])))           # = 1000 + log(1 + e^-1000...)
for name, naive in [("naive cross-entropy", lambda: naive_cross_entropy(big, np.array([1]))),
                    ("naive BCE", lambda: naive_bce(np.array([40.0]), np.array([0.0])))]:
    try:
        naive()
    except (OverflowError, ValueError) as err:
        print(f"{name}: {type(err).__name__}: {err}")
print("BCE, logit 40, target 0:", F.bce_with_logits(np.array([40.0], np.float32), np.array([0.0])))
assert np.isclose(F.cross_entropy(big, np.array([1])), 1000)
assert np.isclose(F.bce_with_logits(np.array([40.0], np.float32), np.array([0.0])), 40)

# %% [markdown]
# ## Every head against transformers
#
# `tests/golden/small_a.npz` holds transformers' logits and losses for every head class on a small config
# (synthetic weights, seed in `meta.json`), with labels that include ignored tokens and an out-of-range QA position.
# For each: the package's loss, transformers' loss, and our naive loss computed from *transformers'* logits.

# %%
golden_dir = repo_path("tests", "golden")
meta = json.load(open(os.path.join(golden_dir, "meta.json")))
golden = np.load(os.path.join(golden_dir, "small_a.npz"))
inputs = {k: golden[f"padded/input/{k}"] for k in ("input_ids", "attention_mask", "token_type_ids")}
W = inputs["input_ids"].shape[1]
naive = {"mlm": lambda o, y: naive_cross_entropy(o["logits"].reshape(-1, o["logits"].shape[-1]), y["labels"].ravel()),
         "single": lambda o, y: naive_cross_entropy(o["logits"], y["labels"]),
         "multi": lambda o, y: naive_bce(o["logits"], y["labels"]),
         "regression": lambda o, y: naive_mse(o["logits"].squeeze(-1), y["labels"]),
         "choice": lambda o, y: naive_cross_entropy(o["logits"], y["labels"]),
         "token": lambda o, y: naive_cross_entropy(o["logits"].reshape(-1, o["logits"].shape[-1]), y["labels"].ravel()),
         "qa": lambda o, y: (naive_cross_entropy(o["start_logits"], np.clip(y["start_positions"], 0, W), W)
                             + naive_cross_entropy(o["end_logits"], np.clip(y["end_positions"], 0, W), W)) / 2}

# %%
cases = sorted({tuple(key.split("/")[1:3]) for key in golden.files if key.endswith("/loss")})   # (head, tag)
overrides = {"regression": {"num_labels": 1}, "qa": {"num_labels": 2}}     # as the goldens were made
print(f"{'head':38} {'loss':10} {'package':>9} {'transformers':>12} {'naive':>9}")
for head, tag in cases:
    cls, prefix = getattr(squeezebert_np, head), f"padded/{head}/{tag}/"
    config = SqueezeBertConfig(**{**meta["configs"]["small_a"], **overrides.get(tag, {})})
    model = cls(config, synthetic_state_dict(config, cls, seed=meta["seed"]))
    theirs = {k[len(prefix):]: golden[k] for k in golden.files if k.startswith(prefix)}
    y = {k[len("label/"):]: v for k, v in theirs.items() if k.startswith("label/")}
    x = inputs if tag != "choice" else {k: np.stack([v, v[::-1]], 1) for k, v in inputs.items()}   # 2 choices
    ours, ref, by_hand = float(model(**x, **y).loss), float(theirs["loss"]), naive[tag](theirs, y)
    print(f"{head:38} {tag:10} {ours:9.5f} {ref:12.5f} {by_hand:9.5f}")
    assert abs(ours - ref) < 1e-5 and abs(by_hand - ref) < 1e-5

# %% [markdown]
# (`SqueezeBertForMultipleChoice` scores each of C candidate sequences with one pooled logit; the batch is
# `[N, C, W]`, run as `N·C` sequences, and the logits are reshaped to `[N, C]` for a cross-entropy over the choices.)
#
# ## Your turn: cross-entropy
#
# Every loss above is a cross-entropy in the end. Write it: `logits` `[M, K]`, `labels` `[M]`; the mean over the
# rows whose label is not `-100` of `-log softmax(logits)[label]`, computed as log-sum-exp so that logits of 1000 do
# not overflow; a float32 scalar. `check` tries five batches, with ignored rows and huge logits, and says when you
# divided by every row or forgot to subtract the max. A solution is in `notebooks/solutions/cross_entropy.py`.

# %%
from squeezebert_np.exercises import check

def cross_entropy(logits, labels):  # [M, K], [M] ints -> float32 scalar
    raise NotImplementedError("your code here")   # replace this line

check("cross_entropy", cross_entropy)

# %% [markdown]
# ## What we built
#
# | head (transformers class) | on top of | output | loss |
# |---|---|---|---|
# | `SqueezeBertForMaskedLM` | every position | `transform` → tied decoder, `[N, W, 30528]` | CE, `-100` ignored |
# | `SqueezeBertForSequenceClassification` | pooler (`[CLS]`) | `[N, num_labels]` | CE / MSE (1 label) / BCE (multi) |
# | `SqueezeBertForMultipleChoice` | pooler, per choice | `[N, C]` | CE over the choices |
# | `SqueezeBertForTokenClassification` | every position | `[N, W, num_labels]` | CE, `-100` ignored |
# | `SqueezeBertForQuestionAnswering` | every position | start, end `[N, W]` | mean of two CEs, out of range ignored |
#
# (CE: cross-entropy; MSE: mean squared error; BCE: binary cross-entropy on logits.) Next, **07**: how fast all
# of this runs in NumPy, and why.

# %%
if scratch:
    shutil.rmtree(scratch)                  # the synthetic stand-in saved above
