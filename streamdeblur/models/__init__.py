"""Deblurring networks: DeepRFTv2 (motion) and FDIKP (defocus), behind a timm-like registry.

Example:
    >>> from streamdeblur.models import create_model, list_models
    >>> list_models("deeprftv2*")
    ['deeprftv2-b', 'deeprftv2-rt', 'deeprftv2-s', 'deeprftv2-t']
"""

from __future__ import annotations

from . import variants  # noqa: F401  (registers the entry points)
from .registry import (
    ModelInfo,
    UnknownNameError,
    bundled_weights_path,
    create_model,
    list_models,
    model_info,
    register_model,
)
from .weights import WeightsError, load_weights, save_weights

__all__ = [
    "ModelInfo",
    "UnknownNameError",
    "WeightsError",
    "bundled_weights_path",
    "create_model",
    "list_models",
    "load_weights",
    "model_info",
    "register_model",
    "save_weights",
]
