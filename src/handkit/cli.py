"""`handkit <verb>`: one thin module per verb in `handkit/commands/` (style rule R10).

A verb module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`, and
calls an importable library function that does the work. A user error (`ValueError`, or an
`OSError`: a missing, existing, unwritable or read-only path, a folder given as a file) exits
with status 2 and a one-line message naming it, no traceback (`handkit --debug VERB` shows it).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
import warnings

import handkit
import handkit.commands

__all__ = ["main", "build_parser"]


def _verbs() -> dict[str, object]:
    names = sorted(m.name for m in pkgutil.iter_modules(handkit.commands.__path__)
                   if not m.name.startswith("_"))
    # A module `export_encoder.py` is the verb `export-encoder`.
    return {name.replace("_", "-"): importlib.import_module(f"handkit.commands.{name}")
            for name in names}


class _HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already says it or there is
    none to say (None, False, an empty list)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (not action.option_strings or "default" in text or default is argparse.SUPPRESS
                or default is None or default is False or default == []):
            return text
        return f"{text} (default %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="handkit", description=handkit.__doc__)
    parser.add_argument("--version", action="version", version=f"handkit {handkit.__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of a user error (bad input, paths)")
    parser.add_argument("--verbose", action="store_true",
                        help="show Lightning's banners, tips and advisory warnings")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name, module in _verbs().items():
        verb = sub.add_parser(name, help=module.HELP, description=module.HELP,
                              formatter_class=_HelpFormatter)
        module.add_arguments(verb)
        verb.set_defaults(_run=module.run)
    return parser


def _quiet_lightning() -> None:
    """Lightning's start-up banner (GPU/TPU available), tips and advisory warnings (a small
    epoch vs the logging interval, few loader workers) say nothing a handkit user must act on."""
    # Lightning resets its package loggers to INFO when imported; the modules' own loggers
    # keep the level set here.
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
                 "lightning.pytorch.accelerators.cuda", "lightning.fabric.utilities.seed"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module=r"lightning\..*")
    warnings.filterwarnings("ignore", message=r".*(isinstance\(treespec, LeafSpec\)|"
                            r"litlogger|does not have many workers|DataLoader will create).*")


def _one_line(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    if isinstance(err, OSError) and err.filename and str(err.filename) not in text:
        text = f"{err.filename}: {text}"
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    # Nothing in handkit downloads: make any hub client fail fast instead of waiting.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    if not args.verbose:
        _quiet_lightning()
    try:
        return int(args._run(args) or 0)
    except (ValueError, OSError) as err:
        # OSError: missing, existing, unwritable or read-only paths, folders given as files.
        if args.debug:
            raise
        print(f"handkit {args.verb}: error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"handkit {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
