"""Benchmarks behind ``streamdeblur bench``: speed and memory, measured, never asserted in tests.

Importing the package registers the benchmarks (``reports``) in the registry (``registry``); what
they measure (``benchmarks``, ``live``, ``temporal``) is imported when one runs.
"""

from __future__ import annotations

from . import reports  # noqa: F401  (registration)
from .registry import Report, bench_entry, list_benches, register_bench, run_benches

__all__ = ["Report", "bench_entry", "list_benches", "register_bench", "run_benches"]
