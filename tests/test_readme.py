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
