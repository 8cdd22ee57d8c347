"""Checkpoint files without torch: reading (safetensors, pytorch_model.bin), writing safetensors, and key mapping."""
from .files import load_weights, read_checkpoint_file
from .safetensors_io import load_safetensors, save_safetensors
from .torch_bin import load_torch_bin

__all__ = ["load_weights", "read_checkpoint_file", "load_safetensors", "save_safetensors", "load_torch_bin"]
