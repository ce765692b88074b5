"""What stages see: ``Batch.original`` is the decoded input even after a stage works in place."""

from __future__ import annotations

import media
import numpy as np
import torch

from streamdeblur.compute.transfer import images_to_tensor
from streamdeblur.engine.pipeline import Pipeline
from streamdeblur.io.sinks import NullSink
from streamdeblur.io.sources import open_source
from streamdeblur.stages import Batch, Stage


class HalveInPlace(Stage):
    name = "test_halve_in_place"

    def __call__(self, batch: Batch) -> Batch:
        batch.images.mul_(0.5)
        return batch


class Record(Stage):
    name = "test_record"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[torch.Tensor, torch.Tensor, list[np.ndarray]]] = []

    def __call__(self, batch: Batch) -> Batch:
        self.seen.append((batch.images.clone(), batch.original.clone(), [f.image for f in batch.frames]))
        return batch


def test_original_survives_an_in_place_stage(tmp_path):
    clip = media.write_video(tmp_path / "in.mp4", frames=6, size=(64, 48))
    record = Record()
    result = Pipeline(open_source(str(clip)), [HalveInPlace(), record], NullSink(), batch=3).run()
    assert result.ok and result.progress.done == 6
    assert sum(len(frames) for _, _, frames in record.seen) == 6
    for images, original, frames in record.seen:
        decoded = images_to_tensor(frames, torch.device("cpu"))
        assert torch.equal(original, decoded)  # untouched by the in-place stage
        assert torch.allclose(images, decoded * 0.5)
        assert original.abs().sum() > 0
