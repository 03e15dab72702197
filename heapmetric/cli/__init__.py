"""The ``heapmetric`` command: wires one module per verb (``heapmetric/cli/<verb>.py``).

Each verb module exposes ``add_parser(subparsers)`` and ``run(args) -> int`` and imports nothing heavy at
module level, so ``heapmetric --help`` answers in about a second. Errors the user can fix
(:class:`~heapmetric.errors.HeapmetricError`) print one line and exit 2; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
from typing import Any

# verb -> module under heapmetric.cli, in the order --help lists them
VERBS: dict[str, str] = {
    "score": "score",
    "compare": "compare",
    "criteria": "criteria",
    "data": "data",
    "train": "train",
    "evaluate-model": "evaluate_model",
    "protocol": "protocol",
    "meta-eval": "meta_eval",
    "robustness": "robustness",
    "bench": "bench",
    "serve": "serve",
    "synth": "synth",
    "finetune": "finetune",
}


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every verb's sub-parser."""
    from heapmetric import __version__

    parser = argparse.ArgumentParser(
        prog="heapmetric",
        description="Learned NLG evaluation: score outputs, train metrics, meta-evaluate, benchmark, serve, "
        "synthesize data.",
    )
    parser.add_argument("--version", action="version", version=f"heapmetric {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for module_name in VERBS.values():
        module = importlib.import_module(f"heapmetric.cli.{module_name}")
        module.add_parser(sub)
    return parser


def add_common(parser: argparse.ArgumentParser) -> None:
    """``--quiet`` and ``--debug``, which every verb accepts."""
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or summaries on stderr")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")


def count_type(minimum: int = 0) -> Any:
    """An argparse ``type`` for a count flag: an integer ``>= minimum``, else argparse's one-line error (exit 2).
    Every count flag (``--limit``, ``--batch-size``, resamples ...) uses one, so ``--limit -1`` never means
    "all but the last"."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = "count"
    return parse


def _stdout_gone() -> None:
    """The reader of stdout went away (``heapmetric criteria | head -1``): send what is still buffered to
    /dev/null so that the interpreter's last flush does not raise again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``heapmetric`` console script."""
    from heapmetric.errors import HeapmetricError

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    quiet, debug = getattr(args, "quiet", False), getattr(args, "debug", False)
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    if not debug:  # httpx logs one INFO line per request (openai: judges, --server): noise on stderr
        for name in ("httpx", "httpcore"):
            logging.getLogger(name).setLevel(logging.WARNING)
    saved_env = _silence_progress_bars() if quiet else None
    try:
        return int(args.func(args) or 0)
    except HeapmetricError as exc:
        if debug:
            raise
        print(f"heapmetric {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # like other Unix filters: a closed pipe downstream is not an error
        if debug:
            raise
        _stdout_gone()
        return 0
    finally:
        if saved_env is not None:
            for key, value in saved_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


PROGRESS_ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": "1"}
"""Read by huggingface_hub / transformers and tqdm when first imported: ``--quiet`` sets them before any
model code loads, so every bar (transformers' "Loading weights", GGUF, hub downloads, ours) stays off."""


def _silence_progress_bars() -> dict[str, str | None]:
    """For ``--quiet``: turn progress bars off without importing anything heavy; return the old env values.

    Libraries imported earlier in this process (only in tests or embedding code) are switched off directly."""
    saved = {key: os.environ.get(key) for key in PROGRESS_ENV}
    os.environ.update(PROGRESS_ENV)
    if "huggingface_hub" in sys.modules:
        with contextlib.suppress(Exception):
            from huggingface_hub.utils import disable_progress_bars

            disable_progress_bars()
    if "transformers" in sys.modules:
        with contextlib.suppress(Exception):
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
    return saved


if __name__ == "__main__":
    sys.exit(main())
