"""Pipeline stages, registered by name (``list_stages()``): identity, unsharp, deblur, defocus,
kernel_overlay, compare. Importing this package registers them; nothing is discovered by scanning."""

from __future__ import annotations

from . import basic, compare, deblur, kernel_overlay, temporal  # noqa: F401  (registration)
from .base import Batch, Stage, StageContext, create_stage, list_stages, register_stage, stage_class

__all__ = ["Batch", "Stage", "StageContext", "create_stage", "list_stages", "register_stage", "stage_class"]
