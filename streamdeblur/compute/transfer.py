"""Host ↔ device: decoded RGB arrays to a float tensor on the compute device and back.

On the CPU both directions are done in NumPy, one thread: the arrays are small, and a PyTorch
op here runs on the intra-op thread pool, whose workers have to be woken for each of the six
ops. While the decoder and encoder threads hold the cores (and once OpenCV has started its own
pool in the same process) each wake-up waits for a time slice: a 320×180 frame took 18 ms to
convert in an identity pipeline, against 1 ms here.

Example:
    >>> import numpy as np
    >>> t = images_to_tensor([np.zeros((4, 6, 3), np.uint8)], torch.device("cpu"))
    >>> tuple(t.shape), t.dtype
    ((1, 3, 4, 6), torch.float32)
    >>> tensor_to_images(t, np.uint8)[0].shape
    (4, 6, 3)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def images_to_tensor(images: Sequence[np.ndarray], device: torch.device) -> torch.Tensor:
    """``H×W×3`` uint8/uint16 RGB arrays → ``N×3×H×W`` float32 in [0, 1] on ``device`` (scaled there).

    Args:
        images: arrays of one size and dtype.
        device: where the tensor goes (pinned and copied asynchronously to CUDA).

    Returns:
        The batch, ``N×3×H×W`` float32.
    """
    arr = np.stack(images)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"images_to_tensor expects H×W×3 arrays, got {arr.shape[1:]}")
    scale = 65535.0 if arr.dtype == np.uint16 else 255.0
    if device.type == "cpu":  # N×H×W×3 float32, seen as N×3×H×W (channels-last strides, as before)
        return torch.from_numpy(np.divide(arr, np.float32(scale), dtype=np.float32)).permute(0, 3, 1, 2)
    t = torch.from_numpy(arr.astype(np.int32) if arr.dtype == np.uint16 else arr)
    if device.type == "cuda":
        t = t.pin_memory().to(device, non_blocking=True)
    return t.permute(0, 3, 1, 2).float().div_(scale)


def tensor_to_images(t: torch.Tensor, like: np.dtype) -> list[np.ndarray]:
    """``N×3×H×W`` in [0, 1] → list of ``H×W×3`` arrays of dtype ``like`` (uint8/uint16), quantised on the device.

    Args:
        t: the batch.
        like: the dtype of the decoded input (the output keeps its bit depth).

    Returns:
        One array per frame.
    """
    if t.device.type == "cpu":
        top = 65535.0 if like == np.uint16 else 255.0
        a = t.detach().permute(0, 2, 3, 1).float().numpy()
        q = np.clip(a * np.float32(top), 0, top)
        np.rint(q, out=q)
        return list(q.astype(np.uint16 if like == np.uint16 else np.uint8))
    if like == np.uint16:
        q = t.clamp(0, 1).mul(65535).round_().to(torch.int32).permute(0, 2, 3, 1).cpu().numpy().astype(np.uint16)
    else:
        q = t.clamp(0, 1).mul(255).round_().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return list(q)
