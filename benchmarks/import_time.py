"""`import squeezebert_np` wall time, in fresh processes, against `import numpy` and a first real use.

    python benchmarks/import_time.py [--repeats 15]

Each measurement is a new `python -c` process timing its own import with perf_counter (so interpreter start-up is
not counted). Reported, as medians: `import squeezebert_np` (the target row: <= 100 ms; every public name is
lazy, so this loads no NumPy), `import numpy` alone, and `from squeezebert_np import SqueezeBertModel` (what the
first use of a model pays: NumPy plus our modules) with our share of it (the difference), and the slowest of our
modules by `python -X importtime`. The files are in the page cache after the first run: this is a warm import.
"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

TIMER = "import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"


def timed(module):
    statement = f"from {module}" if " import " in module else f"import {module}"
    out = subprocess.run([sys.executable, "-c", TIMER.format(statement=statement)], capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d %H:%M')}")
    timed("squeezebert_np")                                  # warm the page cache and __pycache__
    model = "squeezebert_np import SqueezeBertModel"
    times = {"squeezebert_np": [], "numpy": [], model: []}
    for _ in range(args.repeats):                            # interleaved, so drift hits all alike
        for module, t in times.items():
            t.append(timed(module))
    bare, n, first = (statistics.median(t) for t in times.values())
    print(f"import squeezebert_np:                     {1e3 * bare:7.1f} ms (median of {args.repeats}; no NumPy)")
    print(f"target <= 100 ms: {'met' if bare <= 0.1 else 'NOT met'} ({bare / 0.1:.2f}x the budget)")
    print(f"import numpy:                              {1e3 * n:7.1f} ms")
    print(f"from squeezebert_np import SqueezeBertModel: {1e3 * first:5.1f} ms (NumPy included), "
          f"ours alone {1e3 * (first - n):.1f} ms")
    err = subprocess.run([sys.executable, "-X", "importtime", "-c", f"from {model}"], capture_output=True,
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
