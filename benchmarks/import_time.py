"""`import squeezebert_np` wall time, in fresh processes, against the bare interpreter and `import numpy`.

    python benchmarks/import_time.py [--repeats 15]

Each measurement is a new `python -c` process timing its own import with perf_counter (so interpreter start-up is
not counted); reported: the medians of `import numpy` alone and of `import squeezebert_np` (numpy included, as a
user pays it), our own share (the difference), the target (<= 100 ms) and the slowest of our modules by
`python -X importtime`. The files are in the page cache after the first run: this is a warm import.
"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

TIMER = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def timed(module):
    out = subprocess.run([sys.executable, "-c", TIMER.format(module=module)], capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d %H:%M')}")
    timed("squeezebert_np")                                  # warm the page cache and __pycache__
    numpy_t, ours_t = [], []
    for _ in range(args.repeats):                            # interleaved, so drift hits both alike
        numpy_t.append(timed("numpy"))
        ours_t.append(timed("squeezebert_np"))
    n, o = statistics.median(numpy_t), statistics.median(ours_t)
    print(f"import numpy:          {1e3 * n:7.1f} ms (median of {args.repeats})")
    print(f"import squeezebert_np: {1e3 * o:7.1f} ms (numpy included), ours alone {1e3 * (o - n):.1f} ms")
    print(f"target <= 100 ms: {'met' if o <= 0.1 else 'NOT met'} ({o / 0.1:.2f}x the budget)")
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", "import squeezebert_np"], capture_output=True,
                         text=True).stderr
    rows = []
    for line in err.splitlines()[1:]:
        parts = line.split("|")
        if len(parts) == 3 and "squeezebert_np" in parts[2]:
            rows.append((int(parts[0].split(":")[1]), parts[2].rstrip()))
    print("our modules by self time (-X importtime, one run):")
    for self_us, name in sorted(rows, reverse=True)[:8]:
        print(f"  {self_us / 1e3:6.1f} ms {name}")


if __name__ == "__main__":
    main()
