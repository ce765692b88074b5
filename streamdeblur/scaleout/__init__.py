"""Scale-out: a long video cut into segments processed independently (``plan``), run by a
registered executor (``registry``): here one after the other (``local``) or on Ray (``ray``).

Importing the package registers the executors; Ray itself is imported only when used.
"""

from __future__ import annotations

from . import local, ray  # noqa: F401  (registration)
from .registry import Executor, executor_class, list_executors, register_executor

__all__ = ["Executor", "executor_class", "list_executors", "register_executor"]
