"""Dev set generator: deterministic, blur that varies frame to frame, lossless references, playable clips."""

from __future__ import annotations

import json

import cv2
import media
import numpy as np
import pytest

from streamdeblur.train.devset import ClipSpec, ShakeConfig, free_video_ranges, render_clip
from streamdeblur.train.video_metrics import psnr_frames, read_frames

#: Short calm stretches and bursts, so a 24-frame clip holds both (speeds are per 320 px of width: ×0.4 here).
SHAKE = ShakeConfig(calm_frames=(5, 7), burst_frames=(5, 7), burst_px=(30.0, 32.0))


@pytest.fixture
def photo(tmp_path):
    p = tmp_path / "photo.png"
    cv2.imwrite(str(p), media.pattern(3, 400, 300)[..., ::-1])
    return p


def _spec(photo, seed=7, kind="still", frames=24, **kw):
    return ClipSpec("c", kind, str(photo), (128, 96), frames, seed, shake=SHAKE, **kw)


def test_same_seed_same_clip_other_seed_other_clip(tmp_path, photo):
    a, b, c = (tmp_path / n for n in "abc")
    for d in (a, b, c):
        d.mkdir()
    ia = render_clip(_spec(photo), a)
    ib = render_clip(_spec(photo), b)
    ic = render_clip(_spec(photo, seed=8), c)
    assert ia["per_frame"] == ib["per_frame"] and ia["crf"] == ib["crf"]
    for suffix in ("sharp.mkv", "blurry.mp4"):
        fa, fb, fc = (read_frames(d / f"c.{suffix}") for d in (a, b, c))
        assert all(np.array_equal(x, y) for x, y in zip(fa, fb))
        assert not all(np.array_equal(x, y) for x, y in zip(fa, fc))
    assert ia["per_frame"]["blur_px_max"] != ic["per_frame"]["blur_px_max"]
    assert json.loads((a / "c.json").read_text())["per_frame"] == ia["per_frame"]


def test_rendering_twice_gives_the_same_clip_at_dev_set_size(tmp_path, photo):
    # at 320×240 PyAV's x264 with MB-tree encoded the same frames differently on every run (the 128×96
    # clip above hid it): every session rendered a slightly different dev set
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        render_clip(ClipSpec("c", "still", str(photo), (320, 240), 45, 7, shake=SHAKE), d)
    fa, fb = read_frames(a / "c.blurry.mp4"), read_frames(b / "c.blurry.mp4")
    assert len(fa) == 45 and all(np.array_equal(x, y) for x, y in zip(fa, fb))


def test_blur_varies_frame_to_frame_and_files_are_what_they_claim(tmp_path, photo):
    info = render_clip(_spec(photo), tmp_path)
    blur = np.array(info["per_frame"]["blur_px_max"])
    assert blur.min() < 1.5 and blur.max() > 8  # a nearly sharp frame and a blurry one in one clip
    assert 0.6 <= info["exposure"] <= 1.0 and 18 <= info["crf"] <= 28
    sharp, blurry = read_frames(tmp_path / "c.sharp.mkv"), read_frames(tmp_path / "c.blurry.mp4")
    assert len(sharp) == len(blurry) == 24 and sharp[0].shape == (96, 128, 3)
    p = psnr_frames(blurry, sharp)
    calm, burst = int(np.argmin(blur)), int(np.argmax(blur))
    assert p[calm] > p[burst] + 4  # the measured frames agree with the recorded blur
    assert np.corrcoef(blur, p)[0, 1] < -0.6
    streams = {s["codec_name"]: s for s in (media.probe(tmp_path / f"c.{x}")["streams"][0] for x in ("sharp.mkv", "blurry.mp4"))}
    assert set(streams) == {"ffv1", "h264"}
    assert streams["h264"]["pix_fmt"] == "yuv420p" and streams["h264"]["r_frame_rate"] == "30/1"
    assert streams["ffv1"]["pix_fmt"] == "bgr0"
    assert media.count_frames(tmp_path / "c.blurry.mp4") == 24
    assert not list(tmp_path.glob("*partial*"))


def test_reference_is_lossless(tmp_path, photo):
    from streamdeblur.train.devset import ClipWriter

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(5)]
    w = ClipWriter(tmp_path, "x", (64, 48), 30, 20)
    for f in frames:
        w.write(f, f)
    w.close()
    back = read_frames(tmp_path / "x.sharp.mkv")
    assert len(back) == 5 and all(np.array_equal(a, b) for a, b in zip(back, frames))


def test_moving_subject_clip_from_video_frames(tmp_path):
    src = media.write_video(tmp_path / "src.mp4", frames=40, size=(200, 150), crf=10)
    info = render_clip(ClipSpec("m", "moving", str(src), (128, 96), 12, 3, start=20, shake=SHAKE), tmp_path)
    assert info["source_frames"] == [20, 31]
    sharp = read_frames(tmp_path / "m.sharp.mkv")
    assert len(sharp) == 12 and not np.array_equal(sharp[0], sharp[-1])


def test_moving_object_clip_moves_the_object(tmp_path, photo):
    # same seed: the same camera path, exposure and noise, with and without the object
    (tmp_path / "o").mkdir()
    (tmp_path / "s").mkdir()
    sprite = tmp_path / "sprite.png"
    cv2.imwrite(str(sprite), 255 - cv2.imread(str(photo)))  # inverted colours: the disc stands out everywhere
    info = render_clip(_spec(photo, kind="object", frames=16, sprite=str(sprite)), tmp_path / "o")
    render_clip(_spec(photo, kind="still", frames=16), tmp_path / "s")
    with_obj, without = read_frames(tmp_path / "o" / "c.sharp.mkv"), read_frames(tmp_path / "s" / "c.sharp.mkv")
    centres = []
    for a, b in zip(with_obj, without):
        ys, xs = np.nonzero(np.abs(a.astype(int) - b).sum(-1) > 30)
        centres.append((xs.mean(), ys.mean()) if len(xs) > 50 else None)
    seen = [(i, c) for i, c in enumerate(centres) if c is not None]
    assert len(seen) >= 8  # the disc is in view most of the time
    (i0, c0), (i1, c1) = seen[0], seen[-1]
    travelled = np.hypot(c1[0] - c0[0], c1[1] - c0[1])
    assert travelled > 0.7 * info["object_speed_px_per_frame"] * (i1 - i0)


def test_free_ranges_avoid_training_frames():
    starts = free_video_ranges(795, 60)
    assert starts and all(not (s < 7 or 71 <= s + 59 < 78) for s in starts[:1])
    from streamdeblur.train.data import video_group_starts

    taken = {f for g in video_group_starts(795, 12, 7) for f in range(g, g + 7)}
    assert all(taken.isdisjoint(range(s, s + 60)) for s in starts)


def test_default_specs_use_only_their_split(tmp_path):
    from streamdeblur.train.devset import default_specs

    files = []
    for split, n in (("train", 3), ("val", 3), ("test", 3)):
        for i in range(n):
            ident = f"{split}{i}"
            p = tmp_path / "images" / split / f"{ident}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(p), media.pattern(i, 64, 48))
            files.append({"id": ident, "split": split, "kind": "photo", "group": ident, "width": 64 * (i + 1), "height": 48})
    (tmp_path / "manifest.json").write_text(json.dumps({"files": files}))
    for split in ("val", "test"):
        used = {p for s in default_specs(tmp_path, split) for p in (s.source, s.sprite) if p}
        assert used and all(f"/images/{split}/" in p for p in used)
    with pytest.raises(ValueError):
        default_specs(tmp_path, "train")
