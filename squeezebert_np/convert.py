"""`python -m squeezebert_np.convert SRC DST`: any SqueezeBERT checkpoint in, a safetensors checkpoint out.

SRC is a model folder (config.json + model.safetensors, a sharded index, or pytorch_model.bin) or a single weights
file whose folder holds config.json. DST gets config.json, model.safetensors (float32, or float16 with
--dtype float16) and the tokenizer files found beside the source. The result loads in this package without torch
(memory-mapped, zero-copy in float32) and in transformers. `weights/` is the project's place for such folders.

What changes on the way: legacy `gamma`/`beta` names become `weight`/`bias`; the MLM decoder's tied copy of the
word embeddings and the `position_ids` buffer are not written (transformers v5 writes neither and re-ties on load).
Every tensor is checked against the config's shapes before anything is written.
"""
import argparse
import logging
import os
import shutil
import warnings

import numpy as np

from . import cli
from .checkpoint.files import load_weights
from .checkpoint.safetensors_io import save_safetensors
from .checkpoint.state_dict import PREFIX, rename_legacy
from .config import SqueezeBertConfig
from .errors import CheckpointError
from .modeling import SqueezeBertModel

TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
TIED_COPIES = {"cls.predictions.decoder.weight": PREFIX + "embeddings.word_embeddings.weight",
               "cls.predictions.decoder.bias": "cls.predictions.bias"}


def converted_state_dict(weights, dtype, tie_word_embeddings=True):
    """The tensors to write: legacy names renamed, tied copies and buffers dropped, floats cast to `dtype`."""
    sd = {rename_legacy(k): v for k, v in weights.items() if not k.endswith("position_ids")}
    for copy, source in TIED_COPIES.items() if tie_word_embeddings else ():
        if copy in sd and source in sd and np.array_equal(sd[copy], sd[source]):
            del sd[copy]
    return {k: np.ascontiguousarray(v, dtype=np.dtype(dtype) if v.dtype.kind == "f" else v.dtype)
            for k, v in sd.items()}


def convert_checkpoint(src, dst, dtype="float32"):
    """Convert the checkpoint at `src` (folder or weights file) into a safetensors folder at `dst`."""
    if dtype not in ("float32", "float16"):
        raise CheckpointError(f"--dtype must be float32 or float16, got {dtype!r}")
    src = os.fspath(src)
    folder = os.path.dirname(os.path.abspath(src)) if os.path.isfile(src) else src
    if not os.path.isdir(folder):
        raise CheckpointError(f"{src} is neither a checkpoint folder nor a weights file")
    if not os.path.isfile(os.path.join(folder, "config.json")):
        raise CheckpointError(f"no config.json in {folder}: the converter needs the model's config beside the weights")
    config = SqueezeBertConfig.from_json_file(os.path.join(folder, "config.json"))
    weights, _ = load_weights(src)
    with warnings.catch_warnings():                        # a headless checkpoint lacks the pooler, and head
        warnings.simplefilter("ignore")                    # keys are "unused" by the base model: fine here
        logger = logging.getLogger("squeezebert_np")
        level, logger.level = logger.level, logging.ERROR
        try:
            SqueezeBertModel(config, state_dict=weights)  # checks every base-model shape against the config
        finally:
            logger.setLevel(level)
    tensors = converted_state_dict(weights, dtype, config.tie_word_embeddings)
    os.makedirs(dst, exist_ok=True)
    save_safetensors(tensors, os.path.join(dst, "model.safetensors"), metadata={"format": "pt"})
    config.save_pretrained(dst)
    for name in TOKENIZER_FILES:
        if os.path.isfile(os.path.join(folder, name)) and os.path.abspath(folder) != os.path.abspath(dst):
            shutil.copyfile(os.path.join(folder, name), os.path.join(dst, name))
    return dst


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m squeezebert_np.convert", description=__doc__.split("\n\n")[0],
        formatter_class=cli.HelpFormatter,
        epilog="examples:\n  python -m squeezebert_np.convert ~/models/squeezebert-uncased weights/squeezebert-uncased\n"
               "  python -m squeezebert_np.convert old/pytorch_model.bin weights/mine --dtype float16\n")
    parser.add_argument("src", help="checkpoint folder, or a weights file with config.json beside it")
    parser.add_argument("dst", help="output folder")
    parser.add_argument("--dtype", choices=("float32", "float16"), default="float32")
    args = parser.parse_args(argv)
    print(convert_checkpoint(args.src, args.dst, args.dtype))


if __name__ == "__main__":
    cli.run(main)
