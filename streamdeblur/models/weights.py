"""Loading and saving checkpoints — safely.

A checkpoint is untrusted input: it is read with ``torch.load(..., weights_only=True)``, which
unpickles only tensors and plain containers, so a file carrying code is refused instead of run.

Accepted layouts (the official BasicSR format first):

* ``{"params": state_dict}``, ``{"params_ema": state_dict}`` (preferred when present),
* ``{"state_dict": state_dict}`` or ``{"model": state_dict}``,
* a raw ``state_dict``.

Keys may carry a ``module.`` prefix (``nn.DataParallel``); it is stripped. Loading is strict: a
mismatch names the first missing, unexpected and misshaped keys. Our own files are written by
:func:`save_weights` in fp16 with a small ``meta`` dict next to ``params``.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import WeightsError, one_line

_WRAPPERS = ("params_ema", "params", "state_dict", "model", "net_g")


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint file safely (tensors and plain containers only).

    Raises:
        WeightsError: missing, unreadable, truncated or code-carrying file.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise WeightsError(
            f"refused {path}: it holds Python objects beyond tensors (weights_only load failed: {one_line(exc)})"
        ) from None
    except (zipfile.BadZipFile, EOFError, RuntimeError, ValueError, OSError) as exc:
        raise WeightsError(f"cannot read {path} as a PyTorch checkpoint (truncated or not a checkpoint): {exc}") from None
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{path} holds a {type(obj).__name__}, not a dict of tensors")
    return dict(obj)


def extract_state_dict(obj: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Unwrap the known checkpoint layouts and strip ``module.`` prefixes."""
    for key in _WRAPPERS:
        if key in obj and isinstance(obj[key], Mapping):
            obj = obj[key]
            break
    sd: dict[str, torch.Tensor] = {}
    for k, v in obj.items():
        if not torch.is_tensor(v) or not isinstance(k, str):
            continue
        while k.startswith("module."):
            k = k[len("module.") :]
        sd[k] = v
    if not sd:
        raise WeightsError("checkpoint holds no tensors")
    return sd


def check_compatible(model: nn.Module, sd: Mapping[str, torch.Tensor]) -> None:
    """Raise :class:`WeightsError` naming the first missing, unexpected and misshaped keys."""
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    misshaped = [
        f"{k} {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}" for k in own if k in sd and sd[k].shape != own[k].shape
    ]
    if missing or unexpected or misshaped:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (first: {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (first: {unexpected[0]})")
        if misshaped:
            parts.append(f"{len(misshaped)} misshaped (first: {misshaped[0]})")
        raise WeightsError("checkpoint does not fit this architecture: " + "; ".join(parts))


def check_values(model: nn.Module, sd: Mapping[str, torch.Tensor]) -> None:
    """Raise :class:`WeightsError` for a tensor a floating-point parameter cannot take: another kind
    of number (integer, bool, complex — a cast would silently change it) or NaN/infinite values
    (every output would be garbage)."""
    own = model.state_dict()
    for k, v in sd.items():
        if not own[k].is_floating_point():
            continue
        if not v.is_floating_point():
            raise WeightsError(f"checkpoint tensor {k} holds {str(v.dtype).removeprefix('torch.')} values, not floating point")
        if not bool(torch.isfinite(v).all()):
            raise WeightsError(f"checkpoint tensor {k} holds NaN or infinite values")


def load_weights(model: nn.Module, source: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Load a checkpoint (path or already-read dict) into ``model``, strictly.

    Args:
        model: the network.
        source: checkpoint path, or a dict in one of the accepted layouts.

    Returns:
        The checkpoint's ``meta`` dict (empty when it has none).

    Raises:
        WeightsError: the file is unsafe, unreadable, does not fit the model, or holds non-float or non-finite values.
    """
    obj = read_checkpoint(source) if isinstance(source, (str, Path)) else dict(source)
    sd = extract_state_dict(obj)
    check_compatible(model, sd)
    check_values(model, sd)
    own = model.state_dict()
    with torch.no_grad():
        for k, v in sd.items():
            own[k].copy_(v.to(own[k].dtype))
    meta = obj.get("meta")
    return dict(meta) if isinstance(meta, Mapping) else {}


def save_weights(
    model: nn.Module | Mapping[str, torch.Tensor], path: str | Path, meta: Mapping[str, Any] | None = None, half: bool = True
) -> Path:
    """Write ``{"params": state_dict, "meta": meta}`` (fp16 floats by default), atomically."""
    sd = model.state_dict() if isinstance(model, nn.Module) else dict(model)
    sd = {k: (v.detach().half() if half and v.is_floating_point() else v.detach()).cpu().contiguous() for k, v in sd.items()}
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    torch.save({"params": sd, "meta": dict(meta or {})}, tmp)
    tmp.replace(path)
    return path
