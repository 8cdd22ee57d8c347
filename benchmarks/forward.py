"""SqueezeBertModel forward: NumPy (this package) against transformers eager, as ratios measured in one run.

    pip install -e ".[reference,bench]" && python benchmarks/forward.py [--repeats 5] [--keep-coretype]

Official architecture (vocab 30528, 12 layers, hidden 768, groups 4/4/4/1/4/4), synthetic weights, float32, at
(batch, seq) = (1, 8), (1, 128), (8, 128), (1, 512), with 1 and 2 threads (BLAS threads for NumPy via threadpoolctl,
torch.set_num_threads for torch). Prints the BLAS in use, the median latency of each, ours/torch, and our achieved
GFLOP/s against the float32 GEMM peak measured in the same run.

OPENBLAS_CORETYPE, set on some machines to dodge old OpenBLAS bugs, selects slower kernels; this script re-runs
itself without it (and OPENBLAS_L2_SIZE) unless --keep-coretype is given, and prints the kernel in use.
"""
import argparse
import os
import sys

if "--keep-coretype" not in sys.argv and ("OPENBLAS_CORETYPE" in os.environ or "OPENBLAS_L2_SIZE" in os.environ):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import time  # noqa: E402

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


def median_time(fn, repeats):
    fn()                                            # warm-up (page faults, caches, lazy init)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def gemm_peak(repeats):
    a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    return 2 * 2048 ** 3 / median_time(lambda: a @ a, repeats) / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep-coretype", action="store_true")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    import torch
    import transformers
    from threadpoolctl import threadpool_info, threadpool_limits

    import squeezebert_np
    from squeezebert_np.synthetic import synthetic_state_dict

    print(f"numpy {np.__version__}, torch {torch.__version__}, transformers {transformers.__version__}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    for info in threadpool_info():
        print(f"  {info.get('internal_api')} {info.get('version')} kernel={info.get('architecture')} "
              f"threads={info.get('num_threads')} ({os.path.basename(info.get('filepath', ''))})")
    config = squeezebert_np.SqueezeBertConfig(vocab_size=30528)
    sd = synthetic_state_dict(config, squeezebert_np.SqueezeBertModel, seed=0)
    ours = squeezebert_np.SqueezeBertModel(config, sd)
    theirs = transformers.SqueezeBertModel(transformers.SqueezeBertConfig(vocab_size=30528)).eval()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    rng = np.random.default_rng(0)

    print(f"\n{'threads':>7} {'shape':>9} {'numpy ms':>9} {'torch ms':>9} {'ours/torch':>10} {'GFLOP/s':>8} "
          f"{'% GEMM peak':>11}")
    for threads in args.threads:
        torch.set_num_threads(threads)
        with threadpool_limits(limits=threads, user_api="blas"):
            peak = gemm_peak(args.repeats)
            for n, w in SHAPES:
                ids = rng.integers(0, 30522, (n, w))
                t_ours = median_time(lambda: ours(ids), args.repeats)
                tids = torch.from_numpy(ids)
                with torch.inference_mode():
                    t_torch = median_time(lambda: theirs(tids), args.repeats)
                gflops = forward_flops(config, n, w) / t_ours / 1e9
                print(f"{threads:>7} {f'({n}, {w})':>9} {t_ours * 1e3:>9.1f} {t_torch * 1e3:>9.1f} "
                      f"{t_ours / t_torch:>10.2f} {gflops:>8.1f} {100 * gflops / peak:>10.0f}%")
            print(f"{threads:>7} float32 GEMM peak (2048^3): {peak:.1f} GFLOP/s")


if __name__ == "__main__":
    main()
