"""Every ``Example:`` in the package's docstrings runs as written: an example that no longer holds is a bug
(three had gone stale unseen: a model list without ``deeprftv2-rt``, a letterbox off by a row, a float
printed to its last bit)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import streamdeblur

MODULES = sorted(m.name for m in pkgutil.walk_packages(streamdeblur.__path__, "streamdeblur.") if not m.name.endswith("__main__"))


FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run_as_written(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=FLAGS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (printed above)"


def test_the_walk_reaches_the_examples():
    # a walk that found no module, or modules without their docstrings (python -OO), would pass the above
    finder = doctest.DocTestFinder()
    examples = sum(len(t.examples) for n in MODULES for t in finder.find(importlib.import_module(n)))  # counted, not run again
    assert examples >= 80, examples
