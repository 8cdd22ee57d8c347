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
# # 09 · Training a small SqueezeBERT, beside the same run in PyTorch
#
# Lesson 08 checked the gradients of one layer. `model.loss_and_grads(...)` gives them for a whole model, and
# `squeezebert_np.optim.AdamW` turns them into updates the way `torch.optim.AdamW` does. Here a small SqueezeBERT
# learns a task from scratch, offline, in a few seconds, and transformers' `SqueezeBertForSequenceClassification`,
# started from the very same weights, trains beside it with torch's autograd and optimizer. The two loss curves
# should be one curve.
#
# **Before this:** 08 (what the gradients are), 06 (the classification head and its loss). **Time:** about 25
# minutes; no exercise (change the task or the learning rate and rerun instead). **Leaves for the next lesson:** the
# end of the course; `python -m squeezebert_np.finetune` does the same at scale on real data (README, Fine-tuning).
#
# **What you'll do:** make a synthetic task (does the sentence contain a given token?); train a 2-layer SqueezeBERT
# with AdamW for 200 steps in NumPy and the same model in PyTorch; plot both loss curves and both dev accuracies.
#
# **What you'll learn:** what one training step is (forward, loss, backward, optimizer update); that hand-written
# gradients plus an optimizer written to torch's order of operations reproduce torch's run to float32 rounding,
# step after step; what a loss curve of a task being learned looks like.
#
# **What you'll need:** `squeezebert_np`, `matplotlib`. Optional: `torch` and `transformers` for the PyTorch run
# (without them, only the NumPy run). No weights, no data files: the task is generated.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np

from squeezebert_np import SqueezeBertConfig, SqueezeBertForSequenceClassification
from squeezebert_np.optim import AdamW

try:
    import torch
    import transformers
    torch.set_num_threads(1)                 # one thread, like the NumPy side in the tests
except ImportError:
    torch = transformers = None

# %% [markdown]
# ## The task
#
# Sentences of 10 tokens drawn from a 40-word vocabulary, `[CLS]` first. Label 1 if the sentence contains word 7,
# else 0, half and half. No single position decides it: the model has to look at every token, which is what
# attention is for, and pool the answer into `[CLS]`. 2,048 training sentences, 256 held out.

# %%
VOCAB, LENGTH, TARGET, CLS = 40, 10, 7, 1

def make_task(n, seed):  # -> ids [n, LENGTH], labels [n]
    rng = np.random.default_rng(seed)
    ids = rng.integers(5, VOCAB, (n, LENGTH))
    ids[ids == TARGET] = TARGET + 1                          # no target word anywhere yet
    has = rng.random(n) < 0.5
    ids[np.flatnonzero(has), rng.integers(1, LENGTH, has.sum())] = TARGET   # put it in half of them
    ids[:, 0] = CLS
    return ids, has.astype(np.int64)

train_ids, train_labels = make_task(2048, seed=0)
dev_ids, dev_labels = make_task(256, seed=1)
print(train_ids[:3], train_labels[:3], f"positives: {train_labels.mean():.0%}")

# %% [markdown]
# ## Two copies of one model
#
# A SqueezeBERT with the paper's structure at toy size: hidden 32, 4 heads, 2 layers, Q/K/V and feed-forward convs
# in 2 groups, the post-attention conv dense. Dropout is off, so that both runs are deterministic and comparable.
# The PyTorch copy loads our initial weights: same keys, same shapes (lesson 02).

# %%
config = dict(vocab_size=VOCAB, hidden_size=32, embedding_size=32, num_hidden_layers=2, num_attention_heads=4,
              intermediate_size=64, q_groups=2, k_groups=2, v_groups=2, post_attention_groups=1,
              intermediate_groups=2, output_groups=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
              max_position_embeddings=LENGTH, num_labels=2)
model = SqueezeBertForSequenceClassification(SqueezeBertConfig(**config), seed=0).train()
if torch is not None:
    hf = transformers.SqueezeBertForSequenceClassification(transformers.SqueezeBertConfig(**config)).train()
    print(hf.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()}))
print(f"{sum(a.size for a in model.state_dict().values()):,} parameters")

# %% [markdown]
# ## One training step, and 200 of them
#
# A step: take a batch, compute the loss and every parameter's gradient (`loss_and_grads`: the forward, then the
# backward of lesson 08 through the classifier, the pooler, both layers and the embeddings), and let AdamW update
# the weights in place. Every 20 steps we measure accuracy on the held-out sentences, in eval mode.

# %%
STEPS, BATCH, LR = 200, 32, 1e-3

def batches():
    for step in range(STEPS):
        start = step * BATCH % len(train_ids)
        yield step, train_ids[start:start + BATCH], train_labels[start:start + BATCH]

def accuracy(predict):
    return float((predict(dev_ids).argmax(-1) == dev_labels).mean())

# %%
optimizer = AdamW(model, lr=LR, weight_decay=0.0)
ours = {"loss": [], "accuracy": []}
start = time.perf_counter()
for step, ids, labels in batches():
    loss, grads = model.loss_and_grads(input_ids=ids, labels=labels)
    optimizer.step(grads)
    ours["loss"].append(float(loss))
    if step % 20 == 19:
        model.eval()
        ours["accuracy"].append(accuracy(lambda x: model(input_ids=x).logits))
        model.train()
print(f"NumPy: {STEPS} steps in {time.perf_counter() - start:.1f} s; final loss {ours['loss'][-1]:.4f}, "
      f"dev accuracy {ours['accuracy'][-1]:.3f}")

# %% [markdown]
# The same loop in PyTorch: `zero_grad`, forward with labels, `loss.backward()`, `step()`.

# %%
theirs = {"loss": [], "accuracy": []}
if torch is not None:
    torch_optimizer = torch.optim.AdamW(hf.parameters(), lr=LR, weight_decay=0.0)
    for step, ids, labels in batches():
        torch_optimizer.zero_grad()
        out = hf(input_ids=torch.from_numpy(ids), labels=torch.from_numpy(labels))
        out.loss.backward()
        torch_optimizer.step()
        theirs["loss"].append(out.loss.item())
        if step % 20 == 19:
            with torch.no_grad():
                theirs["accuracy"].append(accuracy(lambda x: hf.eval()(input_ids=torch.from_numpy(x)).logits.numpy()))
            hf.train()
    print(f"PyTorch: final loss {theirs['loss'][-1]:.4f}, dev accuracy {theirs['accuracy'][-1]:.3f}")

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
ax1.plot(ours["loss"], label="squeezebert_np", lw=3, alpha=0.6)
ax2.plot(range(20, STEPS + 1, 20), ours["accuracy"], "o-", label="squeezebert_np", lw=3, alpha=0.6)
if theirs["loss"]:
    ax1.plot(theirs["loss"], "k--", label="transformers + torch", lw=1)
    ax2.plot(range(20, STEPS + 1, 20), theirs["accuracy"], "k--", label="transformers + torch", lw=1)
ax1.set_yscale("log"), ax1.set_xlabel("step"), ax1.set_ylabel("training loss (batch of 32)"), ax1.legend()
ax2.set_ylim(0.4, 1.02), ax2.set_xlabel("step"), ax2.set_ylabel("dev accuracy (256 sentences)"), ax2.legend()
plt.tight_layout()

# %% [markdown]
# The loss sits at `ln 2 ≈ 0.693` (a coin flip) for a while, then drops as the model finds the word, and the dev
# accuracy climbs to 1. The two curves lie on each other. How closely:

# %%
assert ours["accuracy"][-1] > 0.95 and ours["loss"][-1] < 0.1, "the task was not learned"
if theirs["loss"]:
    gap = np.abs(np.array(ours["loss"]) - np.array(theirs["loss"]))
    print(f"largest |loss difference| over {STEPS} steps: {gap.max():.1e} (at step {gap.argmax()})")
    assert gap.max() < 1e-4 and ours["accuracy"] == theirs["accuracy"]

# %% [markdown]
# A few 1e-7: float32 rounding, from summing in a different order, carried through 200 updates without growing.
# (`tests/` holds the stricter version: ten AdamW steps in float64 equal to 1e-9.) Nothing here is special to a toy:
# `python -m squeezebert_np.finetune` runs the same step, with a warmup schedule, gradient clipping and
# checkpoints, on real data and the official `squeezebert-mnli-headless` (see the README's Fine-tuning section).
#
# ## With the official weights: fine-tuning `squeezebert-mnli-headless`
#
# If `squeezebert-mnli-headless/` is in `$SQUEEZEBERT_DIR` (default `weights/`), the same loop fine-tunes the real
# pretrained encoder, with a fresh 2-way classifier, on a tiny generated sentiment task: "the movie was great." is
# positive, "the book was dull." negative, and two subjects are held out to test on. 30 steps of 16 sentences at
# full size take about a minute. Without the folder (and in CI) this part is skipped.

# %%
from squeezebert_np import SqueezeBertTokenizerFast
from squeezebert_np.course import official

headless = official("squeezebert-mnli-headless")
subjects = ["the movie", "the book", "this play", "the concert", "our trip", "the meal", "the game", "that song"]
good, bad = ["great", "wonderful", "excellent", "superb", "lovely"], ["terrible", "awful", "boring", "dreadful", "dull"]
sentences = [(f"{s} was {a}.", int(a in good)) for s in subjects for a in good + bad]
held_out = [t for t in sentences if t[0].startswith(("the game", "that song"))]
seen = [t for t in sentences if t not in held_out]
print(f"{len(seen)} training and {len(held_out)} held-out sentences; weights: {headless or 'not found, skipped'}")

# %%
if headless:
    tokenizer = SqueezeBertTokenizerFast.from_pretrained(headless)
    clf = SqueezeBertForSequenceClassification.from_pretrained(headless, num_labels=2).train()
    adamw, pick, curve = AdamW(clf, lr=5e-5, weight_decay=0.01), np.random.default_rng(0), []
    for step in range(30):
        batch = [seen[i] for i in pick.choice(len(seen), 16, replace=False)]
        enc = tokenizer([t for t, _ in batch], padding=True, return_tensors="np")
        loss, grads = clf.loss_and_grads(**enc, labels=np.array([y for _, y in batch]))
        adamw.step(grads)
        curve.append(float(loss))
    enc = tokenizer([t for t, _ in held_out], padding=True, return_tensors="np")
    correct = clf.eval()(**enc).logits.argmax(-1) == np.array([y for _, y in held_out])
    print(f"loss over 30 steps: {curve[0]:.3f} -> {curve[-1]:.3f}; held-out accuracy {correct.mean():.2f}")

# %% [markdown]
# ## What we built
#
# | piece | squeezebert_np | PyTorch |
# |---|---|---|
# | forward + loss | `model.loss_and_grads(input_ids=..., labels=...)` | `hf(input_ids=..., labels=...).loss` |
# | gradients | hand-written backward of every module (lesson 08) | `loss.backward()` (autograd) |
# | update | `AdamW(model, lr).step(grads)` | `torch.optim.AdamW(params, lr).step()` |
# | result | the same loss at every step, to float32 rounding | |
#
# That is the end of the course: tokenizer (01), checkpoint files (02), grouped convolutions (03), attention (04),
# the whole model against PyTorch (05), the heads (06), speed (07), the backward pass (08) and training (09).
