"""Host ↔ device conversions: exact round trips, the same numbers as PyTorch's own ops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from streamdeblur.compute.transfer import images_to_tensor, tensor_to_images


@pytest.mark.parametrize("dtype,top", [(np.uint8, 255), (np.uint16, 65535)])
def test_round_trip_is_exact_and_scaled_as_pytorch_scales(dtype, top):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, top + 1, (37, 53, 3)).astype(dtype) for _ in range(2)]
    t = images_to_tensor(images, torch.device("cpu"))
    assert t.shape == (2, 3, 37, 53) and t.dtype == torch.float32
    expect = torch.from_numpy(np.stack(images).astype(np.int64)).permute(0, 3, 1, 2).float().div_(top)
    assert torch.equal(t, expect)  # bit for bit what the pipeline's models were measured with
    back = tensor_to_images(t, np.dtype(dtype))
    assert all(b.dtype == dtype and np.array_equal(b, i) for b, i in zip(back, images))


def test_out_of_range_values_are_clamped_and_rounded():
    t = torch.tensor([-0.5, 0.0, 0.4 / 255, 0.6 / 255, 127.5 / 255, 1.0, 1.7]).view(1, 1, 1, 7).expand(1, 3, 1, 7)
    (img,) = tensor_to_images(t, np.dtype(np.uint8))
    assert img[0, :, 0].tolist() == [0, 0, 0, 1, 128, 255, 255]
