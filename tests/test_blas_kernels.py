"""The numerics-sensitive tests once more, under the other OpenBLAS kernel.

OpenBLAS picks its GEMM kernel from the CPU (SkylakeX on an AVX-512 machine, Haswell, Zen, ...) unless
OPENBLAS_CORETYPE names one, and each kernel sums in its own order. CI's machine may have the variable set or not,
so the tests whose bounds depend on rounding (fast path vs plain path and vs float64, functional vs torch, the
goldens, the transformers differential tests, the gradients against torch autograd) run here a second time in a
child process with the other setting: unset when it is set here, Haswell when it is not. The variable is changed
for that child only, never for this process.
"""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NUMERICS = ["tests/test_fast.py", "tests/test_functional.py", "tests/test_golden.py", "tests/test_differential.py",
            "tests/test_model.py", "tests/test_grads.py"]
CHILD = "SQUEEZEBERT_OTHER_KERNEL_CHILD"
CORE_NAME = """
import ctypes, numpy, sys
names = [line.split()[-1] for line in open('/proc/self/maps') if 'openblas' in line.lower() and '.so' in line]
lib = ctypes.CDLL(sorted(set(names))[0]) if names else None
get = lib and next((getattr(lib, n) for n in ('openblas_get_corename', 'scipy_openblas_get_corename64_',
                                              'openblas_get_corename64_') if hasattr(lib, n)), None)
if get is None:
    sys.exit(3)
get.restype = ctypes.c_char_p
print(get().decode())
"""


def other_kernel_env():
    env = dict(os.environ)
    if env.get("OPENBLAS_CORETYPE"):
        del env["OPENBLAS_CORETYPE"]
        env.pop("OPENBLAS_L2_SIZE", None)      # set together with it on some machines (.library/env)
    else:
        env["OPENBLAS_CORETYPE"] = "Haswell"
    env[CHILD] = "1"
    return env


def core_name(env):
    result = subprocess.run([sys.executable, "-c", CORE_NAME], env=env, capture_output=True, text=True, timeout=120)
    return result.stdout.strip() if result.returncode == 0 else None


@pytest.mark.slow
def test_numerics_pass_under_the_other_openblas_kernel():
    if os.environ.get(CHILD):
        pytest.skip("this is already the run under the other kernel")
    here, there = core_name(dict(os.environ)), core_name(other_kernel_env())
    if here is None:
        pytest.skip("NumPy's BLAS is not an OpenBLAS we can ask for its kernel")
    print(f"OpenBLAS kernel here: {here}; in the child: {there}")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *NUMERICS],
                            cwd=ROOT, env=other_kernel_env(), capture_output=True, text=True, timeout=3000)
    assert result.returncode == 0, (f"under OPENBLAS_CORETYPE={other_kernel_env().get('OPENBLAS_CORETYPE', '(unset)')}"
                                    f" (kernel {there}):\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}")
