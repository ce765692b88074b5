"""Bootstrap intervals over images (not crops)."""

from __future__ import annotations

import numpy as np
import pytest

from streamdeblur.train.metrics import bootstrap_ci


def test_bootstrap_over_images_is_wider_than_over_crops_when_crops_of_an_image_agree():
    rng = np.random.default_rng(1)
    image_effect = rng.normal(0, 1.0, 7)  # 7 photographs, 8 crops each that mostly share their image's value
    values = np.repeat(image_effect, 8) + rng.normal(0, 0.1, 56)
    by_image = bootstrap_ci(values, [f"img{i}" for i in np.repeat(np.arange(7), 8)])
    by_crop = bootstrap_ci(values, [f"crop{i}" for i in range(56)])
    assert by_image[0] <= values.mean() <= by_image[1]
    assert (by_image[1] - by_image[0]) > 2 * (by_crop[1] - by_crop[0])
    assert bootstrap_ci(values, [f"img{i}" for i in np.repeat(np.arange(7), 8)]) == by_image  # reproducible


def test_bootstrap_needs_one_group_per_value():
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], ["a"])
