"""Fill-mask, the main job: the most likely tokens for every [MASK] in a text, with their probabilities.

    python -m squeezebert_np.fill_mask "Paris is the [MASK] of France."

`fill_mask()` returns what transformers' `pipeline("fill-mask")` returns (score, token, token_str, sequence, in
the same nesting), computed as it computes them: softmax over all 30528 logit columns at each masked position.
Only the masked positions go through the MLM decoder (6.15 GFLOP for all 128 positions of a sentence, a few
MFLOP for one).
"""
import argparse
import json
import sys

import numpy as np

from . import cli
from . import functional as F
from .errors import InvalidInputError
from .heads import SqueezeBertForMaskedLM
from .tokenization_fast import SqueezeBertTokenizerFast

EXAMPLES = """examples:
  python -m squeezebert_np.fill_mask "Paris is the [MASK] of France."
  python -m squeezebert_np.fill_mask --top-k 3 "The [MASK] sat on the [MASK]." "I like [MASK] tea."
  echo "Water boils at 100 [MASK]." | python -m squeezebert_np.fill_mask --json
  python -m squeezebert_np.fill_mask --model weights/squeezebert-uncased --offline "Hello [MASK]!"
"""


def encode_texts(tokenizer, texts, max_length):
    """Token ids of each text with [CLS]/[SEP], padded into one batch; refuses texts without [MASK] or too long.

    We refuse rather than truncate a long text: truncation could cut the [MASK] itself away.
    """
    enc = tokenizer(list(texts), padding=True, return_tensors="np", verbose=False)  # too long: refused below
    lengths = enc["attention_mask"].sum(axis=1)
    for text, ids, n in zip(texts, enc["input_ids"], lengths):
        if not (ids[:n] == tokenizer.mask_token_id).any():
            raise InvalidInputError(f"no {tokenizer.mask_token} in the text: {text!r:.80}")
        if n > max_length:
            raise InvalidInputError(f"the text is {n} tokens long, the model accepts at most {max_length}: "
                                    f"shorten it ({text!r:.40}...)")
    return enc


def top_k(probs, k):  # [M, V] -> [M, k] indices and values, largest first
    k = min(k, probs.shape[-1])
    idx = np.argpartition(-probs, k - 1, axis=-1)[:, :k]
    vals = np.take_along_axis(probs, idx, axis=-1)
    order = np.argsort(-vals, axis=-1, kind="stable")
    return np.take_along_axis(idx, order, axis=-1), np.take_along_axis(vals, order, axis=-1)


def predict(model, tokenizer, texts, k=5):
    """transformers' FillMaskPipeline on a list of texts: one result per text (see `fill_mask`)."""
    enc = encode_texts(tokenizer, texts, model.config.max_position_embeddings)
    ids, mask = enc["input_ids"], enc["attention_mask"]
    hidden = model.transformer(input_ids=ids, attention_mask=mask, token_type_ids=enc["token_type_ids"]) \
        .last_hidden_state                                               # [N, W, C]
    rows, cols = np.nonzero((ids == tokenizer.mask_token_id) & (mask == 1))
    probs = F.softmax(model.cls(hidden[rows, cols]), axis=-1)            # [M, vocab_size]: decoder at masks only
    best, scores = top_k(probs, k)
    results = []
    for i in range(len(texts)):
        tokens = ids[i][mask[i] == 1]
        per_mask = []
        for m in np.flatnonzero(rows == i):
            single = (rows == i).sum() == 1
            row = []
            for token_id, score in zip(best[m].tolist(), scores[m].tolist()):
                filled = tokens.copy()
                filled[cols[m]] = token_id
                row.append({"score": score, "token": token_id, "token_str": tokenizer.decode([token_id]),
                            "sequence": tokenizer.decode(filled.tolist(), skip_special_tokens=bool(single))})
            per_mask.append(row)
        results.append(per_mask[0] if len(per_mask) == 1 else per_mask)
    return results


def fill_mask(texts, model=cli.DEFAULT_MLM_MODEL, *, top_k=5, revision=None, cache_dir=None,
              local_files_only=False, token=None):
    """Top-k fillers for each [MASK]: like transformers' pipeline, a list of {score, token, token_str, sequence}
    for one text with one mask, a list of such lists for several masks, and a list of those for a list of texts."""
    if isinstance(texts, str):
        return fill_mask([texts], model, top_k=top_k, revision=revision, cache_dir=cache_dir,
                         local_files_only=local_files_only, token=token)[0]
    if not isinstance(texts, (list, tuple)) or not texts or not all(isinstance(t, str) for t in texts):
        raise InvalidInputError("texts must be a string or a non-empty list of strings")
    if not isinstance(top_k, int) or top_k < 1:
        raise InvalidInputError(f"top_k must be a positive integer, got {top_k!r}")
    mlm, tokenizer = cli.load(SqueezeBertForMaskedLM, SqueezeBertTokenizerFast, model, revision, cache_dir,
                              local_files_only, token)
    return predict(mlm, tokenizer, list(texts), top_k)


def format_table(text, result):
    """A small readable table per mask: rank, token, probability."""
    per_mask = result if result and isinstance(result[0], list) else [result]
    lines = [text]
    for j, rows in enumerate(per_mask):
        if len(per_mask) > 1:
            lines.append(f"  [MASK] {j + 1} of {len(per_mask)}")
        lines.append(f"  {'rank':>4}  {'token':<16} {'probability':>11}")
        lines += [f"  {r + 1:>4}  {row['token_str']:<16} {row['score']:>11.4f}" for r, row in enumerate(rows)]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m squeezebert_np.fill_mask", description=__doc__.split("\n\n")[0],
                                     epilog=EXAMPLES, formatter_class=cli.HelpFormatter)
    parser.add_argument("texts", nargs="*", help="texts with [MASK] (default: one per line on stdin)")
    parser.add_argument("--top-k", type=int, default=5, help="how many fillers per mask (default 5)")
    cli.add_model_options(parser, cli.DEFAULT_MLM_MODEL)
    args = parser.parse_args(argv)
    if args.top_k < 1:
        parser.error("--top-k must be at least 1")
    if not args.texts and sys.stdin is None:      # `<&-`: no stdin at all
        raise InvalidInputError("no text given and stdin is closed: give a text with [MASK] as an argument")
    if not args.texts and sys.stdin.isatty():
        parser.error("give a text with [MASK] as an argument (or pipe texts in, one per line)")
    texts = [cli.check_text(t, f"text {i + 1}") for i, t in enumerate(args.texts)]
    texts = texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        parser.error("give a text with [MASK], as an argument or on stdin")
    results = fill_mask(texts, args.model, top_k=args.top_k, revision=args.revision, cache_dir=args.cache_dir,
                        local_files_only=args.offline, token=args.token)
    if args.json:
        print(json.dumps([{"text": t, "predictions": r} for t, r in zip(texts, results)], indent=1))
    else:
        print("\n\n".join(format_table(t, r) for t, r in zip(texts, results)))


if __name__ == "__main__":
    cli.run(main)
