"""Loading and saving checkpoints — safely.

A checkpoint is untrusted input: it is read with ``torch.load(..., weights_only=True)``, which
unpickles only tensors and plain containers, so a file carrying code is refused instead of run
("refused: it would run code"), and a file that is not a ``torch.save`` file at all is named so
("not a PyTorch checkpoint"); neither message invites loading it unsafely.

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
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import SinkError, WeightsError, one_line

#: layouts a checkpoint's weights come wrapped in, the preferred first: the EMA weights of an official
#: (``params_ema``) or of this project's training checkpoint (``runs/NAME/last.pt``: ``ema`` beside the raw
#: ``model`` — ``--weights last.pt`` ran the raw weights, not the ones the trainer validates and exports)
_WRAPPERS = ("params_ema", "ema", "params", "state_dict", "model", "net_g")


#: How a legacy (pre-zip) ``torch.save`` file starts: a pickled long, torch's magic number.
_LEGACY_MAGIC = (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def is_torch_file(path: Path) -> bool:
    """True when ``path`` starts like a ``torch.save`` file: a zip archive, or the legacy pickle with torch's magic number."""
    with open(path, "rb") as f:
        head = f.read(14)
    if head.startswith(b"PK\x03\x04"):
        return True  # a zip (torch's format since 1.6); a damaged one is reported by torch.load below
    return len(head) == 14 and head[0] == 0x80 and head[2:4] == b"\x8a\x0a" and head[4:14] == _LEGACY_MAGIC


def asked_for(message: str) -> str | None:
    """The Python name a refused pickle asked for, from PyTorch's ``weights_only`` error (None: not said).

    PyTorch words it ``GLOBAL builtins.print`` since 2.4 and ``Unsupported class __builtin__.print`` in 2.3.

    Example:
        >>> asked_for("Unsupported global: GLOBAL builtins.print was not an allowed global by default.")
        'builtins.print'
        >>> asked_for("WeightsUnpickler error: Unsupported class __builtin__.print")
        'builtins.print'
    """
    found = re.search(r"(?:GLOBAL|Unsupported class) ([\w.]+)", message)
    return found.group(1).replace("__builtin__.", "builtins.", 1) if found else None


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint file safely (tensors and plain containers only).

    A file that is not a ``torch.save`` file at all is "not a PyTorch checkpoint"; one whose pickle
    asks for Python code (a class, a function) is "refused: it would run code" — it is never loaded
    with ``weights_only=False``, whatever the file's origin.

    Raises:
        WeightsError: missing, unreadable, truncated or code-carrying file.
    """
    if not str(path).strip():  # an unset variable: "weights file not found: ." named the current folder
        raise WeightsError("no weights file given (an empty name)")
    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"{path} is a folder, not a weights file")
    if not path.is_file():  # (a device or a pipe exists but is no file: "not found" was untrue of /dev/zero)
        raise WeightsError(f"{path} is not a regular file" if path.exists() else f"weights file not found: {path}")
    try:
        if not is_torch_file(path):
            raise WeightsError(f"{path} is not a PyTorch checkpoint (no torch.save data in it)")
    except OSError as exc:
        raise WeightsError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        wanted = asked_for(str(exc))
        what = f" (it asks for {wanted})" if wanted else ""
        raise WeightsError(f"{path} refused: it would run code{what}; only tensors and plain containers are loaded") from None
    except (zipfile.BadZipFile, EOFError, RuntimeError, ValueError, OSError) as exc:
        # PyTorch's first sentence ("… failed finding central directory"), not its paragraph on miniz and bug reports
        reason = one_line(exc).split(". ")[0].rstrip(".")
        raise WeightsError(f"cannot read {path}: not a PyTorch checkpoint as it is (truncated or damaged: {reason})") from None
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{path} holds a {type(obj).__name__}, not a dict of tensors")
    return dict(obj)


def extract_state_dict(obj: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Unwrap the known checkpoint layouts and strip ``module.`` prefixes."""
    if "opt" in obj and "model" in obj and "ema" not in obj:  # a compact resume state (train/state.py)
        raise WeightsError(
            "a training resume state (.state: raw weights and optimizer), not weights: give the weights file beside it"
        )
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
    try:
        sd = extract_state_dict(obj)
    except WeightsError as exc:  # "checkpoint holds no tensors" named no file
        raise WeightsError(f"{source}: {exc}" if isinstance(source, (str, Path)) else str(exc)) from None
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
    try:
        torch.save({"params": sd, "meta": dict(meta or {})}, tmp)
        tmp.replace(path)
    except (OSError, RuntimeError) as exc:  # "[enforce fail at inline_container.cc:747] . open file failed …"
        if tmp.parent.is_dir():
            tmp.unlink(missing_ok=True)
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).split("strerror: ")[-1].splitlines()[0]
        raise SinkError(f"cannot write {path}: {why}") from None
    return path
