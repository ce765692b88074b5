"""Benchmarks registered by name (timm style): ``@register_bench("scan")`` on a function that
measures and returns :class:`Report` tables; ``streamdeblur bench --what NAME`` runs one, ``all``
runs those registered with ``in_all=True``. Nothing here prints: the command renders the reports.

Example:
    >>> @register_bench("noop", help="does nothing")            # doctest: +SKIP
    ... def noop(args): return [Report("noop", ("measure", "value"), [("nothing", "0")])]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ..errors import UsageError


@dataclass
class Report:
    """One table of a benchmark's results: a title, column names, rows of strings; ``error`` (one line) and
    ``exit_code`` when part of the measurement failed (the table holds what was measured: the command
    prints it, then the error, and exits with the code)."""

    title: str
    columns: Sequence[str]
    rows: list[Sequence[str]]
    error: str | None = None
    exit_code: int = 0


@dataclass(frozen=True)
class BenchEntry:
    name: str
    fn: Callable[..., list[Report]]
    help: str
    in_all: bool


_BENCHES: dict[str, BenchEntry] = {}


def register_bench(name: str, *, help: str, in_all: bool = False) -> Callable:
    """Decorator: register ``fn(args) -> list[Report]`` as the benchmark ``name``.

    Args:
        name: what ``--what`` takes.
        help: one line for ``streamdeblur info``.
        in_all: part of ``--what all``.
    """

    def deco(fn: Callable[..., list[Report]]) -> Callable[..., list[Report]]:
        if name in _BENCHES or name == "all":
            raise ValueError(f"benchmark {name!r} is registered twice (or is reserved)")
        _BENCHES[name] = BenchEntry(name, fn, help, in_all)
        return fn

    return deco


def list_benches(in_all: bool = False) -> list[str]:
    """Registered benchmark names, in registration order (only those of ``all`` if ``in_all``)."""
    return [n for n, e in _BENCHES.items() if e.in_all or not in_all]


def bench_entry(name: str) -> BenchEntry:
    """The registered benchmark ``name``, or a one-line :class:`UsageError`."""
    try:
        return _BENCHES[name]
    except KeyError:
        raise UsageError(f"unknown benchmark {name!r}; available: all, {', '.join(_BENCHES)}") from None


def run_benches(what: str, args, before: Callable[[str], None] | None = None) -> Iterator[Report]:
    """Run ``what`` (a name, or ``all``), yielding each benchmark's reports as soon as it has measured
    them (``all`` gave nothing until its last benchmark ended, and nothing at all when one failed).

    Args:
        what: a benchmark's name, or ``all``.
        args: the command's arguments.
        before: hears each benchmark's name before it starts (the command's "measuring …" line).
    """
    names = list_benches(in_all=True) if what == "all" else [bench_entry(what).name]
    for n in names:
        if before is not None:
            before(n)
        yield from _BENCHES[n].fn(args)
