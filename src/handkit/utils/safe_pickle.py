"""Read a pickle without running it: a restricted unpickler with an explicit allow-list.

A pickle is a program: every global it names (a class, a function such as ``os.system``) is
imported and called while it loads. handkit reads third-party pickles (HO3D meta files, the
user's MANO model) only through `load_pickle`, which resolves a global **only** if the caller
listed it, and then to whatever object the caller mapped it to (the real numpy function, or a
harmless stand-in class for a library handkit does not install, such as chumpy). Any other
global is refused before anything is imported or called, with an error naming it.

Python-2 pickles (MANO, HO3D) are read with ``encoding="latin1"``, and the module names numpy
1.x and Python 2 wrote (``numpy.core.multiarray``, ``__builtin__``, ``copy_reg``) are read as
today's (``numpy._core.multiarray``, ``builtins``, ``copyreg``) before the allow-list is looked
up, so an allow-list only names today's modules.
"""

from __future__ import annotations

import importlib
import io
import pickle
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = ["ARRAY_GLOBALS", "PickleReadError", "load_pickle"]


class PickleReadError(ValueError):
    """A pickle that cannot be read safely: "<file>: <what>: unreadable pickle (<reason>)"."""


_MODULE_ALIASES = {
    "numpy.core.multiarray": "numpy._core.multiarray",
    "numpy.core.numeric": "numpy._core.numeric",
    "numpy.core": "numpy._core",
    "__builtin__": "builtins",
    "copy_reg": "copyreg",
}


def _resolve(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


_DATA_GLOBALS = (
    ("numpy._core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"), ("numpy", "ndarray"), ("numpy", "dtype"),
    ("collections", "OrderedDict"), ("builtins", "set"), ("builtins", "frozenset"),
    ("builtins", "complex"),
    ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
)
ARRAY_GLOBALS: Mapping[tuple[str, str], Any] = MappingProxyType(
    {key: _resolve(*key) for key in _DATA_GLOBALS})
"""numpy arrays, dtypes and scalars and builtin containers, mapped to the real objects: the
allow-list of a pickle that should hold data only. Extend it with ``{**ARRAY_GLOBALS, ...}``."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedReader, allowed: Mapping[tuple[str, str], Any]):
        super().__init__(file, encoding="latin1")
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        module = _MODULE_ALIASES.get(module, module)
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing global {module}.{name}: not in the "
                                         "allow-list; nothing was run") from None


def load_pickle(path: str | Path, *, what: str,
                allowed: Mapping[tuple[str, str], Any] = ARRAY_GLOBALS) -> Any:
    """Load a pickle that may only reference the globals in `allowed`.

    Args:
        path: the pickle file.
        what: what the file holds, for messages (``"HO3D meta"``, ``"MANO model"``).
        allowed: ``{(module, name): object}``: the object the unpickler uses wherever the pickle
            names ``module.name`` (the real function or class, or a stand-in). Module names are
            today's (see the module doc). Default: `ARRAY_GLOBALS`.

    Returns:
        The unpickled object.

    Raises:
        FileNotFoundError: "<file>: missing (<what>)."
        PickleReadError: "<file>: <what>: unreadable pickle (refusing global posix.system: ...)"
            for a global outside `allowed`, a truncated or corrupt file, or a stand-in that
            rejects its state.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing ({what}).")
    try:
        with open(path, "rb") as f:
            return _RestrictedUnpickler(io.BufferedReader(f), allowed).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            ImportError, IndexError, KeyError) as err:
        raise PickleReadError(f"{path}: {what}: unreadable pickle ({err}).") from None
