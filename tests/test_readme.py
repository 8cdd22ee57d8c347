"""The README starts with the two commands, and CI runs exactly the second one."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def first_block():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    return re.search(r"```bash\n(.*?)```", text, re.S).group(1).strip().splitlines()


def test_readme_opens_with_the_main_job_and_the_tests():
    main_job, tests = first_block()
    assert main_job.startswith("pip install . && python -m squeezebert_np.fill_mask ")
    assert "[MASK]" in main_job
    assert tests.startswith("pip install") and tests.endswith("python -m pytest")


def test_ci_runs_the_readme_test_command():
    ci = open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read().splitlines()
    assert first_block()[1] in ci


def test_readme_says_how_to_get_the_cpu_only_torch_it_pins():
    """PyPI's torch for Linux x86-64 is the CUDA build: the README names PyTorch's CPU wheel index for the pinned
    version, and pyproject no longer claims that the pin avoids CUDA."""
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    pyproject = open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8").read()
    pinned = re.search(r'"torch==([0-9.]+)"', pyproject).group(1)
    assert f"pip install torch=={pinned} --index-url https://download.pytorch.org/whl/cpu" in readme
    assert "avoids CUDA" not in pyproject and "pulls a multi-GB CUDA build" not in pyproject
    assert "CUDA build" in pyproject      # the comment says what the pin gives on Linux x86-64
