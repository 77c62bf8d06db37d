"""`handkit <verb>`: one thin module per verb in `handkit/commands/` (style rule R10).

A verb module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`, and
calls an importable library function that does the work. A user error (`ValueError`,
`FileNotFoundError`, `FileExistsError`, a folder given as a file, an unwritable output) exits
with status 2 and a one-line message, no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

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
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name, module in _verbs().items():
        verb = sub.add_parser(name, help=module.HELP, description=module.HELP,
                              formatter_class=_HelpFormatter)
        module.add_arguments(verb)
        verb.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Nothing in handkit downloads: make any hub client fail fast instead of waiting.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError,
            IsADirectoryError, PermissionError) as err:
        print(f"handkit {args.verb}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"handkit {args.verb}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
