"""Benchmarks leave nothing behind: each run of `bench` left a folder of clips and outputs in /tmp (audit 10)."""

from __future__ import annotations

import pytest

from streamdeblur.bench.benchmarks import scratch_folder


def test_a_benchmarks_scratch_folder_is_removed_when_it_ends_or_fails():
    with scratch_folder("streamdeblur-bench-") as done:
        (done / "clip.mp4").write_bytes(b"x" * 1000)
        (done / "sub").mkdir()
    assert not done.exists()
    with pytest.raises(RuntimeError), scratch_folder("streamdeblur-bench-") as failed:
        (failed / "out.mp4").write_bytes(b"partial")
        raise RuntimeError("the pipeline failed")
    assert not failed.exists()
