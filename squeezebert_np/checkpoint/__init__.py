"""Checkpoint files without torch: reading (safetensors, pytorch_model.bin), writing safetensors, and key mapping.

The readers are imported on first use (PEP 562), so `import squeezebert_np` does not pay for zipfile and pickle.
"""
import importlib

_EXPORTS = {"load_weights": "files", "read_checkpoint_file": "files", "load_safetensors": "safetensors_io",
            "save_safetensors": "safetensors_io", "load_torch_bin": "torch_bin"}
__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
