"""What the command-line tools share: the model options, loading (cached per process), and one-line errors.

A command never shows a traceback for a problem the user can fix: our own errors and OS errors (files, network)
become one line on stderr and exit status 1; argparse's usage errors exit with 2.
"""
import argparse
import functools
import os
import sys

from .errors import SqueezeBertError

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
    """Run a command's main, turning expected errors into one line on stderr and exit status 1."""
    try:
        main_function(argv)
    except BrokenPipeError:                      # e.g. `... | head`: the reader left, nothing to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except (SqueezeBertError, OSError) as e:
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"error: {message}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    pass
