"""Whole-process time to the first fill-mask answer: our command against transformers' pipeline("fill-mask").

    pip install -e ".[reference]" && python benchmarks/fill_mask.py [--repeats 3] [--model DIR]

Both run in fresh processes on the same local checkpoint (by default a full-size official-layout
squeezebert-uncased folder with synthetic weights: config.json, float16 pytorch_model.bin as on the hub, vocab.txt;
pass --model for a real one), one sentence, and are timed from process start to the printed answer (import, load,
tokenize, forward). Prints the medians and ours/transformers. The issue's target is <= 0.25x.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

TEXT = "Paris is the [MASK] of France."
THEIRS = ("import sys, torch, transformers\n"
          "m = transformers.AutoModelForMaskedLM.from_pretrained(sys.argv[1], dtype=torch.float32)\n"
          "t = transformers.AutoTokenizer.from_pretrained(sys.argv[1])\n"
          "print(transformers.pipeline('fill-mask', model=m, tokenizer=t)(sys.argv[2])[0]['token_str'])\n")


def make_checkpoint(folder):
    import numpy as np
    import torch

    import squeezebert_np
    from squeezebert_np.synthetic import synthetic_state_dict
    config = squeezebert_np.SqueezeBertConfig(vocab_size=30528)
    sd = synthetic_state_dict(config, squeezebert_np.SqueezeBertForMaskedLM, seed=0)
    torch.save({k: torch.from_numpy(np.array(v)).half() for k, v in sd.items()}, os.path.join(folder, "pytorch_model.bin"))
    config.save_pretrained(folder)
    squeezebert_np.SqueezeBertTokenizerFast().save_vocabulary(folder)


def wall(argv):
    start = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{argv[:3]} failed: {out.stderr[-500:]}")
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", help="a local checkpoint folder (default: a synthetic full-size one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.model or tmp
        if not args.model:
            make_checkpoint(folder)
        env_note = f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}"
        ours = [wall([sys.executable, "-m", "squeezebert_np.fill_mask", "--model", folder, "--offline", TEXT])
                for _ in range(args.repeats)]
        theirs = [wall([sys.executable, "-c", THEIRS, folder, TEXT]) for _ in range(args.repeats)]
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"fill-mask, whole process, one sentence, {env_note}, checkpoint: {'given' if args.model else 'synthetic fp16 .bin'}")
    print(f"  squeezebert_np command   {a:6.2f} s   (runs: {', '.join(f'{t:.2f}' for t in ours)})")
    print(f"  transformers pipeline    {b:6.2f} s   (runs: {', '.join(f'{t:.2f}' for t in theirs)})")
    print(f"  ours / transformers      {a / b:6.2f}x   (target <= 0.25x)")


if __name__ == "__main__":
    main()
