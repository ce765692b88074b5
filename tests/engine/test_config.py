"""YAML pipelines: shipped ones load; errors name file, line, key and the allowed values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streamdeblur.engine.config import ConfigError, apply_overrides, builtin_dir, list_pipelines, load_pipeline, parse_pipeline

SHIPPED = ["batch", "compare", "defocus", "motion", "motion-clean", "motion-fast", "overlay", "webcam", "webcam-rt"]


def test_shipped_pipelines_exist_and_validate():
    assert set(SHIPPED) <= set(list_pipelines())
    for name in SHIPPED:
        cfg = load_pipeline(name)
        assert cfg.stages and cfg.description


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_pipeline_runs_a_video_to_the_end(tmp_path, name):
    """Each shipped pipeline on a real clip, as ``streamdeblur run --pipeline NAME`` (the webcam ones
    on a file too): exit 0 and every frame in the output. ``overlay`` had failed on every video
    ("Inplace update to inference tensor outside InferenceMode") while validating fine."""
    import media

    from streamdeblur.cli import main

    clip = media.write_video(tmp_path / "in.mp4", frames=6, size=(96, 64))
    out = tmp_path / "out.mp4"
    assert main(["-q", "run", str(clip), "-o", str(out), "--pipeline", name]) == 0
    frames = media.ffmpeg_rgb(out, "bt709", every_frame=True)
    assert len(frames) == 6 and frames.shape[1:3] == ((64, 192) if name == "compare" else (64, 96))


@pytest.mark.parametrize(
    "text,match",
    [
        ("stages: [identity]\nbatchh: 2\n", r"<p>:2: unknown key 'batchh'; allowed: .*batch"),
        ("stages:\n  - deblurr\n", r"<p>:2: unknown stage 'deblurr'; allowed: .*deblur"),
        ("stages:\n  - deblur:\n      tiles: 3\n", r"<p>:3: stage 'deblur': unknown key 'tiles'; allowed: .*tile"),
        ("stages:\n  - deblur:\n      tile: big\n", r"<p>:3: stage 'deblur': key 'tile': expected an integer, got 'big'"),
        ("batch: true\nstages: [identity]\n", r"<p>:1: key 'batch': expected an integer"),
        ("stages: [identity]\noutput:\n  crf: [1]\n", r"<p>:3: output: key 'crf': expected an integer, got a list"),
        ("stages: [identity\n", r"<p>:\d+: invalid YAML"),
        ("", r"<p>: empty pipeline file"),
        ("- identity\n", r"<p>:1: a pipeline must be a mapping"),
        ("batch: 2\n", r"'stages' is missing"),
        ("stages: [identity]\n!!python/object:os.system {}: 1\n", r"<p>:2: could not determine a constructor"),
        # a key given twice: YAML keeps the last one silently (a whole output: or stages: lost)
        (
            "stages: [identity]\noutput: {crf: 30}\noutput: {preset: veryfast}\n",
            r"<p>:3: key 'output' is given twice \(first on line 2\)",
        ),
        ("stages: [identity]\nstages: [identity]\n", r"<p>:2: key 'stages' is given twice"),
        ("stages:\n  - deblur:\n      tile: 0\n      tile: 256\n", r"<p>:4: stage 'deblur': key 'tile' is given twice"),
        # temporal_fusion's numbers are range-checked like the others
        ("stages:\n  - temporal_fusion:\n      memory: -5\n", r"<p>:3: stage 'temporal_fusion': memory must be 0…600, got -5"),
        ("stages:\n  - temporal_fusion:\n      block: 100000\n", r"<p>:3: stage 'temporal_fusion': block must be 8…1024"),
        ("stages:\n  - temporal_fusion:\n      q_bonus: -7\n", r"<p>:3: stage 'temporal_fusion': q_bonus must be 0…100, got -7"),
        ("stages:\n  - temporal_fusion:\n      max_width: 1\n", r"<p>:3: stage 'temporal_fusion': max_width must be 0 \(no"),
        # a second compare joined the original to the first's side-by-side: 480x120 fitted into 640x120, black bars
        ("stages:\n  - unsharp\n  - compare\n  - compare\n", r"<p>:4: stage 'compare' is given twice: a pipeline has one"),
        # a list or mapping as a key was Python's "unhashable type: 'list'", exit 1, no file or line
        ("? [a, b]\n: 1\nstages: [identity]\n", r"<p>:1: a key must be a name, not a list or mapping"),
        ("stages:\n  - unsharp:\n      ? {a: 1}\n      : 2\n", r"<p>:3: stage 'unsharp': a key must be a name, not a list"),
        # a merge key's own keys are still checked, with the line they are on
        ("stages:\n  - unsharp: &u {amount: 1}\n  - unsharp:\n      <<: *u\n      amont: 2\n", r"<p>:5: .*unknown key 'amont'"),
    ],
)
def test_errors_name_file_line_and_allowed_values(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_pipeline(text, "<p>")


def test_yaml_merge_keys_fill_in_what_a_mapping_does_not_give():
    # `<<: *anchor` (yaml.safe_load's semantics, which the loader promises) was refused: "could not determine a
    # constructor for the tag 'tag:yaml.org,2002:merge'"
    text = (
        "stages:\n  - temporal_fusion: &tf {radius: 1, interp: lanczos}\n"
        "  - temporal_fusion:\n      <<: *tf\n      merge: 0\n      radius: 2\n"
    )
    first, second = parse_pipeline(text, "<p>").stages
    assert first.options == {"radius": 1, "interp": "lanczos"}
    assert second.options == {"radius": 2, "interp": "lanczos", "merge": 0}  # its own radius wins


def test_a_text_option_written_as_a_number_is_kept_as_written():
    # compare's labels `before: 1:30` and `after: 1.50` were drawn as "90" and "1.5" (YAML 1.1 numbers)
    (spec,) = parse_pipeline("stages:\n  - compare: {before: 1:30, after: 1.50}\n", "<p>").stages
    assert spec.options == {"before": "1:30", "after": "1.50"}


def test_overrides_apply_to_pipeline_stage_and_output():
    cfg = apply_overrides(load_pipeline("motion"), tile=256, overlap=16, batch=3, crf=23, model="deeprftv2-s")
    assert cfg.batch == 3 and cfg.output.crf == 23
    deblur = next(s for s in cfg.stages if s.name == "deblur")  # motion: temporal_fusion, then deblur
    assert deblur.options["tile"] == 256 and deblur.options["model"] == "deeprftv2-s"
    with pytest.raises(ConfigError, match="tile does not apply"):
        apply_overrides(parse_pipeline("stages: [identity]\n"), tile=256)


@pytest.mark.parametrize("name", ["motion", "defocus"])
def test_the_smallest_tile_alone_fits_the_pipelines_overlap_to_it(name):
    """``--tile 64`` (the smallest allowed) was refused on every shipped pipeline: their overlap 32 is half of
    it, an error over a value the user never typed. It shrinks to a quarter of the tile; one given stays."""
    stage = next(s for s in apply_overrides(load_pipeline(name), tile=64).stages if "tile" in s.options)
    assert (stage.options["tile"], stage.options["overlap"]) == (64, 16)
    with pytest.raises(ConfigError, match="overlap must be less than half the tile"):
        apply_overrides(load_pipeline(name), tile=64, overlap=32)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_pipeline(str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="unknown pipeline 'nope'"):
        load_pipeline("nope")


@pytest.mark.parametrize("name", ["motion", "motion-clean", "batch", "compare", "motion-fast", "overlay", "defocus"])
def test_shipped_video_pipelines_work_on_large_frames_at_a_bounded_size(name):
    # camera shake blurs a 1080p frame by three times the pixels of a 640×360 one: the fusions choose
    # and the model deblurs at about 640 px wide (README, "Large frames"; pipelines/README.md); frames up to 640×360 (the
    # dev set, the live size, the bundled sample) are worked on at their own size
    from streamdeblur.stages import create_stage
    from streamdeblur.stages.deblur import pixel_cap

    cfg = load_pipeline(name)
    fusions = [s for s in cfg.stages if s.name == "temporal_fusion"]
    # motion-fast's fusions ran at full size: at 4K it was 4.4x slower than the default it is "2.4-3x
    # faster" than, and at 1080p +0.36 dB where 640 wide gives +0.89 (audit 29)
    assert len(fusions) == {"overlay": 1, "defocus": 0}.get(name, 2)
    for spec in fusions:
        stage = create_stage(spec.name, spec.options)
        assert stage.scale_for(1080, 1920) == pytest.approx(1 / 3)
        assert stage.scale_for(360, 640) == 1.0 and stage.scale_for(288, 512) == 1.0
    if name == "defocus":  # one model stage, no fusion: a defocus disc grows with the frame as shake does
        (stage,) = cfg.stages
        assert stage.name == "defocus" and pixel_cap(1080, 1920, stage.options["work_pixels"]) == pytest.approx(1 / 3)
        assert stage.options["floor"] == 2
        return
    if name in ("motion-fast", "overlay"):
        return  # no model (motion-fast); overlay's model works in 256-px tiles, one kernel inset each
    (deblur,) = [s for s in cfg.stages if s.name == "deblur"]
    work = deblur.options["work_pixels"]
    assert pixel_cap(1080, 1920, work) == pytest.approx(1 / 3) and pixel_cap(360, 640, work) == 1.0


def test_a_shipped_name_is_the_shipped_pipeline_whatever_the_current_folder_holds(tmp_path, monkeypatch):
    """A folder ``motion/`` in the current folder (a user's footage, say) failed every run, the
    default one too: "pipeline file not found: motion". The shipped name wins; ``./motion`` is the path."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "motion").mkdir()
    (tmp_path / "compare").write_text("not: [a pipeline\n")
    assert load_pipeline("motion").stages == load_pipeline(str(builtin_dir() / "motion.yaml")).stages
    assert load_pipeline("compare").stages[-1].name == "compare"
    with pytest.raises(ConfigError, match=r"^\./motion is a folder, not a pipeline file$"):
        load_pipeline("./motion")
    with pytest.raises(ConfigError, match="empty name"):
        load_pipeline("")
    shipped_hint = r"^pipeline file not found: motion.yaml \(the shipped one is named without .yaml: motion\)$"
    with pytest.raises(ConfigError, match=shipped_hint):
        load_pipeline("motion.yaml")
    own = tmp_path / "mine"  # not a shipped name: an existing file without .yaml is read as before
    own.write_text("stages:\n  - identity\n")
    assert [s.name for s in load_pipeline("mine").stages] == ["identity"]


def test_a_binary_pipeline_file_is_named_in_its_error(tmp_path):
    # a binary file given as --pipeline said only "'utf-8' codec can't decode byte 0xff in position 0"
    p = tmp_path / "photo.yaml"
    p.write_bytes(b"\xff\xd8\xff\xe0 a JPEG saved under the wrong name")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(p))}: not a YAML text file \(byte 0 is not UTF-8\)$"):
        load_pipeline(str(p))


def test_files_named_in_a_pipeline_are_found_beside_it_from_any_folder(tmp_path, monkeypatch):
    """``weights: mine.pt`` in ``pl/rel.yaml`` was read from the current folder: the pipeline, kept
    with its weights, failed from anywhere else ("weights file not found: mine.pt", no file or line),
    and ``~`` was not expanded (audit 28)."""
    folder = tmp_path / "pl"
    folder.mkdir()
    (folder / "mine.pt").write_bytes(b"x")
    (folder / "mine.gate.pt").write_bytes(b"x")
    text = "stages:\n  - deblur:\n      model: deeprftv2-t\n      weights: mine.pt\n      guard: mine.gate.pt\n"
    (folder / "rel.yaml").write_text(text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    opts = load_pipeline(str(folder / "rel.yaml")).stages[0].options
    assert opts["weights"] == str(folder / "mine.pt") and opts["guard"] == str(folder / "mine.gate.pt")
    monkeypatch.chdir(tmp_path)  # a relative pipeline path: the same files
    opts = load_pipeline("pl/rel.yaml").stages[0].options
    assert Path(opts["weights"]).resolve() == folder / "mine.pt"
    (elsewhere / "cwd.pt").write_bytes(b"x")  # not beside the pipeline but in the current folder: as before
    (folder / "cwd.yaml").write_text(text.replace("mine.pt", "cwd.pt"))
    monkeypatch.chdir(elsewhere)
    assert load_pipeline(str(folder / "cwd.yaml")).stages[0].options["weights"] == str(elsewhere / "cwd.pt")
    monkeypatch.setenv("HOME", str(folder))
    (folder / "home.yaml").write_text(text.replace("mine.pt", "~/mine.pt"))
    assert load_pipeline(str(folder / "home.yaml")).stages[0].options["weights"] == str(folder / "mine.pt")
    (folder / "gone.yaml").write_text(text.replace("weights: mine.pt", "weights: gone.pt"))
    with pytest.raises(ConfigError, match=r"gone\.yaml:4: weights file not found: gone\.pt \(looked in .*pl/ \(beside"):
        load_pipeline(str(folder / "gone.yaml"))
    assert load_pipeline("motion").stages[-1].options.get("weights", "default") == "default"  # words stay words
    (folder / "abs.yaml").write_text(text.replace("weights: mine.pt", f"weights: {folder}/nowhere.pt"))
    with pytest.raises(ConfigError, match=r"abs\.yaml:4: weights file not found: /.*/nowhere\.pt$"):
        load_pipeline(str(folder / "abs.yaml"))  # absolute and ~ paths too (audit 31)
    # `guard: off`, as the shipped files' comments write it, is YAML's false: "expected a string, got False"
    (folder / "off.yaml").write_text(text.replace("guard: mine.gate.pt", "guard: off"))
    assert load_pipeline(str(folder / "off.yaml")).stages[0].options["guard"] == "off"
