"""Run the course in notebooks/ as tests: every notebook executes top to bottom, and its asserts are the checks.

    python -m pytest tests/test_notebooks.py -v          # needs: pip install -e ".[notebooks]"

The notebooks are jupytext "percent" .py files (the source of truth). Each one is read with `jupytext.read` and
executed in a fresh python3 kernel by `nbclient`, sequentially, with an empty temporary folder as the working
directory: a notebook finds the repository's files from the package (`squeezebert_np.course`), not from where it
runs. They also run as plain scripts (`python notebooks/05_model_vs_pytorch.py`) from any folder. A cell that raises (an assert in a lesson, or a bug) fails that notebook's test.
No network: HF_HUB_OFFLINE=1 is set for the kernels; one BLAS thread (OPENBLAS_NUM_THREADS=1 and friends).
With jupytext, nbclient or ipykernel missing, the tests skip.

Set SQUEEZEBERT_NOTEBOOKS_OUT=some/dir to also write each executed notebook, outputs included, as .ipynb there.
"""
import glob
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS_DIR = os.path.join(ROOT, "notebooks")
NOTEBOOKS = sorted(glob.glob(os.path.join(NOTEBOOKS_DIR, "[0-9][0-9]_*.py")))
CELL_TIMEOUT = 300          # seconds for one cell; the whole series takes well under 3 minutes
MAX_CODE_LINES = 15         # a lesson's code cell stays short enough to read at a glance


def read(path):
    jupytext = pytest.importorskip("jupytext")
    return jupytext.read(path)


def test_the_course_is_there():
    names = [os.path.basename(p) for p in NOTEBOOKS]
    assert len(names) >= 7, names
    assert [n[:2] for n in names] == [f"{i:02d}" for i in range(1, len(names) + 1)], "numbered 01, 02, ... in order"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_conventions(path):
    """The house rules of the course: a header, short code cells, nothing fetched from the network."""
    nb = read(path)
    first = nb.cells[0]
    assert first.cell_type == "markdown", "the notebook starts with its title and header"
    for part in ("What you'll do", "What you'll learn", "What you'll need"):
        assert part in first.source, f"the header lacks {part!r}"
    for i, cell in enumerate(nb.cells):
        text = cell.source
        assert not re.search(r"https?://", text), f"cell {i} has a URL (the notebooks run offline)"
        if cell.cell_type != "code":
            continue
        lines = [line for line in text.splitlines() if line.strip()]
        assert len(lines) <= MAX_CODE_LINES, f"code cell {i} has {len(lines)} lines (at most {MAX_CODE_LINES})"
        assert not any(line.lstrip().startswith(("!", "%pip", "%conda")) for line in lines), \
            f"cell {i} installs or shells out"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path, monkeypatch, tmp_path):
    nb = read(path)
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")          # the kernel inherits this environment
    # the kernel imports this checkout's package, whatever else is installed
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    # one BLAS thread: reproducible sums, and timings (notebook 07) that a busy machine disturbs far less
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(name, "1")
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()      # raises CellExecutionError, with the cell's traceback, if any cell fails
    out = os.environ.get("SQUEEZEBERT_NOTEBOOKS_OUT")
    if out:
        nbformat = pytest.importorskip("nbformat")
        os.makedirs(out, exist_ok=True)
        name = os.path.splitext(os.path.basename(path))[0] + ".ipynb"
        nbformat.write(nb, os.path.join(out, name))


@pytest.mark.parametrize("where", ["root", "elsewhere"])
def test_a_notebook_runs_as_a_script_from_any_folder(where, tmp_path):
    """`python notebooks/05_model_vs_pytorch.py` finds tests/golden/ from the package, not from the working directory
    (it used to open ../tests/golden/meta.json and so ran only from notebooks/)."""
    pytest.importorskip("matplotlib")
    cwd = ROOT if where == "root" else str(tmp_path)
    env = {**os.environ, "PYTHONPATH": ROOT, "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, os.path.join(NOTEBOOKS_DIR, "05_model_vs_pytorch.py")], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "29 comparisons" in done.stdout


def test_the_notebooks_extra_brings_a_jupyter_front_end_that_opens_py_notebooks():
    """`pip install -e ".[notebooks]"` must be enough to open the .py notebooks: JupyterLab plus jupytext (whose
    server extension lets JupyterLab open a percent-format .py file as a notebook)."""
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        extra = tomllib.load(f)["project"]["optional-dependencies"]["notebooks"]
    names = {re.split(r"[<>=!~\[ ]", req, maxsplit=1)[0].lower() for req in extra}
    assert {"jupyterlab", "jupytext", "nbclient", "ipykernel"} <= names, names


def test_jupyterlab_is_installed_with_jupytext_enabled():
    """Where the extra is installed (CI), `jupyter lab` exists and the jupytext server extension is enabled in it."""
    pytest.importorskip("jupyterlab")
    pytest.importorskip("jupytext")
    done = subprocess.run([sys.executable, "-m", "jupyter", "server", "extension", "list"],
                          capture_output=True, text=True, timeout=120)
    listing = done.stdout + done.stderr
    assert re.search(r"jupytext\b.*enabled", listing), listing[-2000:]
    assert re.search(r"jupyterlab\b.*enabled", listing), listing[-2000:]
