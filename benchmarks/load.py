"""Loading a checkpoint: our readers against torch.load and safetensors.numpy.load_file, each in a fresh process.

    pip install -e ".[reference]" && python benchmarks/load.py [--repeats 3] [--folder DIR]

Builds (in a temporary folder unless --folder) the state dict of transformers' `SqueezeBertForMaskedLM` with the
official architecture (vocab 30528, hidden 768, 12 layers, groups 4/4/4/1/4/4), in float32 and in float16 (like
squeezebert-uncased), each saved three ways: zip `pytorch_model.bin` (torch >= 1.6), legacy `pytorch_model.bin`
(`_use_new_zipfile_serialization=False`) and `model.safetensors` (without the tied decoder keys, as transformers and
the SFconvertbot write it).

Each measurement is a new Python process that imports everything first (our hub module too), then times one call:
ours = `load_weights(folder)`; reference = `torch.load(file, weights_only=True)` for .bin,
`safetensors.numpy.load_file(file)` for safetensors. Reported: the median wall time, and the peak RSS of the
process (ru_maxrss) both raw and minus the RSS after the imports (Δ). A memory-mapped file counts only the pages
that were touched, so every case also runs with "touch": load, then read one byte of every 4 KiB page of every
array. The files were just written, so they are in the page cache: times are reading from memory, not from disk.

Linux carries ru_maxrss across fork + exec, so a child started by a big process reports at least the parent's
peak. That is why this parent imports neither torch nor numpy and builds the files in a child of its own.
"""
import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, time
loader, path, touch = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
import numpy as np
if loader == "ours":
    import squeezebert_np.hub  # imported lazily by load_weights; an import, not loading, so outside the clock
    from squeezebert_np.checkpoint.files import load_weights
    load = lambda: load_weights(path)[0]
elif loader == "torch":
    import torch
    load = lambda: torch.load(path, weights_only=True)
else:
    import safetensors.numpy
    load = lambda: safetensors.numpy.load_file(path)
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
state = load()
if touch:  # one byte of every page; tensors and arrays alike (state dicts are contiguous)
    total = sum(int(value.reshape(-1).view(np.uint8 if loader != "torch" else torch.uint8)[::4096].sum())
                for value in state.values())
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_kb": peak, "baseline_kb": baseline, "tensors": len(state)}))
"""
VERSIONS = r"""
import os, sys, numpy, safetensors, torch
print(f"python {sys.version.split()[0]}, numpy {numpy.__version__}, torch {torch.__version__}, "
      f"safetensors {safetensors.__version__}, {os.cpu_count()} cpus")
"""

FORMATS = ["zip", "legacy", "safetensors"]
DTYPES = ["fp32", "fp16"]


def build_checkpoints(folder):
    """Write the six files; returns {(dtype, format): (folder of the file, path of the file)}."""
    import safetensors.torch
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.SqueezeBertConfig(
        vocab_size=30528, hidden_size=768, embedding_size=768, num_hidden_layers=12, num_attention_heads=12,
        intermediate_size=3072, q_groups=4, k_groups=4, v_groups=4, post_attention_groups=1,
        intermediate_groups=4, output_groups=4)
    model = transformers.SqueezeBertForMaskedLM(config).eval()
    files = {}
    for dtype in DTYPES:
        # .half() on the module keeps the tied decoder weight on the word embeddings' storage
        state = (model if dtype == "fp32" else copy.deepcopy(model).half()).state_dict()
        for fmt in FORMATS:
            directory = os.path.join(folder, f"{dtype}-{fmt}")
            os.makedirs(directory, exist_ok=True)
            if fmt == "safetensors":
                path = os.path.join(directory, "model.safetensors")
                untied = {k: v.contiguous() for k, v in state.items() if not k.startswith("cls.predictions.decoder.")}
                safetensors.torch.save_file(untied, path, metadata={"format": "pt"})
            else:
                path = os.path.join(directory, "pytorch_model.bin")
                torch.save(state, path, _use_new_zipfile_serialization=(fmt == "zip"))
            files[(dtype, fmt)] = (directory, path)
    return files


def measure(loader, path, touch, repeats):
    """Median seconds and largest peak / baseline RSS (MB) over `repeats` fresh processes."""
    runs = []
    for _ in range(repeats):
        output = subprocess.run([sys.executable, "-c", CHILD, loader, path, "1" if touch else "0"],
                                check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(output.strip().splitlines()[-1]))
    peak = max(run["peak_kb"] for run in runs) / 1024
    delta = max(run["peak_kb"] - run["baseline_kb"] for run in runs) / 1024
    return statistics.median(run["seconds"] for run in runs), peak, delta


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folder", help="build the checkpoints here and keep them (default: a temporary folder)")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)  # the child that builds
    args = parser.parse_args()
    if args.build_only:
        print(json.dumps({"|".join(key): value for key, value in build_checkpoints(args.folder).items()}))
        return

    versions = subprocess.run([sys.executable, "-c", VERSIONS], check=True, capture_output=True, text=True)
    print(f"{versions.stdout.strip()}; {args.repeats} runs each, median time")
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.folder or scratch
        built = subprocess.run([sys.executable, __file__, "--build-only", "--folder", folder],
                               check=True, capture_output=True, text=True).stdout
        files = {tuple(key.split("|")): value for key, value in json.loads(built.strip().splitlines()[-1]).items()}
        header = (f"{'file':<17}{'MB':>7} {'touch':>5} | {'ours s':>7} {'ref s':>7} {'ratio':>6} | "
                  f"{'ours pk':>7} {'ref pk':>7} {'ratio':>6} | {'ours Δ':>7} {'ref Δ':>7} {'ratio':>6} | "
                  f"{'pk/size':>7} {'Δ/size':>6}  reference")
        print(header)
        print("-" * len(header))
        for (dtype, fmt), (directory, path) in files.items():
            size = os.path.getsize(path) / 2 ** 20
            reference = "safetensors.numpy.load_file" if fmt == "safetensors" else "torch.load(weights_only=True)"
            ref_loader = "safetensors_numpy" if fmt == "safetensors" else "torch"
            for touch in (False, True):
                ours = measure("ours", directory, touch, args.repeats)
                ref = measure(ref_loader, path, touch, args.repeats)
                print(f"{dtype + ' ' + fmt:<17}{size:7.1f} {'yes' if touch else 'no':>5} | "
                      f"{ours[0]:7.3f} {ref[0]:7.3f} {ours[0] / ref[0]:6.2f} | "
                      f"{ours[1]:7.0f} {ref[1]:7.0f} {ours[1] / ref[1]:6.2f} | "
                      f"{ours[2]:7.0f} {ref[2]:7.0f} {ours[2] / max(ref[2], 1e-9):6.2f} | "
                      f"{ours[1] / size:7.2f} {ours[2] / size:6.2f}  {reference}", flush=True)
    print("\npk = peak RSS of the process in MB (interpreter and imports included); Δ = peak minus the RSS after "
          "the imports;\nratios are ours / reference. Target (issue 3): safetensors peak RSS <= 1.2x the file size "
          "and time <= 0.6x safetensors.numpy.load_file.")


if __name__ == "__main__":
    main()
