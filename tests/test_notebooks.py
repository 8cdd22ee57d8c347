"""Run the course in notebooks/ as tests: every notebook executes top to bottom, and its asserts are the checks.

    python -m pytest tests/test_notebooks.py -v          # needs: pip install -e ".[notebooks]"

The notebooks are jupytext "percent" .py files (the source of truth; no .ipynb is committed). Each one is read
with `jupytext.read` and executed in a fresh python3 kernel by `nbclient`, with notebooks/ as the working
directory, sequentially. A cell that raises (an assert in a lesson, or a bug) fails that notebook's test.
No network: HF_HUB_OFFLINE=1 is set for the kernels; one BLAS thread (OPENBLAS_NUM_THREADS=1 and friends).
With jupytext, nbclient or ipykernel missing, the tests skip.

Set SQUEEZEBERT_NOTEBOOKS_OUT=some/dir to also write each executed notebook, outputs included, as .ipynb there.
"""
import glob
import os
import re

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
def test_notebook_runs(path, monkeypatch):
    nb = read(path)
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")          # the kernel inherits this environment
    # one BLAS thread: reproducible sums, and timings (notebook 07) that a busy machine disturbs far less
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(name, "1")
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": NOTEBOOKS_DIR}})
    client.execute()      # raises CellExecutionError, with the cell's traceback, if any cell fails
    out = os.environ.get("SQUEEZEBERT_NOTEBOOKS_OUT")
    if out:
        nbformat = pytest.importorskip("nbformat")
        os.makedirs(out, exist_ok=True)
        name = os.path.splitext(os.path.basename(path))[0] + ".ipynb"
        nbformat.write(nb, os.path.join(out, name))
