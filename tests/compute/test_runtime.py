"""Compute policy: explicit batch/bf16 settings win; auto picks by device and CPU features."""

from __future__ import annotations

import pytest
import torch

from streamdeblur.compute import runtime
from streamdeblur.engine.config import parse_pipeline


@pytest.mark.parametrize("amx,avx512_bf16,expected", [(True, False, True), (False, True, True), (False, False, False)])
def test_auto_bf16_on_cpu_follows_native_bf16_support(monkeypatch, amx, avx512_bf16, expected):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16, raising=False)
    cpu = torch.device("cpu")
    assert runtime.auto_bf16(cpu) is expected
    assert runtime.compute_policy(cpu, 0, None) == (1, expected)


def test_explicit_settings_win(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    cpu = torch.device("cpu")
    assert runtime.compute_policy(cpu, 3, False) == (3, False)
    assert runtime.compute_policy(cpu, 0, True) == (1, True)


def test_pipeline_yaml_auto_and_explicit():
    cfg = parse_pipeline("stages: [identity]\n")
    assert (cfg.batch, cfg.bf16) == (0, None)
    cfg = parse_pipeline("batch: 2\nbf16: false\nstages: [identity]\n")
    assert (cfg.batch, cfg.bf16) == (2, False)


def test_auto_batch_per_device():
    assert runtime.auto_batch(torch.device("cpu")) == 1
    assert runtime.auto_batch(torch.device("cuda", 0)) == 2


def test_cpu_pipeline_gives_the_codecs_one_thread_each(tmp_path):
    import media

    from streamdeblur.engine.build import Job, build
    from streamdeblur.engine.config import PipelineConfig, StageSpec

    clip = media.write_video(tmp_path / "in.mp4", frames=12, size=(160, 96))
    cfg = PipelineConfig(device="cpu", stages=[StageSpec("identity")])
    pipe = build(Job(str(clip), str(tmp_path / "out.mp4"), cfg), warn=lambda m: None)
    assert pipe.source.threads == 1
    assert pipe.sink.stream.codec_context.thread_count == 1
    result = pipe.run()
    assert result.error is None
    assert media.count_frames(tmp_path / "out.mp4") == 12
