"""Executors registered by name (timm style), like stages and models: ``@register_executor`` on a
class; ``--executor`` offers :func:`list_executors`, ``streamdeblur info`` shows each one's status.

An executor decides *where* segments run; all of them work on the same
:class:`~streamdeblur.scaleout.plan.SegmentPlan`, so a run started by one can be resumed by another.

Example:
    >>> list_executors()                                      # doctest: +SKIP
    ['local', 'ray']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from ..errors import ExecutorError


class Executor:
    """Base class of an executor: its name, one line about it, and whether it can run here."""

    name: ClassVar[str] = ""
    help: ClassVar[str] = ""
    #: hands all the files of a command to a cluster at once (one progress for all), instead of one by one
    whole_batch: ClassVar[bool] = False

    @classmethod
    def check(cls) -> None:
        """Raise :class:`ExecutorError` (one line) when this executor cannot run here."""

    @classmethod
    def status(cls) -> str:
        """``ready``, or why it cannot run (for ``streamdeblur info``)."""
        try:
            cls.check()
        except ExecutorError as exc:
            return str(exc)
        return "ready"


_EXECUTORS: dict[str, type[Executor]] = {}


def register_executor(name: str) -> Callable[[type[Executor]], type[Executor]]:
    """Class decorator: register an :class:`Executor` subclass under ``name``."""

    def deco(cls: type[Executor]) -> type[Executor]:
        if name in _EXECUTORS:
            raise ValueError(f"executor {name!r} is registered twice")
        cls.name = name
        _EXECUTORS[name] = cls
        return cls

    return deco


def list_executors() -> list[str]:
    """Registered executor names, in registration order."""
    return list(_EXECUTORS)


def executor_class(name: str) -> type[Executor]:
    """The executor registered as ``name``, or a one-line :class:`ExecutorError`."""
    try:
        return _EXECUTORS[name]
    except KeyError:
        raise ExecutorError(f"unknown executor {name!r}; available: {', '.join(_EXECUTORS)}") from None
