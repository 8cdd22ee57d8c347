"""Reading and writing a tokenizer's files, in the formats transformers reads and writes.

Read (what exists of): `tokenizer_config.json` (settings, special tokens, `added_tokens_decoder`),
`special_tokens_map.json` (older special tokens, used where the config is silent), `tokenizer.json` (its
`model.vocab` and `added_tokens`; the rest of it is BERT's fixed pipeline), else `vocab.txt`, and `added_tokens.json`
(the oldest form of added tokens: {content: id}). Every file is checked: a malformed one is a TokenizerError that
names it and what is wrong.

Written: `vocab.txt` (the WordPiece vocabulary) and `tokenizer_config.json` with the settings, the special tokens and
every added token in `added_tokens_decoder`, which transformers 5.24 loads with the same ids. Each file is written
to a temporary name and renamed, so an interrupted save leaves no half-written file.
"""
import json
import math
import os
import tempfile

from .added_tokens import AddedToken
from .errors import TokenizerError
from .special_tokens import SPECIAL_TOKENS_ATTRIBUTES

VOCAB_FILE = "vocab.txt"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
TOKENIZER_FILE = "tokenizer.json"
SPECIAL_TOKENS_MAP_FILE = "special_tokens_map.json"
ADDED_TOKENS_FILE = "added_tokens.json"

VERY_LARGE_INTEGER = int(1e30)  # what transformers uses when there is no limit (tokenization_utils_base)
SETTINGS = ("do_lower_case", "strip_accents", "tokenize_chinese_chars", "model_max_length", "padding_side",
            "truncation_side", "clean_up_tokenization_spaces")
EXTRA_KEYS = ("extra_special_tokens", "additional_special_tokens")


def read_json(path):
    """The JSON value of a tokenizer file; any way it can be unreadable (not UTF-8, not JSON, nested too deeply
    for Python's parser, a directory) is a TokenizerError naming the file."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except RecursionError:
        raise TokenizerError(f"{path} is nested too deeply to be read") from None
    except UnicodeDecodeError as e:
        raise TokenizerError(f"{path} is not UTF-8 text: {e.reason}") from None
    except ValueError as e:
        raise TokenizerError(f"{path} is not valid JSON: {e}") from None
    except OSError as e:
        raise TokenizerError(f"{path} cannot be read: {e.strerror}") from None


def read_json_object(path):
    data = read_json(path)
    if not isinstance(data, dict):
        raise TokenizerError(f"{path} must hold a JSON object, not {type(data).__name__}")
    return data


def read_settings(fetch):
    """The constructor keywords the files of a tokenizer give; `fetch(name)` is the local path of a file or None.
    The vocabulary comes as `vocab` (from tokenizer.json, which transformers v5 prefers) or `vocab_file`."""
    settings = {}
    path = fetch(TOKENIZER_CONFIG_FILE)
    config = read_json_object(path) if path is not None else {}
    path = fetch(SPECIAL_TOKENS_MAP_FILE)
    if path is not None:  # older files: used where tokenizer_config.json says nothing
        for key, value in read_json_object(path).items():
            if key in (*SPECIAL_TOKENS_ATTRIBUTES, *EXTRA_KEYS) and config.get(key) is None:
                config[key] = value
    for key in SETTINGS:
        value = config.get(key)
        if value is not None or (key == "strip_accents" and key in config):
            settings[key] = value
    if isinstance(settings.get("model_max_length"), float):
        settings["model_max_length"] = _max_length_from_float(settings["model_max_length"])
    for key in SPECIAL_TOKENS_ATTRIBUTES:
        value = config.get(key)
        if value is not None:
            settings[key] = AddedToken.of(value, special=True) if isinstance(value, dict) else value
    extra = next((config[key] for key in EXTRA_KEYS if config.get(key) is not None), None)
    if extra is not None:
        if not isinstance(extra, list):
            raise TokenizerError(f"{TOKENIZER_CONFIG_FILE}: extra_special_tokens must be a list (named extra "
                                 "tokens, a dict, are not supported)")
        settings["extra_special_tokens"] = [AddedToken.of(t) if isinstance(t, dict) else t for t in extra]

    added = {}
    path = fetch(ADDED_TOKENS_FILE)
    if path is not None:  # {content: id}, transformers' oldest format
        for content, index in read_json_object(path).items():
            if isinstance(index, bool) or not isinstance(index, int):
                raise TokenizerError(f"{path}: the id of {content!r:.40} must be an int, got {index!r:.40}")
            added[index] = {"content": content, "normalized": True}
    path = fetch(TOKENIZER_FILE)
    if path is not None:
        data = read_json_object(path)
        settings["vocab"] = vocab_of(data, path)
        for entry in _list_of_dicts(data.get("added_tokens") or [], path, "added_tokens"):
            entry = dict(entry)
            index = entry.pop("id", None)
            if isinstance(index, bool) or not isinstance(index, int):
                raise TokenizerError(f"{path}: each of added_tokens needs an int id, got {index!r:.40}")
            added[index] = entry
    else:
        path = fetch(VOCAB_FILE)
        if path is not None:
            settings["vocab_file"] = path
    saved = config.get("added_tokens_decoder")
    if saved is not None:
        if not isinstance(saved, dict):
            raise TokenizerError(f"{TOKENIZER_CONFIG_FILE}: added_tokens_decoder must be a JSON object")
        added.update(saved)
    if added:
        settings["added_tokens_decoder"] = added
    return settings


def vocab_of(data, path):
    """The `model.vocab` map of a tokenizer.json's content."""
    model = data.get("model")
    vocab = model.get("vocab") if isinstance(model, dict) else None
    if not isinstance(vocab, dict):
        raise TokenizerError(f"{path} is not a WordPiece tokenizer.json: it needs a model.vocab map of tokens to ids")
    return vocab


def _list_of_dicts(value, path, name):
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise TokenizerError(f"{path}: {name} must be a list of objects")
    return value


def _max_length_from_float(value):
    """A `model_max_length` saved as a JSON number with a fraction or exponent: integral values are that int,
    Infinity is "no limit" (transformers' VERY_LARGE_INTEGER, int(1e30)); NaN, -Infinity or 512.5 are refused."""
    if value == math.inf:
        return VERY_LARGE_INTEGER
    if not math.isfinite(value) or not value.is_integer():
        raise TokenizerError(f"{TOKENIZER_CONFIG_FILE}: model_max_length must be a whole number, got {value}")
    return int(value)


# ---- writing ----

def write_atomic(path, text):
    """Write `text` to `path` through a temporary file in the same folder, renamed over it when complete."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def tokenizer_config(tok):
    """The tokenizer_config.json content for `tok`: its settings, special tokens and added tokens."""
    config = {"tokenizer_class": "BertTokenizer", "do_lower_case": tok.do_lower_case,
              "strip_accents": tok.strip_accents, "tokenize_chinese_chars": tok.tokenize_chinese_chars,
              "model_max_length": tok.model_max_length, "padding_side": tok.padding_side,
              "truncation_side": tok.truncation_side,
              "clean_up_tokenization_spaces": tok.clean_up_tokenization_spaces,
              **tok.special_tokens_map,
              "added_tokens_decoder": {str(i): token.as_dict() for i, token in tok.added_tokens_decoder.items()}}
    if tok.extra_special_tokens:
        config["extra_special_tokens"] = tok.extra_special_tokens
    return config
