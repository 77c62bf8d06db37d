"""A name → builder registry with did-you-mean errors (timm's idea, STYLE.md R7).

Backbones (`models.backbones`) and whole models (`models.registry`) are each one `Registry`.
A builder's keyword parameters are its options: an unknown option is an error listing the
accepted ones, never silently dropped or tunnelled into ``**kwargs``.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Builders by name.

    Args:
        kind: what is registered, for messages ("backbone", "model").
        lister: the public function that lists the names, for messages ("list_models()").
    """

    def __init__(self, kind: str, lister: str):
        self.kind, self.lister = kind, lister
        self._builders: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register ``builder(**options) -> T`` under `name`.

        Raises:
            ValueError: `name` is already registered.
        """
        def decorate(builder: Callable[..., T]) -> Callable[..., T]:
            if name in self._builders:
                raise ValueError(f"{self.kind} {name!r} is already registered; pick another "
                                 "name.")
            self._builders[name] = builder
            return builder
        return decorate

    def names(self, pattern: str | None = None) -> list[str]:
        """Sorted registered names, optionally filtered by a shell pattern (``"resnet*"``)."""
        names = sorted(self._builders)
        return names if pattern is None else [n for n in names if fnmatch.fnmatchcase(n, pattern)]

    def builder(self, name: str) -> Callable[..., T]:
        """The builder registered as `name` (ValueError with a did-you-mean otherwise)."""
        if name not in self._builders:
            close = difflib.get_close_matches(name, list(self._builders), n=1, cutoff=0.5)
            guess = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"name: unknown {self.kind} {name!r}.{guess} See {self.lister}: "
                             f"{self.names()}.")
        return self._builders[name]

    def options(self, name: str) -> list[str]:
        """The keyword options the builder of `name` accepts."""
        return list(inspect.signature(self.builder(name)).parameters)

    def build(self, name: str, **options: Any) -> T:
        """``builder(**options)``; an option the builder does not take is a ValueError."""
        builder = self.builder(name)
        accepted = self.options(name)
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ValueError(f"{name}: unknown option(s) {unknown}; accepted: {sorted(accepted)}.")
        return builder(**options)
