"""The orientation measure behind the README's FKE figure (issue 4) is itself correct."""

from __future__ import annotations

import pytest
import torch

from streamdeblur.train.blur import line_kernel
from streamdeblur.train.figures import angular_error, dominant_orientation


@pytest.mark.parametrize("angle", [0, 30, 45, 90, 120, 135, 170])
def test_dominant_orientation_of_line_kernels(angle):
    k = torch.from_numpy(line_kernel(33, angle, length=25)).float()
    assert angular_error(dominant_orientation(k), angle) <= 3.0


def test_angular_error_wraps_at_180():
    assert angular_error(175, 5) == pytest.approx(10)
    assert angular_error(0, 90) == pytest.approx(90)
