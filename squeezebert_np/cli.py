"""What the command-line tools share: the model options, loading (cached per process), and one-line errors.

A command never shows a traceback for a problem the user can fix: our own errors and OS errors (files, network)
become one line on stderr and exit status 1; argparse's usage errors exit with 2.
"""
import argparse
import contextlib
import functools
import os
import sys

from .errors import InvalidInputError, SqueezeBertError

DEFAULT_MLM_MODEL = "squeezebert/squeezebert-uncased"
DEFAULT_NLI_MODEL = "squeezebert/squeezebert-mnli"


def add_model_options(parser, default_model):
    parser.add_argument("--model", default=default_model,
                        help=f"hub repo id or local directory (default: {default_model})")
    parser.add_argument("--revision", default=None, help="branch, tag, commit or refs/pr/N (default: main)")
    parser.add_argument("--cache-dir", default=None, help="Hugging Face cache (default: $HF_HUB_CACHE or "
                                                          "~/.cache/huggingface/hub)")
    parser.add_argument("--offline", action="store_true", help="use only files already in the cache")
    add_token_option(parser)
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def add_token_option(parser):
    parser.add_argument("--token", metavar="T", help="hub access token for private or gated repos "
                                                     "(default: HF_TOKEN, else the `hf auth login` token)")


@functools.lru_cache(maxsize=4)
def load(model_class, tokenizer_class, model, revision=None, cache_dir=None, local_files_only=False, token=None):
    """(model, tokenizer) for a repo id or directory, loaded once per process."""
    where = dict(revision=revision, cache_dir=cache_dir, local_files_only=local_files_only, token=token)
    tokenizer = tokenizer_class.from_pretrained(model, **where)
    return model_class.from_pretrained(model, **where), tokenizer


def run(main_function, argv=None):
    """Run a command's main, turning expected errors into one line on stderr and exit status 1.

    A closed stdout (`>&-`) is an error too: the result would be lost (Python sets sys.stdout to None and print
    silently does nothing), so it is refused before any work; a failing final flush is reported, not ignored."""
    try:
        if sys.stdout is None:
            raise OSError("stdout is closed: there is nowhere to write the result")
        main_function(argv)
        sys.stdout.flush()
    except BrokenPipeError:                      # e.g. `... | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except UnicodeEncodeError as e:              # e.g. PYTHONIOENCODING=ascii and a non-ASCII result
        fail(f"the result cannot be written in the output's encoding ({e.encoding}): set PYTHONIOENCODING=utf-8, "
             "or use --json (ASCII only)")
    except UnicodeDecodeError as e:              # texts on stdin that are not in its encoding
        fail(f"the input is not valid {e.encoding} text (byte 0x{e.object[e.start]:02x} at position {e.start})")
    except (SqueezeBertError, OSError) as e:
        fail(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
    except KeyboardInterrupt:
        sys.exit(130)


def fail(message):
    """One line on stderr (whatever its encoding can show), exit status 1."""
    if sys.stderr is not None:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(f"error: {message}\n".encode(sys.stderr.encoding or "utf-8", "backslashreplace")
                             .decode(sys.stderr.encoding or "utf-8", "replace"))
            sys.stderr.flush()
    sys.exit(1)


def check_text(value, what):
    """`value` (a command-line text) if it decoded cleanly. Bytes that were not valid in the locale's encoding
    arrive as lone surrogates (U+DC80..U+DCFF, Python's surrogateescape): refuse them, naming byte and position."""
    bad = next((i for i, c in enumerate(value) if "\udc80" <= c <= "\udcff"), None)
    if bad is not None:
        raise InvalidInputError(f"{what} is not valid {sys.getfilesystemencoding()} text (the byte "
                                f"0x{ord(value[bad]) - 0xDC00:02x} at position {bad}): pass UTF-8 text")
    return value


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    pass
