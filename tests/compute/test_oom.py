"""The out-of-memory ladder (issue 17, item 1): real allocation failures, retries after the failed
attempt is released, only steps that change the pass, every frame once."""

from __future__ import annotations

import subprocess
import sys
import weakref

import pytest
import torch

from streamdeblur.compute.oom import PassPlan, is_oom, next_plan
from streamdeblur.stages import StageContext
from streamdeblur.stages.deblur import ModelStage

IMPOSSIBLE = 2**60  # bytes: more than any address space, so the CPU allocator refuses it for real


def real_allocation_failure() -> RuntimeError:
    try:
        torch.empty(IMPOSSIBLE, dtype=torch.uint8)
    except RuntimeError as exc:
        return exc
    raise AssertionError("a 1 EiB allocation succeeded")


def test_is_oom_recognises_the_cpu_allocators_failure():
    exc = real_allocation_failure()
    assert "DefaultCPUAllocator" in str(exc)
    assert is_oom(exc)
    assert is_oom(MemoryError())
    assert not is_oom(RuntimeError("Given groups=1, weight of size [8, 3, 3, 3], expected input to have 3 channels"))
    assert not is_oom(ValueError("out of memory"))


def _ladder(p: PassPlan, frames: int, h: int, w: int) -> list[str]:
    steps = []
    while (step := next_plan(p, min(frames, p.frames_per_call(frames)), h, w)) is not None:
        p, what = step
        steps.append(what)
    return steps


def _pass_size(p: PassPlan, frames: int, h: int, w: int) -> tuple[int, int, int]:
    """(frames per call, tiles per pass, tiles per frame): what a step must change."""
    f = p.frames_per_call(frames)
    per = p.tiles_per_frame(h, w)
    return f, (min(p.max_tiles, f * per) if per > 1 else f), per


@pytest.mark.parametrize("frames,h,w", [(1, 360, 640), (2, 360, 640), (4, 720, 1280), (1, 96, 128), (3, 1080, 1920)])
@pytest.mark.parametrize("tile", [None, 512, 256])
def test_every_step_changes_the_pass_and_the_ladder_ends(frames, h, w, tile):
    p = PassPlan(tile=tile, max_tiles=8)
    seen = [_pass_size(p, frames, h, w)]
    for _ in range(50):
        step = next_plan(p, p.frames_per_call(frames), h, w)
        if step is None:
            break
        p, _ = step
        size = _pass_size(p, frames, h, w)
        assert size != seen[-1], (p, size)
        seen.append(size)
    else:
        raise AssertionError("the ladder did not end")
    assert p.frames_per_call(frames) == 1
    assert p.tiles_per_frame(h, w) == 1 or p.max_tiles == 1


def test_whole_frames_skip_the_tile_halvings_that_change_nothing():
    p = PassPlan(tile=None, max_tiles=8)
    assert _ladder(p, 1, 360, 640) == ["512-px tiles", "1 tile(s) per pass", "256-px tiles", "128-px tiles"]
    # a frame that 512-px tiles would not cut goes straight to 256
    assert _ladder(p, 1, 256, 384)[0] == "256-px tiles"
    # two frames: fewer frames first, tiles per pass only once there are tiles
    assert _ladder(p, 2, 360, 640)[:2] == ["1 frame(s) per call", "512-px tiles"]


class Hungry(torch.nn.Module):
    """Holds scratch memory while it runs; above a pixel budget it asks the CPU allocator for more
    than exists, which fails for real (``DefaultCPUAllocator: can't allocate memory``)."""

    def __init__(self, budget: int) -> None:
        super().__init__()
        self.budget, self.calls, self.alive_at_call = budget, [], []
        self._scratch: list[weakref.ref] = []

    def forward(self, x):
        self.alive_at_call.append(sum(r() is not None for r in self._scratch))
        self.calls.append(tuple(x.shape))
        scratch = torch.empty_like(x)
        self._scratch.append(weakref.ref(scratch))
        if x.shape[0] * x.shape[-2] * x.shape[-1] > self.budget:
            torch.empty(IMPOSSIBLE, dtype=torch.uint8)
        return x * 0.5


def _stage(model, warnings, tile=None, max_tiles=8):
    stage = ModelStage.__new__(ModelStage)
    stage.options = ModelStage.Options(model="x", tile=tile or 0, overlap=8, max_tiles=max_tiles)
    stage.ctx = StageContext(warn=warnings.append)
    stage.model = model
    stage.passes = PassPlan(tile=tile, max_pixels=10**9, max_tiles=max_tiles, overlap=8, multiple=8)
    stage._configured_passes, stage._auto, stage._said = stage.passes, {}, set()
    return stage


def test_real_allocation_failure_falls_back_every_frame_once_and_releases_the_failed_pass():
    warnings: list[str] = []
    model = Hungry(budget=128 * 128)
    stage = _stage(model, warnings)
    x = torch.rand(3, 3, 256, 384)
    y = stage.infer(x)
    assert torch.allclose(y, x * 0.5, atol=1e-6)  # every frame, once, in order (tiles blend back exactly)
    assert warnings == [
        "out of memory: retrying with 1 frame(s) per call",
        "out of memory: retrying with 256-px tiles",
        "out of memory: retrying with 1 tile(s) per pass",
        "out of memory: retrying with 128-px tiles",
    ]
    assert model.calls[-1] == (1, 3, 128, 128)
    # each retry started after the failed attempt's tensors were gone (not from inside the except clause)
    assert model.alive_at_call == [0] * len(model.calls)
    # the smaller plan stays: the next batch goes straight to 128-px tiles, one at a time, no new warning
    model.calls.clear()
    assert torch.allclose(stage.infer(x[:1]), x[:1] * 0.5, atol=1e-6)
    assert set(model.calls) == {(1, 3, 128, 128)} and len(warnings) == 4
    # but not into the next run of the same stage (the Python API, a Ray worker and segments reuse
    # stages): the memory another pipeline held then may be free now, and tiles change the output
    stage.start_run()
    model.budget, model.calls = 10**9, []
    assert torch.allclose(stage.infer(x), x * 0.5, atol=1e-6)
    assert model.calls == [(3, 3, 256, 384)] and len(warnings) == 4


def test_nothing_smaller_left_is_one_clear_error():
    stage = _stage(Hungry(budget=1), [])
    with pytest.raises(
        RuntimeError, match=r"^out of memory even with 1 frame\(s\) per call, 128-px tiles, 1 tile\(s\) per pass: "
    ):
        stage.infer(torch.rand(1, 3, 256, 256))


def test_other_errors_are_not_retried():
    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("expected input to have 3 channels")

    warnings: list[str] = []
    with pytest.raises(RuntimeError, match="3 channels"):
        _stage(Broken(), warnings).infer(torch.rand(1, 3, 64, 64))
    assert warnings == []


def test_photos_of_ever_new_sizes_do_not_grow_the_process_by_the_pages_each_size_left():
    """``Deblurrer.image`` on twelve photos of twelve sizes (120×160 to 197×259), in a fresh process:
    glibc kept the heap pages each new size's pass freed, 477–629 MiB more after the twelve (1.3 GB
    over 100 sizes); trimming after a pass at a new size leaves ~100 MiB (oneDNN's per-size kernels)."""
    code = (
        "import numpy as np\n"
        "from streamdeblur.api import Deblurrer\n"
        "def rss():\n"
        "    return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20\n"
        "d = Deblurrer()\n"
        "rng = np.random.default_rng(0)\n"
        "d.image((rng.random((64, 64, 3)) * 255).astype(np.uint8))\n"
        "before = rss()\n"
        "for i in range(12):\n"
        "    d.image((rng.random((120 + 7 * i, 160 + 9 * i, 3)) * 255).astype(np.uint8))\n"
        "print(round(rss() - before))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    grown = int(done.stdout.split()[-1])
    assert grown < 250, f"{grown} MiB more after twelve photo sizes"
