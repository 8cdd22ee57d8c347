"""Tokenizer throughput: our two tokenizers against the Rust tokenizer (single-threaded) and transformers' Python one.

    python benchmarks/tokenizer.py [--repeat 3]

One corpus (tests/corpus.py: ~1.4 MB of real multilingual text), one call per tokenizer over the whole batch,
asking for what a user of offsets asks for: ids, token types, attention mask, special-tokens mask and offsets
(the Python tokenizers cannot give offsets, so they are timed without them). Each timing starts from a freshly
constructed tokenizer, so SqueezeBertTokenizerFast's piece cache starts empty ("cold"); the "warm" line re-runs it
on an instance that has seen the corpus once. Reported: the best of --repeat runs, and each time relative to the
Rust tokenizer; then where the cold pass's time goes (the regex split, the warm pass, the distinct pieces met for the
first time) and what a given ratio to Rust would leave for each distinct piece.

Rust is single-threaded (RAYON_NUM_THREADS=1, TOKENIZERS_PARALLELISM=false, set before it is imported). Its time
includes reading the encodings back into Python lists, since that is what the other tokenizers return.
"""
import os

os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from itertools import chain  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import corpus  # noqa: E402
from tokenizer_reference import legacy_tokenizer, read_vocab, rust_fields, rust_tokenizer  # noqa: E402

from squeezebert_np.tokenization import SqueezeBertTokenizer  # noqa: E402
from squeezebert_np.tokenization_base import default_vocab_file  # noqa: E402
from squeezebert_np.tokenization_fast import ASCII_PIECES, PIECES, SqueezeBertTokenizerFast  # noqa: E402

WITH_OFFSETS = dict(return_special_tokens_mask=True, return_offsets_mapping=True)


def measure(candidates, repeat):
    """Best CPU time of each candidate's `run(make())` over `repeat` rounds; candidates take turns within a round,
    so a machine that gets busier or quieter affects them alike. Construction is not timed. CPU time
    (time.process_time), not wall time: the Rust tokenizer runs on this thread too (one thread), and other
    processes on the machine then count less. Returns ({name: seconds}, {name: last output})."""
    best, outputs = {}, {}
    for _ in range(repeat):
        for name, make, run in candidates:
            tokenizer = make()
            start = time.process_time()
            outputs[name] = run(tokenizer)
            best[name] = min(best.get(name, float("inf")), time.process_time() - start)
    return best, outputs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    docs = list(corpus.build_corpus())
    n_bytes = sum(len(d.encode("utf-8")) for d in docs)
    vocab = read_vocab(default_vocab_file())
    warm = SqueezeBertTokenizerFast()
    warm(docs)
    rust = "Rust tokenizers, 1 thread (encode_batch + fields)"
    fast = "SqueezeBertTokenizerFast, cold cache"
    candidates = [
        (rust, lambda: rust_tokenizer(vocab), lambda tok: rust_fields(tok.encode_batch(docs))),
        (fast, SqueezeBertTokenizerFast, lambda tok: tok(docs, **WITH_OFFSETS)),
        ("SqueezeBertTokenizerFast, warm cache", lambda: warm, lambda tok: tok(docs, **WITH_OFFSETS)),
    ]
    try:
        import transformers
    except ImportError:
        transformers = None
    if transformers is not None:
        candidates.append((f"transformers {transformers.__version__} BertTokenizer (Rust)",
                           lambda: transformers.BertTokenizer(vocab=dict(vocab), model_max_length=512),
                           lambda tok: tok(docs, **WITH_OFFSETS)))
    times, outputs = measure(candidates, args.repeat)
    no_offsets = [("SqueezeBertTokenizer (readable)", SqueezeBertTokenizer,
                   lambda tok: tok(docs, return_special_tokens_mask=True))]
    if transformers is not None:
        no_offsets.append(("transformers BertTokenizerLegacy (Python)", lambda: legacy_tokenizer(default_vocab_file()),
                           lambda tok: tok(docs, return_special_tokens_mask=True)))
    slow_times, slow_outputs = measure(no_offsets, 1)

    theirs = outputs[rust]
    assert {k: outputs[fast][k] for k in theirs} == theirs, "SqueezeBertTokenizerFast disagrees with Rust"
    assert slow_outputs["SqueezeBertTokenizer (readable)"]["input_ids"] == theirs["input_ids"]
    n_tokens = sum(map(len, theirs["input_ids"]))
    print(f"corpus (tests/corpus.py): {len(docs)} documents, {n_bytes / 1e6:.2f} MB UTF-8, {n_tokens:,} tokens "
          f"with [CLS]/[SEP]; CPU seconds, best of {args.repeat} (1 for the Python tokenizers)\n")
    print(f"{'tokenizer':56s} {'offsets':>7s} {'seconds':>8s} {'MB/s':>6s} {'k tok/s':>8s} {'vs Rust':>8s}")
    rows = [(name, "yes", t) for name, t in times.items()] + [(name, "no", t) for name, t in slow_times.items()]
    for name, offsets, seconds in rows:
        print(f"{name:56s} {offsets:>7s} {seconds:8.3f} {n_bytes / 1e6 / seconds:6.2f} "
              f"{n_tokens / 1e3 / seconds:8.0f} {times[rust] / seconds:7.2f}x")
    cold_budget(docs, times[rust], times["SqueezeBertTokenizerFast, warm cache"], args.repeat)


def cold_budget(docs, rust, warm, repeat, target=1.5):
    """Where the cold pass's time goes: a warm pass (every piece a cache hit, its first step the regex split) plus
    each distinct piece tokenized once in Python (timed here on its own: a fresh tokenizer's cache filled with
    them). Prints what `target` x Rust's throughput would leave for those pieces."""
    split = misses = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        pieces = [(ASCII_PIECES if d.isascii() else PIECES).findall(d) for d in docs]
        split = min(split, time.process_time() - start)
        distinct = list(dict.fromkeys(chain.from_iterable(pieces)))     # in order of first appearance
        cache = SqueezeBertTokenizerFast()._pieces
        start = time.process_time()
        list(map(cache.__getitem__, distinct))
        misses = min(misses, time.process_time() - start)
    budget = rust / target - warm
    print("\nwhere the cold pass goes (SqueezeBertTokenizerFast):")
    print(f"  {'regex split into pieces alone (one C call per text)':58s} {split:6.3f} s  {rust / split:.2f}x Rust")
    print(f"  {'warm pass (every piece a cache hit)':58s} {warm:6.3f} s  {rust / warm:.2f}x Rust")
    print(f"  {f'the {len(distinct):,} distinct pieces, each tokenized once':58s} {misses:6.3f} s  "
          f"{misses / len(distinct) * 1e6:.1f} µs per piece")
    print(f"  {target}x Rust's throughput cold leaves {budget:.3f} s for them: "
          + (f"{budget / len(distinct) * 1e6:.1f} µs per piece" if budget > 0 else "nothing (the warm pass is over it)"))


if __name__ == "__main__":
    main()
