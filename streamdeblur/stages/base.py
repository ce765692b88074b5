"""Stage registry and the :class:`Batch` that stages pass along.

A stage is a class registered by name with ``@register_stage("name")``. It declares typed
options (a dataclass ``Options``; YAML keys must be its fields), whether it needs a model and a
device, and which side outputs it ``requires`` from earlier stages (the pipeline asks the
producing stage for them). ``__call__(batch) -> batch`` does the work.

Example:
    >>> @register_stage("invert")
    ... class Invert(Stage):
    ...     \"\"\"Negative image.\"\"\"
    ...     def __call__(self, batch):
    ...         batch.images = 1 - batch.images
    ...         return batch
    >>> "invert" in list_stages()
    True
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from ..io.frames import Frame
from ..models.registry import UnknownNameError


@dataclass
class Batch:
    """N frames as one tensor plus their metadata.

    Attributes:
        images: ``N×3×H×W`` float32 in [0, 1] on the stage device (the current picture).
        frames: per-frame metadata, in order (their ``image`` arrays are the decoded originals).
        side: named side outputs added by stages (e.g. ``"kernels"``), read by later stages.
        original: ``N×3×H×W`` the decoded input, untouched (for before/after stages).
    """

    images: torch.Tensor
    frames: list[Frame]
    original: torch.Tensor
    side: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frames)


@dataclass
class StageContext:
    """What the pipeline gives a stage when building it."""

    device: torch.device = torch.device("cpu")
    warn: Callable[[str], None] = print
    provide: frozenset[str] = frozenset()  #: side outputs later stages require from this one
    bf16: bool = False  #: autocast compute in bfloat16 where the stage supports it
    say: Callable[[str], None] = lambda m: None  #: what a stage chose for the user (one line each)


class Stage:
    """Base class; subclasses define ``Options`` and ``__call__``."""

    name: ClassVar[str] = ""
    needs_model: ClassVar[bool] = False
    provides: ClassVar[frozenset[str]] = frozenset()  #: side outputs it can produce
    requires: ClassVar[frozenset[str]] = frozenset()  #: side outputs it reads
    once: ClassVar[bool] = False  #: at most one in a pipeline (a second compare compared the first's view)

    @dataclass
    class Options:
        pass

    def __init__(self, options: Options | None = None, ctx: StageContext | None = None) -> None:
        self.options = options or self.Options()
        self.ctx = ctx or StageContext()

    def __call__(self, batch: Batch) -> Batch:
        raise NotImplementedError

    def start_run(self) -> None:
        """A run is starting (a stage is built once and may serve many runs: the Python API, a Ray
        worker, the segments of a file). Forget what an earlier run chose from its own conditions
        (an out-of-memory fallback, a timed scale): each run starts from the configured options."""

    def close(self) -> None:
        """Release resources (models, windows)."""

    def describe(self) -> str:
        opts = ", ".join(f"{f.name}={getattr(self.options, f.name)!r}" for f in dataclasses.fields(self.options))
        return f"{self.name}({opts})"


_STAGES: dict[str, type[Stage]] = {}


def register_stage(name: str) -> Callable[[type[Stage]], type[Stage]]:
    """Class decorator registering a :class:`Stage` under ``name`` (the YAML name)."""

    def wrap(cls: type[Stage]) -> type[Stage]:
        if name in _STAGES:
            raise ValueError(f"stage {name!r} is registered twice")
        cls.name = name
        _STAGES[name] = cls
        return cls

    return wrap


def list_stages(pattern: str = "*") -> list[str]:
    """Registered stage names matching a shell-style pattern."""
    return sorted(n for n in _STAGES if fnmatch.fnmatch(n, pattern))


def stage_class(name: str) -> type[Stage]:
    try:
        return _STAGES[name]
    except KeyError:
        raise UnknownNameError(f"unknown stage {name!r}; available: {', '.join(list_stages())}") from None


def create_stage(name: str, options: dict | None = None, ctx: StageContext | None = None) -> Stage:
    """Build a registered stage from a dict of options (validated by :mod:`streamdeblur.engine.config`)."""
    cls = stage_class(name)
    return cls(cls.Options(**(options or {})), ctx)
