"""squeezebert_np: SqueezeBERT (Iandola et al., 2020) in pure NumPy, with transformers' names and numbers."""
__version__ = "0.1.0"
