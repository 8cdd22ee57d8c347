"""SqueezeBertModel forward: NumPy (this package) against transformers eager and ONNX Runtime, as ratios in one run.

    pip install -e ".[reference,bench]" && python benchmarks/forward.py [--repeats 7] [--keep-coretype] [--plain]

Official architecture (vocab 30528, 12 layers, hidden 768, groups 4/4/4/1/4/4), synthetic weights, float32, at
(batch, seq) = (1, 8), (1, 128), (8, 128), (1, 512), with 1 and 2 threads: BLAS threads for NumPy via
threadpoolctl plus `squeezebert_np.fast.set_num_threads` for our elementwise work, torch.set_num_threads for torch,
intra_op_num_threads for ONNX Runtime (the model exported by torch.onnx from the same transformers model).

The machine may be shared and busy, so absolute times drift: each repeat runs the contenders back to back
(GEMM peak, ours, torch, ORT, for every shape), and the reported figures are medians over repeats of each time and
of each per-repeat ratio. "% GEMM peak" is our achieved GFLOP/s over the float32 GEMM peak (a 2048^3 np.matmul)
measured in the same repeats. "GEMMs" times the forward's matrix products alone (`gemm_floor`: same shapes and
weights, nothing elementwise): at 1 thread no NumPy forward can beat it, so "GEMMs/torch" is the floor of
"ours/torch". --plain adds the reference path (squeezebert_np.fast.disable()) as a column; --plot FILE.png draws
the times relative to torch (matplotlib).

OPENBLAS_CORETYPE, set on some machines to dodge old OpenBLAS bugs, selects slower kernels; this script re-runs
itself without it (and OPENBLAS_L2_SIZE) unless --keep-coretype is given, and prints the kernel in use.
"""
import argparse
import os
import sys

if "--keep-coretype" not in sys.argv and ("OPENBLAS_CORETYPE" in os.environ or "OPENBLAS_L2_SIZE" in os.environ):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

SHAPES = [(1, 8), (1, 128), (8, 128), (1, 512)]


def forward_flops(config, n, w):
    """Multiply-adds x 2 of one forward: the grouped convs, the two attention matmuls, and the pooler."""
    c, ci, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    convs = 2 * (c * c / config.q_groups + c * c / config.k_groups + c * c / config.v_groups
                 + c * c / config.post_attention_groups + c * ci / config.intermediate_groups
                 + ci * c / config.output_groups)
    attention = 2 * 2 * w * c
    return n * (layers * w * (convs + attention) + 2 * c * c)


def gemm_floor(model, n, w):
    """A function running just the matrix products of one forward of `model` at (n, w): every grouped conv and
    both attention products, with the model's own weights and the fast path's shapes, nothing elementwise. Its
    time bounds any NumPy forward that leaves the GEMMs to BLAS: the elementwise work can only add to it."""
    config, t = model.config, n * w
    c, ci, h = config.hidden_size, config.intermediate_size, config.num_attention_heads
    rng = np.random.default_rng(0)
    x, mid = rng.standard_normal((c, t), dtype=np.float32), rng.standard_normal((ci, t), dtype=np.float32)
    out_c, out_i = np.empty((c, t), np.float32), np.empty((ci, t), np.float32)
    scores = np.empty((n, h, w, w), np.float32)
    q4 = x.reshape(h, c // h, n, w).transpose(2, 0, 3, 1)
    k4 = x.reshape(h, c // h, n, w).transpose(2, 0, 1, 3)

    def conv(conv1d, inp, out):
        g, weight = conv1d.groups, conv1d.weight
        np.matmul(weight.reshape(g, weight.shape[0] // g, weight.shape[1]), inp.reshape(g, -1, t),
                  out=out.reshape(g, -1, t))

    def run():
        for layer in model.encoder.layers:
            att = layer.attention
            for conv1d in (att.query, att.key, att.value):
                conv(conv1d, x, out_c)
            np.matmul(q4, k4, out=scores)
            np.matmul(k4, scores.transpose(0, 1, 3, 2), out=out_c.reshape(h, c // h, n, w).transpose(2, 0, 1, 3))
            conv(layer.post_attention.conv1d, x, out_c)
            conv(layer.intermediate.conv1d, x, out_i)
            conv(layer.output.conv1d, mid, out_c)
    return run


def once(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def machine_facts():
    from threadpoolctl import threadpool_info
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    blas = [f"{i.get('internal_api')} {i.get('version')} kernel={i.get('architecture')} "
            f"({os.path.basename(i.get('filepath', ''))})" for i in threadpool_info()]
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "blas": blas,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", "(unset)"),
            "date": time.strftime("%Y-%m-%d %H:%M")}


def export_onnx(model, path):
    import torch
    ids = torch.randint(0, 30522, (2, 16))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (ids,), path, input_names=["input_ids"],
                          output_names=["last_hidden_state", "pooler_output"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "seq"}}, dynamo=False, opset_version=17)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--keep-coretype", action="store_true")
    parser.add_argument("--plain", action="store_true", help="also time the reference path")
    parser.add_argument("--no-onnx", action="store_true")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--plot", help="draw the times relative to torch into this PNG file")
    args = parser.parse_args()

    import torch
    import transformers
    from threadpoolctl import threadpool_limits

    import squeezebert_np
    from squeezebert_np import fast
    from squeezebert_np.synthetic import synthetic_state_dict

    facts = machine_facts()
    print(f"numpy {np.__version__}, torch {torch.__version__}, transformers {transformers.__version__}, "
          f"OPENBLAS_CORETYPE={facts['OPENBLAS_CORETYPE']}, {facts['cpu']}, {facts['cores']} cores, {facts['date']}")
    for line in facts["blas"]:
        print("  " + line)
    config = squeezebert_np.SqueezeBertConfig(vocab_size=30528)
    sd = synthetic_state_dict(config, squeezebert_np.SqueezeBertModel, seed=0)
    ours = squeezebert_np.SqueezeBertModel(config, sd)
    theirs = transformers.SqueezeBertModel(transformers.SqueezeBertConfig(vocab_size=30528)).eval()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    sessions = {}
    if not args.no_onnx:
        import onnxruntime as ort
        path = os.path.join(tempfile.mkdtemp(), "squeezebert.onnx")
        export_onnx(theirs, path)
        print(f"  onnxruntime {ort.__version__} (model exported with torch.onnx, TorchScript exporter, opset 17)")
        for threads in args.threads:
            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            sessions[threads] = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    inputs = {shape: rng.integers(0, 30522, shape) for shape in SHAPES}
    peak_a = rng.standard_normal((2048, 2048), dtype=np.float32)

    results = []
    header = (f"\n{'threads':>7} {'shape':>9} {'ours ms':>8} {'torch ms':>8} {'ORT ms':>7} {'ours/torch':>10} "
              f"{'ours/ORT':>8} {'GFLOP/s':>7} {'%GEMM peak':>10} {'GEMMs ms':>8} {'GEMMs/torch':>11}"
              + (f" {'plain ms':>9}" if args.plain else ""))
    print(header)
    for threads in args.threads:
        torch.set_num_threads(threads)
        fast.set_num_threads(threads)
        with threadpool_limits(limits=threads, user_api="blas"):
            floors = {shape: gemm_floor(ours, *shape) for shape in SHAPES}
            contenders = {"ours": lambda ids: ours(ids),
                          "torch": lambda ids: theirs(torch.from_numpy(ids)),
                          "gemm": lambda ids: floors[ids.shape]()}
            if threads in sessions:
                contenders["ort"] = lambda ids, s=sessions[threads]: s.run(None, {"input_ids": ids})
            if args.plain:
                def plain(ids):
                    with fast.disable():
                        ours(ids)
                contenders["plain"] = plain
            times = {(name, shape): [] for name in contenders for shape in SHAPES}
            peaks = []
            with torch.inference_mode():
                for shape in SHAPES:                      # warm-up: page faults, caches, lazy init
                    for fn in contenders.values():
                        fn(inputs[shape])
                peak_a @ peak_a
                for _ in range(args.repeats):             # each repeat: everyone back to back, shape by shape
                    peaks.append(2 * 2048 ** 3 / once(lambda: peak_a @ peak_a) / 1e9)
                    for shape in SHAPES:
                        for name, fn in contenders.items():
                            times[name, shape].append(once(lambda: fn(inputs[shape])))
            peak = float(np.median(peaks))
            for shape in SHAPES:
                t = {name: np.array(times[name, shape]) for name in contenders}
                med = {name: float(np.median(v)) for name, v in t.items()}
                row = {"threads": threads, "shape": list(shape), "ms": {k: 1e3 * v for k, v in med.items()},
                       "ours/torch": float(np.median(t["ours"] / t["torch"])),
                       "ours/ort": float(np.median(t["ours"] / t["ort"])) if "ort" in t else None,
                       "gflops": forward_flops(config, *shape) / med["ours"] / 1e9, "gemm_peak": peak,
                       "gemms/torch": float(np.median(t["gemm"] / t["torch"])),
                       "vs torch": {name: float(np.median(v / t["torch"])) for name, v in t.items()}}
                row["peak_fraction"] = row["gflops"] / peak
                results.append(row)
                ort_ms = f"{row['ms']['ort']:>7.1f}" if "ort" in t else f"{'-':>7}"
                ort_ratio = f"{row['ours/ort']:>8.2f}" if "ort" in t else f"{'-':>8}"
                print(f"{threads:>7} {str(shape):>9} {row['ms']['ours']:>8.1f} {row['ms']['torch']:>8.1f} "
                      f"{ort_ms} {row['ours/torch']:>10.2f} {ort_ratio} {row['gflops']:>7.1f} "
                      f"{100 * row['peak_fraction']:>9.0f}% {row['ms']['gemm']:>8.1f} {row['gemms/torch']:>11.2f}"
                      + (f" {row['ms']['plain']:>9.1f}" if args.plain else ""))
            print(f"{threads:>7} float32 GEMM peak (2048^3 np.matmul): {peak:.1f} GFLOP/s "
                  f"(min {min(peaks):.1f}, max {max(peaks):.1f} over the repeats)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"facts": facts, "results": results}, f, indent=1)
    if args.plot:
        plot(results, facts, args.plot)


def plot(results, facts, path):
    """Bars of each contender's time / torch's, per shape, one panel per thread count, the targets as lines."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    threads = sorted({r["threads"] for r in results})
    fig, axes = plt.subplots(1, len(threads), figsize=(5.5 * len(threads), 3.6), sharey=True, squeeze=False)
    names = [("ours", "squeezebert_np"), ("ort", "ONNX Runtime"), ("gemm", "GEMMs alone")]
    for ax, th in zip(axes[0], threads):
        rows = [r for r in results if r["threads"] == th]
        for i, (key, label) in enumerate(names):
            ratios = [r["vs torch"].get(key, np.nan) for r in rows]     # medians of per-repeat ratios
            ax.bar(np.arange(len(rows)) + (i - 1) * 0.27, ratios, 0.27, label=label)
        ax.axhline(1.0, color="k", lw=1, label="transformers eager")
        ax.axhline(0.6 if th == 1 else 1.0, color="r", ls="--", lw=1, label="target (ours)")
        ax.set_xticks(np.arange(len(rows)), [str(tuple(r["shape"])) for r in rows])
        ax.set_title(f"{th} thread{'s' if th > 1 else ''}")
        ax.set_xlabel("(batch, seq)")
    axes[0][0].set_ylabel("time / transformers eager")
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    fig.suptitle(f"SqueezeBertModel forward, float32 ({facts['cpu']}, {facts['date']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
