"""Training methods by name: `register_task`, `get_task`, `list_tasks` (`handkit train METHOD`).

A method's task module registers itself at import with its config dataclass and its run
function; `handkit.tasks` imports every method module, so the names are there once the package
is imported. Unknown names get a did-you-mean (`utils.registry.Registry`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handkit.utils.registry import Registry

__all__ = ["TaskSpec", "register_task", "get_task", "list_tasks"]


@dataclass(frozen=True)
class TaskSpec:
    """A registered training method.

    Attributes:
        name: the METHOD of `handkit train METHOD`, and the folder of its packaged configs
            (``handkit/configs/<name>/``).
        config: the experiment config dataclass (defaults = the method's default recipe).
        run: ``run(cfg, out_dir, resume=False) -> Path`` trains (resuming from
            ``out_dir/checkpoints/last.ckpt`` when `resume`) and returns the run's product (the
            last checkpoint, or the exported weights for pre-training).
        help: one line for `handkit train --help`.
    """

    name: str
    config: type
    run: Callable[..., Path]
    help: str = ""

    def __call__(self, cfg: Any, out_dir: str | Path, resume: bool = False) -> Path:
        if not isinstance(cfg, self.config):
            raise TypeError(f"{self.name}: expected a {self.config.__name__}, got "
                            f"{type(cfg).__name__}.")
        return Path(self.run(cfg, Path(out_dir), resume=resume))


_TASKS: Registry[Any] = Registry("task", "handkit.tasks.registry.list_tasks()")


def register_task(name: str, *, config: type, run: Callable[..., Path], help: str = "") -> TaskSpec:
    """Register a training method (call at the import of its task module).

    Raises:
        ValueError: `name` is already registered.
    """
    spec = TaskSpec(name, config, run, help)
    _TASKS.register(name)(spec)
    return spec


def get_task(name: str) -> TaskSpec:
    """The registered method `name` (ValueError with a did-you-mean otherwise)."""
    return _TASKS.builder(name)  # type: ignore[return-value]


def list_tasks() -> list[str]:
    """Sorted names of the registered training methods."""
    return _TASKS.names()
