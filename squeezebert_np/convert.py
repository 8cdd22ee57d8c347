"""`python -m squeezebert_np.convert SRC DST`: any SqueezeBERT checkpoint in, a safetensors checkpoint out.

SRC is a model folder (config.json + model.safetensors, a sharded index, or pytorch_model.bin) or a single weights
file whose folder holds config.json. DST gets config.json, model.safetensors (float32, or float16 with
--dtype float16) and the tokenizer files found beside the source. The result loads in this package without torch
(memory-mapped, zero-copy in float32) and in transformers. `weights/` is the project's place for such folders.

How: the converter finds the model class whose keys the checkpoint names best (SqueezeBertModel or one of the five
heads; the classifier heads share names, so each is tried in turn) and builds it from the weights, so every tensor
that model reads is checked against the config's shapes before anything is written. A file in which no key is a
SqueezeBERT weight (say, a DataParallel `module.` prefix) is refused.

What changes on the way: only the tensors that model reads are written, under the file's own names (legacy
`gamma`/`beta` become `weight`/`bias`), plus the pretraining checkpoint's sentence-order head
`cls.seq_relationship.*` (shape-checked); every other key is dropped with a warning naming it. The MLM decoder's
tied copy of the word embeddings and the `position_ids` buffer are not written (transformers v5 writes neither and
re-ties on load). config.json says `"dtype"` is the dtype written (no v4 `torch_dtype`), as transformers 5.24 does.
"""
import argparse
import logging
import os
import shutil
import warnings

import numpy as np

from . import cli
from .checkpoint.files import load_weights
from .checkpoint.safetensors_io import make_folder, save_safetensors, write_atomically
from .checkpoint.state_dict import PREFIX, map_keys, rename_legacy, to_float32
from .config import SqueezeBertConfig, write_text_atomically
from .errors import CheckpointError
from .heads import (SqueezeBertForMaskedLM, SqueezeBertForMultipleChoice, SqueezeBertForQuestionAnswering,
                    SqueezeBertForSequenceClassification, SqueezeBertForTokenClassification)
from .modeling import SqueezeBertModel

TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
TIED_COPIES = {"cls.predictions.decoder.weight": PREFIX + "embeddings.word_embeddings.weight",
               "cls.predictions.decoder.bias": "cls.predictions.bias"}
# in order of preference when several name the same number of keys (a base checkpoint fits every head)
MODEL_CLASSES = (SqueezeBertModel, SqueezeBertForMaskedLM, SqueezeBertForSequenceClassification,
                 SqueezeBertForMultipleChoice, SqueezeBertForTokenClassification, SqueezeBertForQuestionAnswering)
SHOWN_KEYS = 20          # dropped keys named in the warning; the rest are counted


def pretraining_only_shapes(config):
    """The pretraining checkpoint's sentence-order head: no class here reads it, but it is part of the model."""
    return {"cls.seq_relationship.weight": (2, config.hidden_size), "cls.seq_relationship.bias": (2,)}


def keys_read(weights, model_class, config):
    """The keys of `weights` (as the file names them) that `model_class` reads, by the loading rules."""
    expected = model_class(config, state_dict=model_class.BUILD_ONLY).state_dict().keys()
    model_to_file, _ = map_keys({key: key for key in weights}, expected)   # each value is its own file key
    return set(model_to_file.values())


def build_quietly(model_class, config, weights):
    """Build `model_class` from `weights` for its shape checks only: its warnings (missing pooler, unused keys)
    are about loading, not converting, and are not shown."""
    logger = logging.getLogger("squeezebert_np")
    level = logger.level
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logger.setLevel(logging.ERROR)
        try:
            model_class(config, state_dict=weights)
        finally:
            logger.setLevel(level)


def select_weights(weights, config):
    """The tensors to write, `{output name: file array}`: the keys the best-fitting model class reads (built from
    `weights`, so shapes are checked) plus `cls.seq_relationship.*`; warns naming every other key dropped."""
    read = {cls: keys_read(weights, cls, config) for cls in MODEL_CLASSES}
    best = max(len(keys) for keys in read.values())
    if best == 0:
        shown = ", ".join(list(weights)[:3])
        raise CheckpointError(f"no key of the checkpoint is a SqueezeBERT weight name (it has {shown}, ...); "
                              "strip a wrapper's prefix such as 'module.' first")
    errors = []
    for cls in [cls for cls in MODEL_CLASSES if len(read[cls]) == best]:
        try:
            build_quietly(cls, config, weights)
            break
        except CheckpointError as err:                  # e.g. a 3-label classifier is no 2-label one: try the next
            errors.append(err)
    else:
        raise errors[0]
    kept = read[cls]
    for key, shape in pretraining_only_shapes(config).items():
        for file_key in (k for k in weights if rename_legacy(k) == key):
            to_float32(file_key, weights[file_key], shape)     # the same shape and dtype checks as a weight
            kept.add(file_key)
    dropped = [k for k in weights if k not in kept and not k.endswith("position_ids")]
    if dropped:
        more = f" and {len(dropped) - SHOWN_KEYS} more" if len(dropped) > SHOWN_KEYS else ""
        warnings.warn(f"{len(dropped)} checkpoint keys are not read by {cls.__name__} and are not written: "
                      f"{', '.join(dropped[:SHOWN_KEYS])}{more}", stacklevel=3)
    return {rename_legacy(k): v for k, v in weights.items() if k in kept}


def converted_state_dict(selected, dtype, tie_word_embeddings=True):
    """The tensors to write: tied copies dropped, floats cast to `dtype`, each distinct array converted once."""
    sd = dict(selected)
    for copy, source in TIED_COPIES.items() if tie_word_embeddings else ():
        if copy in sd and source in sd and np.array_equal(sd[copy], sd[source]):
            del sd[copy]
    converted = {}                                      # id(file array) -> written array
    for array in sd.values():
        if id(array) not in converted:
            converted[id(array)] = np.ascontiguousarray(array, dtype=np.dtype(dtype) if array.dtype.kind == "f"
                                                        else array.dtype)
    return {k: converted[id(v)] for k, v in sd.items()}


def convert_checkpoint(src, dst, dtype="float32"):
    """Convert the checkpoint at `src` (folder or weights file) into a safetensors folder at `dst`."""
    if not isinstance(dtype, str) or dtype not in ("float32", "float16"):
        raise CheckpointError(f"--dtype must be float32 or float16, got {dtype!r:.80}")
    src = os.fspath(src)
    folder = os.path.dirname(os.path.abspath(src)) if os.path.isfile(src) else src
    if not os.path.isdir(folder):
        raise CheckpointError(f"{src} is neither a checkpoint folder nor a weights file")
    if not os.path.isfile(os.path.join(folder, "config.json")):
        raise CheckpointError(f"no config.json in {folder}: the converter needs the model's config beside the weights")
    config = SqueezeBertConfig.from_json_file(os.path.join(folder, "config.json"))
    config_json = config.to_json_string(weights_dtype=dtype)       # a config JSON cannot hold fails here
    weights, _ = load_weights(src)
    tensors = converted_state_dict(select_weights(weights, config), dtype, config.tie_word_embeddings)
    make_folder(dst)
    save_safetensors(tensors, os.path.join(dst, "model.safetensors"), metadata={"format": "pt"})
    write_text_atomically(os.path.join(dst, "config.json"), config_json)
    for name in TOKENIZER_FILES:
        if os.path.isfile(os.path.join(folder, name)) and os.path.abspath(folder) != os.path.abspath(dst):
            with open(os.path.join(folder, name), "rb") as source:  # atomically: a failed copy leaves no half file
                write_atomically(os.path.join(dst, name), lambda target: shutil.copyfileobj(source, target))
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
