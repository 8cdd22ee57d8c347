"""Make the executed notebooks: notebooks/NN_name.py (the source) -> notebooks/NN_name.ipynb (with outputs).

    python tools/build_notebooks.py              # every lesson, one after the other (about a minute on 2 cores)
    python tools/build_notebooks.py 04 05        # only these lessons
    python tools/build_notebooks.py --check      # exit 1 if a stored .ipynb's cells differ from its .py

The .py files, jupytext "percent" notebooks, are what we edit and review. The .ipynb beside each is the same
notebook executed, so that a reader sees every output and figure without installing or running anything. It is
paired with the .py through jupytext's `formats` metadata: opened in JupyterLab with jupytext, an edit to either is
written to both. CI checks (tests/test_notebooks.py) that each .ipynb's cells are the .py's cells, sources only:
outputs change with the BLAS and the machine, so they are never compared.

Each notebook runs as tests/test_notebooks.py runs it: a fresh python3 kernel, an empty temporary working directory,
this checkout's package first on PYTHONPATH, HF_HUB_OFFLINE=1 and one BLAS thread. Cell ids are numbered and
timing metadata is left out, so rebuilding an unchanged lesson changes only outputs that really changed.
"""
import argparse
import glob
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS_DIR = os.path.join(ROOT, "notebooks")
CELL_TIMEOUT = 300                     # seconds for one cell
PAIRING = "ipynb,py:percent"           # jupytext: the .ipynb and the .py are one notebook in two files


def sources():
    """The lessons, in order: notebooks/01_*.py, 02_*.py, ..."""
    return sorted(glob.glob(os.path.join(NOTEBOOKS_DIR, "[0-9][0-9]_*.py")))


def read(path):
    """A lesson's .py as a notebook with numbered cell ids and the pairing metadata."""
    import jupytext
    nb = jupytext.read(path)
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"                       # stable ids: no random churn in the .ipynb
    nb.metadata.setdefault("jupytext", {})["formats"] = PAIRING
    return nb


def kernel_env():
    """The environment the kernel runs with: offline, one BLAS thread, this checkout's package first."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join(
        filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = "1"          # reproducible sums, and timings (07) that a busy machine disturbs less
    return env


def execute(nb):
    """Run every cell of `nb` in place, in a fresh kernel, from an empty temporary folder; a failing cell raises
    nbclient's CellExecutionError with its traceback."""
    import nbclient
    saved = dict(os.environ)
    os.environ.update(kernel_env())                    # the kernel inherits this process's environment
    try:
        with tempfile.TemporaryDirectory() as workdir:
            nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", record_timing=False,
                                    resources={"metadata": {"path": workdir}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return nb


def target(path):
    return os.path.splitext(path)[0] + ".ipynb"


def differences(path):
    """What differs between a lesson's .py and its stored .ipynb (cell types and sources), as sentences; [] if none."""
    import nbformat
    if not os.path.isfile(target(path)):
        return [f"{os.path.basename(target(path))} is missing: run python tools/build_notebooks.py"]
    want = [(c.cell_type, c.source) for c in read(path).cells]
    have = [(c.cell_type, c.source) for c in nbformat.read(target(path), as_version=4).cells]
    problems = [f"cell {i}: the .ipynb has {h[0]} {h[1][:60]!r}..., the .py {w[0]} {w[1][:60]!r}..."
                for i, (w, h) in enumerate(zip(want, have)) if w != h]
    if len(want) != len(have):
        problems.append(f"the .py has {len(want)} cells, the .ipynb {len(have)}")
    return [f"{os.path.basename(target(path))}: {p}" for p in problems]


def write(nb, path):
    """Write atomically: a crash never leaves half a notebook."""
    import nbformat
    tmp = path + ".tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            nbformat.write(nb, f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers (e.g. 04); default: all")
    parser.add_argument("--check", action="store_true", help="only compare each .ipynb with its .py")
    args = parser.parse_args(argv)
    paths = [p for p in sources() if not args.lessons or os.path.basename(p)[:2] in args.lessons]
    if args.lessons and len(paths) != len(args.lessons):
        parser.error(f"no such lesson among {args.lessons}; the lessons are "
                     + ", ".join(os.path.basename(p)[:2] for p in sources()))
    if args.check:
        problems = [p for path in paths for p in differences(path)]
        print("\n".join(problems) or f"{len(paths)} notebooks match their sources")
        return 1 if problems else 0
    for path in paths:
        print(f"executing {os.path.basename(path)} ...", flush=True)
        write(execute(read(path)), target(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
