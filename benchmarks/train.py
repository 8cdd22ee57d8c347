"""One training step (forward + backward + AdamW): NumPy (this package) against transformers eager + torch AdamW.

    pip install -e ".[reference,bench]" && python benchmarks/train.py [--repeats 3] [--keep-coretype]

SqueezeBertForSequenceClassification with the official architecture (vocab 30528, 12 layers, hidden 768, groups
4/4/4/1/4/4, 2 labels), float32, train mode (dropout 0.1 on), at (batch, seq) = (8, 128) and (32, 128), with 1 and 2
threads. Each side runs in its own subprocess per (threads, shape), so its peak RSS (ru_maxrss: interpreter,
libraries, weights, optimizer state, activations) is its own; each builds its model with its own initialisation
(the values do not change the time). A step is:
  ours:  loss, grads = model.loss_and_grads(input_ids=..., labels=...); opt.step(grads)
  torch: opt.zero_grad(); model(input_ids=..., labels=...).loss.backward(); opt.step()
with AdamW(lr 2e-5, weight decay 0.01) over every parameter. "GEMMs" times the step's matrix products alone, with
the model's shapes and nothing elementwise: each forward grouped conv and attention product, and the two products
of its backward (dX = W^T dY and dW = dY X^T; dQ, dK, dP, dV): the floor of any NumPy step that leaves the GEMMs to
BLAS. It runs in our subprocess after our steps (so it does not count in our peak RSS).

The machine may be shared and busy: each (threads, shape) runs ours, then torch, back to back; each side does one
warm-up step then --repeats timed steps, and the figures are medians. OPENBLAS_CORETYPE is dropped unless
--keep-coretype (as forward.py).
"""
import argparse
import json
import os
import subprocess
import sys
import time

if "--keep-coretype" not in sys.argv and ("OPENBLAS_CORETYPE" in os.environ or "OPENBLAS_L2_SIZE" in os.environ):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

SHAPES = [(8, 128), (32, 128)]


def peak_rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024          # Linux: kilobytes


def train_gemms(model, n, w):
    """A function running the matrix products of one training step at (n, w) with the model's weights: per layer,
    every grouped conv forward (W x), its input gradient (W^T dy) and weight gradient (dy x^T), and the attention
    products forward (Q K^T, P V) and backward (dS K, dS^T Q, dC V^T, P^T dC). Layout [C, N*W] as the fast path."""
    import numpy as np
    config, t = model.config, n * w
    c, ci, h = config.hidden_size, config.intermediate_size, config.num_attention_heads
    d = c // h
    rng = np.random.default_rng(0)
    act = {size: rng.standard_normal((size, t), dtype=np.float32) for size in (c, ci)}
    out = {size: np.empty((size, t), np.float32) for size in (c, ci)}
    grad_in = {size: np.empty((size, t), np.float32) for size in (c, ci)}
    q, k, v, dc = (rng.standard_normal((n, h, w, d), dtype=np.float32) for _ in range(4))
    scores, dq = np.empty((n, h, w, w), np.float32), np.empty((n, h, w, d), np.float32)
    layers = model.transformer.encoder.layers
    convs = [(conv, conv.weight.shape[1] * conv.groups, conv.weight.shape[0]) for layer in layers
             for conv in (layer.attention.query, layer.attention.key, layer.attention.value,
                          layer.post_attention.conv1d, layer.intermediate.conv1d, layer.output.conv1d)]
    dws = [np.empty_like(conv.weight) for conv, _, _ in convs]

    def run():
        for (conv, cin, cout), dw in zip(convs, dws):
            g = conv.groups
            weight = conv.weight.reshape(g, cout // g, cin // g)
            x, y = act[cin].reshape(g, cin // g, t), out[cout].reshape(g, cout // g, t)
            np.matmul(weight, x, out=y)                                              # forward
            np.matmul(weight.transpose(0, 2, 1), y, out=grad_in[cin].reshape(g, cin // g, t))  # dX = W^T dY
            np.matmul(y, x.transpose(0, 2, 1), out=dw.reshape(g, cout // g, cin // g))     # dW = dY X^T
        for _ in layers:
            np.matmul(q, k.transpose(0, 1, 3, 2), out=scores)                       # Q K^T
            np.matmul(scores, v, out=dq)                                             # P V
            np.matmul(scores, k, out=dq)                                             # dQ = dS K
            np.matmul(scores.transpose(0, 1, 3, 2), q, out=dq)                       # dK = dS^T Q
            np.matmul(dc, v.transpose(0, 1, 3, 2), out=scores)                       # dP = dC V^T
            np.matmul(scores.transpose(0, 1, 3, 2), dc, out=dq)                      # dV = P^T dC
    return run


def worker_ours(threads, n, w, repeats):
    import numpy as np
    from threadpoolctl import threadpool_limits

    from squeezebert_np import SqueezeBertConfig, SqueezeBertForSequenceClassification, fast
    from squeezebert_np.optim import AdamW
    fast.set_num_threads(threads)
    model = SqueezeBertForSequenceClassification(SqueezeBertConfig(vocab_size=30528, num_labels=2)).train()
    opt = AdamW(model, lr=2e-5, weight_decay=0.01)
    rng = np.random.default_rng(0)
    ids, labels = rng.integers(0, 30522, (n, w)), rng.integers(0, 2, n)

    def step():
        loss, grads = model.loss_and_grads(input_ids=ids, labels=labels)
        opt.step(grads)

    with threadpool_limits(limits=threads, user_api="blas"):
        times = timed(step, repeats)
        rss = peak_rss_mb()
        gemms = timed(train_gemms(model, n, w), repeats)
    return {"times": times, "peak_rss_mb": rss, "gemm_times": gemms}


def worker_torch(threads, n, w, repeats):
    import numpy as np
    import torch
    import transformers
    torch.set_num_threads(threads)
    model = transformers.SqueezeBertForSequenceClassification(
        transformers.SqueezeBertConfig(vocab_size=30528, num_labels=2)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01)
    rng = np.random.default_rng(0)
    ids, labels = torch.from_numpy(rng.integers(0, 30522, (n, w))), torch.from_numpy(rng.integers(0, 2, n))

    def step():
        opt.zero_grad()
        model(input_ids=ids, labels=labels).loss.backward()
        opt.step()

    return {"times": timed(step, repeats), "peak_rss_mb": peak_rss_mb()}


def timed(fn, repeats):
    fn()                                                   # warm-up: page faults, optimizer state, lazy init
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def run_worker(side, threads, shape, repeats):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))     # this checkout's squeezebert_np
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    result = subprocess.run([sys.executable, __file__, "--worker", side, "--threads", str(threads), "--shape",
                             str(shape[0]), str(shape[1]), "--repeats", str(repeats), "--keep-coretype"],
                            capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        sys.exit(f"the {side} worker failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep-coretype", action="store_true")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--shapes", nargs="+", default=[f"{n}x{w}" for n, w in SHAPES], help="e.g. 8x128")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--worker", choices=["ours", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--shape", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        work = worker_ours if args.worker == "ours" else worker_torch
        print(json.dumps(work(args.threads[0], *args.shape, args.repeats)))
        return

    import numpy as np
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from forward import machine_facts
    import torch
    import transformers
    facts = machine_facts()
    print(f"numpy {np.__version__}, torch {torch.__version__}, transformers {transformers.__version__}, "
          f"OPENBLAS_CORETYPE={facts['OPENBLAS_CORETYPE']}, {facts['cpu']}, {facts['cores']} cores, {facts['date']}, "
          f"load {os.getloadavg()[0]:.1f}")
    for line in facts["blas"]:
        print("  " + line)
    print(f"\n{'threads':>7} {'shape':>9} {'ours s':>7} {'torch s':>7} {'ours/torch':>10} {'GEMMs s':>7} "
          f"{'GEMMs/torch':>11} {'ours/GEMMs':>10} {'ours RSS MB':>11} {'torch RSS MB':>12} {'RSS ratio':>9}",
          flush=True)
    results = []
    for threads in args.threads:
        for shape in [tuple(int(x) for x in s.split("x")) for s in args.shapes]:
            ours = run_worker("ours", threads, shape, args.repeats)
            theirs = run_worker("torch", threads, shape, args.repeats)
            t_ours, t_torch, t_gemm = (float(np.median(r)) for r in (ours["times"], theirs["times"],
                                                                      ours["gemm_times"]))
            row = {"threads": threads, "shape": list(shape), "ours_s": t_ours, "torch_s": t_torch, "gemms_s": t_gemm,
                   "ours/torch": t_ours / t_torch, "gemms/torch": t_gemm / t_torch,
                   "ours_rss_mb": ours["peak_rss_mb"], "torch_rss_mb": theirs["peak_rss_mb"],
                   "raw": {"ours": ours, "torch": theirs}}
            results.append(row)
            print(f"{threads:>7} {str(shape):>9} {t_ours:>7.2f} {t_torch:>7.2f} {row['ours/torch']:>10.2f} "
                  f"{t_gemm:>7.2f} {row['gemms/torch']:>11.2f} {t_ours / t_gemm:>10.2f} "
                  f"{ours['peak_rss_mb']:>11.0f} {theirs['peak_rss_mb']:>12.0f} "
                  f"{ours['peak_rss_mb'] / theirs['peak_rss_mb']:>9.2f}", flush=True)
    print(f"load {os.getloadavg()[0]:.1f} at the end")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"facts": facts, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
