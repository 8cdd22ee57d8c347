"""The package's import surface: lazy public names (PEP 562), and what `import squeezebert_np` loads."""
import subprocess
import sys

import squeezebert_np


def test_every_public_name_resolves_to_its_module():
    import importlib
    for name, module in squeezebert_np._LAZY.items():
        assert getattr(squeezebert_np, name) is getattr(importlib.import_module(f"squeezebert_np.{module}"), name)
    assert set(squeezebert_np.__all__) <= set(dir(squeezebert_np))


def test_submodules_are_attributes_on_first_use():
    code = ("import squeezebert_np\n"
            "assert squeezebert_np.fast.enabled() and callable(squeezebert_np.functional.gelu)\n"
            "assert callable(squeezebert_np.fill_mask.fill_mask)\n"
            "assert squeezebert_np.hub.__name__ == 'squeezebert_np.hub'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_unknown_names_are_attribute_errors():
    try:
        squeezebert_np.SqueezeBertForPreTraining
    except AttributeError as e:
        assert "SqueezeBertForPreTraining" in str(e)
    else:
        raise AssertionError("no AttributeError")


def test_import_loads_neither_numpy_nor_our_modules_until_used():
    """`import squeezebert_np` alone stays light (benchmarks/import_time.py times it); the downloader works
    without NumPy; the first model name pulls in NumPy."""
    code = ("import sys, squeezebert_np\n"
            "assert 'numpy' not in sys.modules, 'numpy'\n"
            "assert not [m for m in sys.modules if m.startswith('squeezebert_np.')], sorted(sys.modules)\n"
            "from squeezebert_np import hub, download, SqueezeBertError\n"
            "assert 'numpy' not in sys.modules, 'numpy via hub'\n"
            "from squeezebert_np import SqueezeBertModel\n"
            "assert 'numpy' in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)
