"""`python -m squeezebert_np.download REPO_ID`: fetch a hub repo into the Hugging Face cache, optionally convert it.

The files go where huggingface_hub puts them (hub.py), so transformers finds them too and later runs work offline
(HF_HUB_OFFLINE=1). stdout gets the snapshot folder, then, with --to, the converted checkpoint's folder (config.json,
model.safetensors, vocab.txt, ...); messages go to stderr. Errors are one line on stderr and exit status 1.
"""
import argparse
import os
import sys

from . import cli, hub

EXAMPLES = """\
examples:
  python -m squeezebert_np.download squeezebert/squeezebert-uncased
  python -m squeezebert_np.download squeezebert/squeezebert-mnli --to weights/squeezebert-mnli
  python -m squeezebert_np.download squeezebert/squeezebert-mnli --revision refs/pr/1 --quiet
  HF_HUB_CACHE=/data/hf python -m squeezebert_np.download squeezebert/squeezebert-mnli-headless

environment: HF_ENDPOINT (a mirror), HF_HUB_CACHE or HF_HOME (where the cache is), HF_TOKEN (instead of
--token), HF_HUB_OFFLINE=1 (cache only), HF_HUB_ETAG_TIMEOUT / HF_HUB_DOWNLOAD_TIMEOUT (seconds),
HF_HUB_DISABLE_PROGRESS_BARS=1.
"""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m squeezebert_np.download",
        description="Download a Hugging Face hub repository into the Hugging Face cache (the one huggingface_hub\n"
                    "and transformers use) and print where it is; with --to, also write a converted checkpoint.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("repo_id", metavar="REPO_ID", help="the repository, e.g. squeezebert/squeezebert-uncased")
    parser.add_argument("--revision", metavar="R", help="branch, tag, 40-hex commit or refs/pr/N (default: main)")
    parser.add_argument("--to", metavar="DIR", help="write a converted checkpoint (float32 safetensors, config, "
                                                    "tokenizer files) to this directory, e.g. weights/NAME")
    parser.add_argument("--cache-dir", metavar="D", help="cache folder (default: HF_HUB_CACHE, else "
                                                         "$HF_HOME/hub, else ~/.cache/huggingface/hub)")
    cli.add_token_option(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bars and no messages, only the paths")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    say = (lambda message: None) if args.quiet else (lambda message: print(message, file=sys.stderr))
    try:
        if sys.stdout is None:         # `>&-`: print would silently drop the paths
            raise OSError("stdout is closed: there is nowhere to write the snapshot's path")
        folder = hub.snapshot_download(args.repo_id, revision=args.revision, cache_dir=args.cache_dir,
                                       token=args.token, quiet=args.quiet)
        say(f"{args.repo_id} ({args.revision or 'main'}) is in the cache, at:")
        print(folder, flush=True)
        if args.to:
            from .convert import convert_checkpoint   # only --to needs the converter (and numpy)
            convert_checkpoint(folder, args.to)
            say("converted checkpoint written to:")
            print(os.path.abspath(args.to))
        sys.stdout.flush()
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError, ImportError) as error:
        if sys.stderr is not None:
            print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
