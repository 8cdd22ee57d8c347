"""Run the course in notebooks/ as tests: every notebook executes top to bottom, and its asserts are the checks.

    python -m pytest tests/test_notebooks.py -v          # needs: pip install -e ".[notebooks]"

The notebooks are jupytext "percent" .py files (the source of truth). Each one is read with `jupytext.read` and
executed in a fresh python3 kernel by `nbclient`, sequentially, with an empty temporary folder as the working
directory: a notebook finds the repository's files from the package (`squeezebert_np.course`), not from where it
runs. They also run as plain scripts (`python notebooks/05_model_vs_pytorch.py`) from any folder. A cell that
raises (an assert in a lesson, or a bug) fails that notebook's test.
No network: HF_HUB_OFFLINE=1 is set for the kernels; one BLAS thread (OPENBLAS_NUM_THREADS=1 and friends).
With jupytext, nbclient or ipykernel missing, the tests skip. The kernel is run by tools/build_notebooks.py, the
command that makes the stored, executed notebooks/NN.ipynb; a test checks that each one's cells are its .py's.
"""
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS_DIR = os.path.join(ROOT, "notebooks")
NOTEBOOKS = sorted(glob.glob(os.path.join(NOTEBOOKS_DIR, "[0-9][0-9]_*.py")))
MAX_CODE_LINES = 15         # a lesson's code cell stays short enough to read at a glance

_spec = importlib.util.spec_from_file_location("build_notebooks", os.path.join(ROOT, "tools", "build_notebooks.py"))
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


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
def test_notebook_runs(path):
    """Executed exactly as tools/build_notebooks.py makes the stored .ipynb: fresh kernel, empty temporary folder."""
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    build.execute(build.read(path))    # raises CellExecutionError, with the cell's traceback, if any cell fails


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_the_stored_ipynb_is_the_executed_source(path):
    """notebooks/NN.ipynb has exactly the cells of NN.py (sources, not outputs: those vary with the BLAS), paired by
    jupytext, and was executed: every code cell ran, in order. Remake with `python tools/build_notebooks.py`."""
    nbformat = pytest.importorskip("nbformat")
    read(path)                                           # skips without jupytext
    assert build.differences(path) == []
    stored = nbformat.read(build.target(path), as_version=4)
    assert stored.metadata["jupytext"]["formats"] == build.PAIRING
    counts = [c.execution_count for c in stored.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), "not executed top to bottom: rebuild it"
    errors = [o for c in stored.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors


def test_the_sync_check_sees_an_edited_source(tmp_path):
    pytest.importorskip("nbformat")
    read(NOTEBOOKS[0])
    for ext in (".py", ".ipynb"):
        shutil.copy(os.path.splitext(NOTEBOOKS[0])[0] + ext, tmp_path / ("01_x" + ext))
    assert build.differences(str(tmp_path / "01_x.py")) == []
    text = (tmp_path / "01_x.py").read_text(encoding="utf-8")
    (tmp_path / "01_x.py").write_text(text.replace("# %%\n", "# %%\nx = 1\n", 1), encoding="utf-8")
    assert "cell" in " ".join(build.differences(str(tmp_path / "01_x.py")))
    (tmp_path / "01_x.ipynb").unlink()
    assert "missing" in build.differences(str(tmp_path / "01_x.py"))[0]


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
