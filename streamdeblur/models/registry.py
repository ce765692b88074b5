"""Model registry: ``@register_model`` entry points, ``list_models()`` and ``create_model()``.

Nothing is discovered by scanning folders: a model exists once the module that defines its entry
point has been imported, and :mod:`streamdeblur.models` imports them all explicitly.

Example:
    >>> from streamdeblur.models import create_model, list_models
    >>> "deeprftv2-t" in list_models()
    True
    >>> net = create_model("deeprftv2-t")            # random initialisation
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from ..errors import UnknownNameError


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about a model entry point."""

    name: str
    task: str  #: ``motion`` or ``defocus``
    description: str
    builder: Callable[[], nn.Module]
    default_weights: str | None  #: file name inside ``streamdeblur/weights`` or None
    multiple: int = 8  #: input sides must be multiples of this


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(
    name: str, *, task: str = "motion", description: str = "", default_weights: str | None = None, multiple: int = 8
) -> Callable[[Callable[[], nn.Module]], Callable[[], nn.Module]]:
    """Decorator registering a zero-argument builder under ``name``."""

    def wrap(fn: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelInfo(
            name, task, description or (fn.__doc__ or "").strip().split("\n")[0], fn, default_weights, multiple
        )
        return fn

    return wrap


def list_models(pattern: str = "*", task: str | None = None) -> list[str]:
    """Registered model names matching a shell-style ``pattern`` (and ``task`` if given)."""
    return sorted(n for n, m in _REGISTRY.items() if fnmatch.fnmatch(n, pattern) and (task is None or m.task == task))


def model_info(name: str) -> ModelInfo:
    """Registry entry of ``name``; unknown names raise ``KeyError`` listing the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError(f"unknown model {name!r}; available: {', '.join(list_models())}") from None


def bundled_weights_path(filename: str) -> Path:
    """Path of a weight file shipped inside the package (``streamdeblur/weights``)."""
    return Path(str(resources.files("streamdeblur.weights").joinpath(filename)))


def create_model(name: str, weights: str | Path | None = None, device: str | torch.device = "cpu") -> nn.Module:
    """Build a registered model and load weights.

    Args:
        name: a name from :func:`list_models`.
        weights: ``None`` for random initialisation, ``"default"`` for the weights shipped in the
            package (an error if the model ships none), or a checkpoint path (see
            :func:`streamdeblur.models.weights.load_weights`).
        device: where to put the model.

    Returns:
        The model in eval mode.
    """
    from .weights import WeightsError, load_weights

    info = model_info(name)
    model = info.builder()
    if weights == "default":
        if not info.default_weights:
            raise WeightsError(f"model {name!r} ships no trained weights; pass a checkpoint with --weights")
        weights = bundled_weights_path(info.default_weights)
    if weights is not None:
        try:
            load_weights(model, weights)
        except WeightsError as exc:
            raise WeightsError(f"{exc}{_other_model_hint(weights, name)}") from None
    return model.to(device).eval()


def _other_model_hint(weights: str | Path, name: str) -> str:
    """``; these weights are for deeprftv2-s: add --model deeprftv2-s`` when the checkpoint's meta names
    another registered model (a user's exported ``-s`` weights given to the default ``-t`` stage said
    only how many keys did not fit); '' otherwise."""
    from .weights import WeightsError, read_checkpoint

    if not isinstance(weights, (str, Path)):
        return ""
    try:
        meta = read_checkpoint(weights).get("meta")
    except WeightsError:
        return ""
    other = meta.get("model") if isinstance(meta, dict) else None
    if isinstance(other, str) and other != name and other in list_models():
        task = model_info(other).task
        if task != model_info(name).task:  # --model there would run a motion model inside the defocus stage
            return f"; these weights are for {other}, a {task} model: use --pipeline {task}"  # the shipped pipelines
        return f"; these weights are for {other}: add --model {other}"
    return ""
