"""Data build from the user's own folder: manifest, fixed split by source, evaluation set."""

from __future__ import annotations

import json

import media
import numpy as np
import torch

from streamdeblur.cli import main
from streamdeblur.train.dataset import BlurPairs, SharpPool


def test_data_build_from_user_folder(tmp_path, capsys):
    src = media.sharp_folder(tmp_path / "mine")
    out = tmp_path / "ds"
    assert main(["data", "build", "--no-debian", "--source", str(src), "--out", str(out), "--eval-crops", "1"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    files = manifest["files"]
    assert len(files) == 15 and all(len(f["sha256"]) == 64 and f["licence"] for f in files)
    splits = {f["split"] for f in files}
    assert splits == {"train", "val", "test"}  # some of each: validation is not test
    for split in ("val", "test"):
        n_held = sum(f["split"] == split and f["kind"] == "photo" for f in files)
        ev = torch.load(out / f"{split}_motion.pt", weights_only=True)
        assert len(ev["blurry"]) >= n_held > 0 and ev["kernels"].shape[1:] == (2, 65, 65)  # held-out video frames add crops
    assert "train user:" in capsys.readouterr().err  # each file's split is said ...
    # rebuilding gives the same split (fixed by source, not random)
    main(["data", "build", "-q", "--no-debian", "--source", str(src), "--out", str(tmp_path / "ds2"), "--eval-crops", "1"])
    assert capsys.readouterr().err == ""  # ... but not with -q ("print only errors": it printed every file)
    again = json.loads((tmp_path / "ds2" / "manifest.json").read_text())
    assert [f["split"] for f in again["files"]] == [f["split"] for f in files]
    pool = SharpPool.load(out, "train")
    pairs = BlurPairs(pool, crop=64, seed=0, task="motion")
    b, s = pairs.batch(3)
    assert b.shape == s.shape == (3, 3, 64, 64)
    d, s2 = BlurPairs(pool, crop=64, seed=0, task="defocus").batch(2)
    assert d.shape == (2, 3, 64, 64) and not torch.equal(d, s2)
    assert np.isfinite(b.numpy()).all()


def test_fused_crops_pair_each_fused_pixel_with_its_own_reference_pixel():
    """With ``p_fused = 1`` every sample is a crop of a fused frame and the same crop (same place,
    flip and rotation) of its sharp reference: here the fused frames are the references + 1."""
    rng = np.random.default_rng(0)
    gt = torch.from_numpy(rng.integers(0, 250, (3, 3, 40, 56), dtype=np.uint8))
    pool = SharpPool(images=[rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)], clips=[])
    pairs = BlurPairs(pool, crop=32, seed=1, fused=(gt + 1, gt), p_fused=1.0)
    seen = set()
    for _ in range(12):
        s = pairs.sample()
        assert s.blurry.shape == s.sharp.shape == (32, 32, 3)
        assert (s.blurry.astype(int) - s.sharp.astype(int) == 1).all()
        # the crop is one of the reference's (in some orientation): it is found in frame s.info["fused"]
        ref = gt[s.info["fused"]].permute(1, 2, 0).numpy()
        found = any(
            (np.rot90(r, k)[y : y + 32, x : x + 32] == s.sharp).all()
            for r in (ref, ref[:, ::-1])
            for k in range(4)
            for y in range(np.rot90(r, k).shape[0] - 31)
            for x in range(np.rot90(r, k).shape[1] - 31)
        )
        assert found
        seen.add(s.info["fused"])
    assert len(seen) > 1
    # without p_fused the fused frames are not drawn
    plain = BlurPairs(pool, crop=32, seed=1, fused=(gt + 1, gt), p_fused=0.0).sample()
    assert "fused" not in plain.info


def test_an_eval_set_of_shrunk_photographs_is_drawn_from_the_shrunk_pixels(built, tmp_path):
    """``downscale`` (the gate's ``--crisp`` crops): each photograph is shrunk by a factor in the range
    before its crops are drawn, so a crop holds that many times more of the scene; sources too small
    once shrunk are skipped, never upscaled."""
    from streamdeblur.train.dataset import make_eval_set

    plain = make_eval_set(built, tmp_path / "plain.pt", crops_per_image=1, size=64, split="train", no_blur=True, seed=3)
    shrunk = make_eval_set(
        built, tmp_path / "shrunk.pt", crops_per_image=1, size=64, split="train", no_blur=True, seed=3, downscale=(2.0, 2.0)
    )
    assert shrunk["downscale"] == [2.0, 2.0] and plain["downscale"] is None
    assert len(shrunk["sharp"]) <= len(plain["sharp"])  # a source under 64 + margins once halved is skipped

    def detail(t):  # mean absolute horizontal difference: more scene per pixel, more change per pixel
        return float((t[..., 1:].float() - t[..., :-1].float()).abs().mean())

    assert detail(shrunk["sharp"]) > 1.3 * detail(plain["sharp"])


def test_a_rebuild_leaves_no_photograph_in_a_split_it_has_left(tmp_path):
    """A folder's split depends on how many files it holds: after the user adds photos and rebuilds into
    the same ``--out``, sources move between splits. The earlier build's files must not stay behind (a
    test photograph stayed in ``images/train``, and the training pool reads every file there); an
    ``--out`` inside the source folder must not be read back in as the user's photos."""
    src = media.sharp_folder(tmp_path / "mine", photos=14)
    out = src / "ds"  # inside the source folder
    args = ["data", "build", "--no-debian", "--source", str(src), "--out", str(out), "--eval-crops", "1"]
    assert main(args) == 0
    first = json.loads((out / "manifest.json").read_text())["files"]
    media.sharp_folder(tmp_path / "more", photos=6)
    for p in sorted((tmp_path / "more").glob("*.png")):
        p.rename(src / f"q{p.name}")
    assert main(args) == 0
    files = json.loads((out / "manifest.json").read_text())["files"]
    assert len(files) == 14 + 6 + 1  # photos and the clip: nothing of ds/ read back in
    listed = {(f["split"], f["id"]) for f in files if f["kind"] == "photo"}
    on_disk = {(p.parent.name, p.stem) for p in (out / "images").glob("*/*.png")}
    assert on_disk == listed
    assert len(SharpPool.load(out, "train").images) == sum(f["split"] == "train" and f["kind"] == "photo" for f in files)
    old_splits = {f["path"]: f["split"] for f in first}
    assert any(old_splits.get(f["path"], f["split"]) != f["split"] for f in files)  # the case: some sources changed split


def test_data_build_says_what_is_wrong_with_its_sources(tmp_path, capsys):
    for args, says in (
        (["--source", str(tmp_path / "nope")], "does not exist"),
        (["--source", str(media.sharp_folder(tmp_path / "mine", photos=2) / "p00.png")], "is a file, not a folder"),
        ([], "leaves nothing to build from"),
        (["--source", str(tmp_path / "mine"), "--eval-crops", "0"], "--eval-crops must be at least 1"),
        # 5 photos and a clip: one held out (for test), none for validation. It failed after writing every
        # image, with "no val photos in manifest.json (rebuild with 'streamdeblur data build')"
        (
            ["--source", str(media.sharp_folder(tmp_path / "few", photos=5))],
            "your folders give no validation photograph: one file in 6 of a folder is held out, alternately for test "
            "and validation (videos give none), so a folder needs at least 7 usable files (6 found)",
        ),
        # held-out photos too small for the 256-px evaluation crops: "stack expects a non-empty TensorList"
        (
            ["--source", str(media.sharp_folder(tmp_path / "small", photos=14, side=256))],
            "no validation photograph is large enough: the evaluation crops need 320 px on the short side",
        ),
    ):
        assert main(["data", "build", "--no-debian", "--out", str(tmp_path / "ds"), *args]) == 2
        err = capsys.readouterr().err
        assert says in " ".join(err.split()) and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "ds").exists()  # refused before anything was written


def test_unusable_files_of_a_source_folder_are_skipped_and_named(tmp_path, capsys):
    """A text file named .jpg stopped the whole build; a JPEG cut short got in as a half-grey picture
    (only libjpeg's unnamed line said anything); a broken .mp4 gave a raw errno. Now each is skipped,
    named, and left out of the manifest; the rest is built."""
    import cv2

    src = media.sharp_folder(tmp_path / "mine")
    ok, buf = cv2.imencode(".jpg", (np.random.default_rng(0).random((336, 336, 3)) * 255).astype(np.uint8))
    (src / "cut.jpg").write_bytes(buf.tobytes()[: len(buf) * 3 // 5])  # decodes, grey where the data end
    (src / "fake.jpg").write_text("not an image\n")
    (src / "broken.mp4").write_text("garbage\n")
    media.write_video(src / "short.mp4", frames=4, size=(320, 240))  # counted, gave no clip: a held-out place lost
    import pillow_heif

    photo = media.pattern(7, 336, 336)  # an iPhone's HEIC is content (it was passed over), a damaged one is not
    pillow_heif.from_bytes("RGB", (336, 336), photo.tobytes()).save(src / "IMG_0100.HEIC", quality=90)
    (src / "IMG_0101.HEIC").write_bytes((src / "IMG_0100.HEIC").read_bytes()[:300])
    out = tmp_path / "ds"
    assert main(["data", "build", "--no-debian", "--source", str(src), "--out", str(out), "--eval-crops", "1"]) == 0
    err = capsys.readouterr().err
    bad = {
        "cut.jpg": "truncated JPEG",
        "fake.jpg": "not a readable image",
        "broken.mp4": "not a readable video",
        "short.mp4": "only 4 frames (a training clip takes 7)",
        "IMG_0101.HEIC": "not a readable HEIC photo",
    }
    for name, why in bad.items():
        assert f"skipped {src / name}: {why}" in err.replace("\n", ""), err
    files = json.loads((out / "manifest.json").read_text())["files"]
    assert len(files) == 16 and not set(bad) & {f["path"].rsplit("/", 1)[-1] for f in files}
    assert str(src / "IMG_0100.HEIC") in {f["path"] for f in files}
    assert "Premature end" not in err
