"""The footage's metadata survives: capture date, place, camera, title, audio language (judged by ffprobe)."""

from __future__ import annotations

import json
import re
import subprocess

import media
import pytest

from streamdeblur.cli import main
from streamdeblur.io.tags import keep_tags, muxer_flags

PHONE_TAGS = {
    "creation_time": "2024-07-14T10:20:30.000000Z",
    "location": "+48.8584+002.2945/",
    "title": "Eiffel",
    "com.apple.quicktime.make": "Apple",
    "com.apple.quicktime.model": "iPhone 15",
    "com.apple.quicktime.location.ISO6709": "+48.8584+002.2945+035.000/",
    "com.apple.quicktime.creationdate": "2024-07-14T12:20:30+0200",
}


@pytest.fixture(scope="module")
def phone_clip(tmp_path_factory, require_ffmpeg):
    """A MOV as an iPhone writes it (Apple's keys, a place, a date; French audio), made by Debian's ffmpeg."""
    path = tmp_path_factory.mktemp("phone") / "IMG_0042.MOV"
    args = [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=30:duration=1"]
    args += ["-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:v", "libx264", "-c:a", "aac"]
    for k, v in PHONE_TAGS.items():
        args += ["-metadata", f"{k}={v}"]
    args += ["-metadata:s:a:0", "language=fra", "-movflags", "use_metadata_tags", str(path)]
    subprocess.run(args, check=True)
    return path


def _tags(path) -> tuple[dict, list[dict]]:
    info = media.probe(path)
    return {k.lower(): v for k, v in info["format"].get("tags", {}).items()}, [
        {k.lower(): v for k, v in s.get("tags", {}).items()} for s in info["streams"]
    ]


@pytest.mark.parametrize("suffix, segments", [(".mp4", 0), (".mov", 0), (".mkv", 0), (".mp4", 2)])
def test_capture_date_place_camera_and_audio_language_are_kept(tmp_path, phone_clip, identity_yaml, suffix, segments):
    out = tmp_path / f"out{suffix}"
    argv = ["run", str(phone_clip), "-o", str(out), "--pipeline", str(identity_yaml)]
    assert main(argv + (["--segments", str(segments)] if segments else [])) == 0
    fmt, streams = _tags(out)
    for k, v in PHONE_TAGS.items():
        assert fmt.get(k.lower()) == v, (k, fmt)
    audio = [s for s, info in zip(streams, media.probe(out)["streams"]) if info["codec_type"] == "audio"]
    assert audio and audio[0].get("language") == "fra", streams


@pytest.mark.parametrize("segments", [0, 2])
def test_a_tag_that_is_not_utf8_stops_neither_info_nor_a_run(tmp_path, identity_yaml, require_ffmpeg, segments):
    # a title in Latin-1 (a camera's or an old tagger's): `info` ended "error: 'utf-8' codec can't decode byte
    # 0xe9" (its frame-rate probe opened the file without PyAV 18's metadata_errors), and on PyAV 19 (Python
    # 3.12+), which dropped that argument, every command failed on every input ("unexpected keyword argument")
    clip = tmp_path / "latin1.mkv"
    args = [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc=size=96x64:rate=10:duration=0.6"]
    args += ["-metadata", b"title=Caf\xe9 \xff", "-c:v", "libx264", str(clip)]
    subprocess.run(args, check=True)
    assert main(["info", str(clip)]) == 0
    out = tmp_path / "out.mkv"
    argv = ["run", str(clip), "-o", str(out), "--pipeline", str(identity_yaml)]
    assert main(argv + (["--segments", str(segments)] if segments else [])) == 0
    assert media.count_frames(out) == 6
    assert _tags(out)[0].get("title") == "Caf\ufffd \ufffd"  # kept (ffprobe shows what is not UTF-8 so)
    assert main(["eval", "--video", str(out), "--reference", str(clip)]) == 0  # was "cannot read it as a video"


def test_inputs_are_opened_with_lenient_tags_on_either_pyav(monkeypatch):
    # PyAV 18 needs metadata_errors="replace" for such tags; PyAV 19 has no such argument (a TypeError)
    import av

    from streamdeblur.io.paths import open_input

    seen = []
    monkeypatch.setattr(av, "open", lambda name, **kw: seen.append((name, kw)))
    for version in ("18.1.0", "19.0.2", "20.0.0"):
        monkeypatch.setattr(av, "__version__", version)
        open_input("a:b.mp4", timeout=3)
    assert seen == [
        ("file:a:b.mp4", {"timeout": 3, "metadata_errors": "replace"}),
        ("file:a:b.mp4", {"timeout": 3}),
        ("file:a:b.mp4", {"timeout": 3}),
    ]


def test_only_open_input_knows_pyavs_metadata_argument():
    # every reader of a user's file goes through paths.open_input, the one place that knows PyAV's versions
    from pathlib import Path

    import streamdeblur

    root = Path(streamdeblur.__file__).parent
    users = [p.relative_to(root).as_posix() for p in root.rglob("*.py") if "metadata_errors" in p.read_text()]
    assert users == ["io/paths.py"]


def test_a_key_the_file_holds_twice_is_kept_once():
    # PyAV 19 reads a key written twice (a MOV's creation_time, in its header and its key list) as the two
    # values joined by ";": the phone clip above came out dated "2024-07-14T10:20:30.000000Z;2024-07-…" (MP4)
    # or undated (Matroska refused the value); a value with a ";" of its own stays as it is
    date = "2024-07-14T10:20:30.000000Z"
    tags = {"creation_time": f"{date};{date}", "title": "Paris;Rome", "comment": "x;x;y"}
    assert keep_tags(tags) == {"creation_time": date, "title": "Paris;Rome", "comment": "x;x;y"}


def test_what_describes_the_old_file_is_left_out():
    tags = {"encoder": "Lavf59", "major_brand": "qt  ", "BPS-eng": "9", "DURATION": "00:00:01", "rotate": "90", "title": "x"}
    assert keep_tags(tags) == {"title": "x"}
    assert muxer_flags("mp4", {"title": "x", "creation_time": "t"}) == {}
    assert muxer_flags("mp4", {"com.apple.quicktime.make": "Apple"}) == {"movflags": "use_metadata_tags"}
    assert muxer_flags("matroska", {"com.apple.quicktime.make": "Apple"}) == {}


@pytest.mark.parametrize("suffix, segments", [(".mkv", 0), (".mp4", 0), (".mp4", 2)])
def test_chapters_are_kept(tmp_path, phone_clip, identity_yaml, suffix, segments):
    meta = tmp_path / "chapters.txt"
    meta.write_text(
        ";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=400\ntitle=Intro\n"
        "[CHAPTER]\nTIMEBASE=1/1000\nSTART=400\nEND=1000\ntitle=Boats\n"
    )
    src = tmp_path / "chaptered.mkv"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-i", str(phone_clip), "-i", str(meta), "-map_chapters", "1", "-c", "copy", str(src)],
        check=True,
    )
    out = tmp_path / f"out{suffix}"
    argv = ["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]
    assert main(argv + (["--segments", str(segments)] if segments else [])) == 0
    got = json.loads(
        subprocess.run(
            [media.FFPROBE, "-v", "error", "-show_chapters", "-of", "json", str(out)], capture_output=True, text=True, check=True
        ).stdout
    )["chapters"]
    assert [(c["tags"]["title"], round(float(c["start_time"]), 3), round(float(c["end_time"]), 3)) for c in got] == [
        ("Intro", 0.0, 0.4),
        ("Boats", 0.4, 1.0),
    ]


def test_what_avi_and_ts_cannot_hold_is_said_and_a_cut_says_its_chapters_are_left_out(
    tmp_path, phone_clip, identity_yaml, capsys
):
    # AVI (RIFF INFO) and MPEG-TS hold almost none of a phone's tags and no chapters: the capture date,
    # place and camera were dropped without a word (`info` had listed them as kept), as were a cut's chapters.
    meta = tmp_path / "chapters.txt"
    meta.write_text(";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=1000\ntitle=All\n")
    src = tmp_path / "chaptered.mov"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-i", str(phone_clip), "-i", str(meta), "-map_chapters", "1", "-map_metadata", "0"]
        + ["-c", "copy", "-movflags", "use_metadata_tags", str(src)],
        check=True,
    )
    avi = tmp_path / "out.avi"
    assert main(["run", str(src), "-o", str(avi), "--pipeline", str(identity_yaml)]) == 0

    def left_out(err: str, fmt: str) -> set[str]:
        line = next(ln for ln in err.splitlines() if f"{fmt} cannot hold the source's " in ln)
        assert line.endswith(": left out (.mp4, .mov or .mkv keep them)"), line
        return set(line.split("the source's ")[1].split(":")[0].split(", "))

    assert left_out(capsys.readouterr().err, "avi") == {"location", "camera", "chapters"}
    fmt, _ = _tags(avi)
    assert fmt.get("date") == "2024-07-14" and fmt.get("title") == "Eiffel", fmt  # the capture day: RIFF's ICRD
    assert main(["run", str(src), "-o", str(tmp_path / "out.ts"), "--pipeline", str(identity_yaml)]) == 0
    assert left_out(capsys.readouterr().err, "mpegts") == {"capture date", "location", "title", "camera", "chapters"}
    cut = tmp_path / "cut.mkv"
    assert main(["run", str(src), "-o", str(cut), "--pipeline", str(identity_yaml), "--start", "0.5"]) == 0
    assert "the source's chapters are left out of a cut" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".mov", ".mkv"])  # a stream's tmcd track; Matroska's file-level TIMECODE tag
def test_a_start_timecode_is_kept_whole_and_left_out_of_a_cut(tmp_path, phone_clip, identity_yaml, suffix):
    """A camcorder's start timecode: kept for the whole file; a cut would carry the whole file's
    start, a wrong timecode, so it has none (an MKV's, a file tag, was kept, and a MOV cut of it got a
    tmcd track saying 01:00:00:00)."""
    src = tmp_path / f"tc{suffix}"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-i", str(phone_clip), "-c", "copy", "-timecode", "01:00:00:00", str(src)], check=True
    )

    def timecodes(path) -> list:
        info = media.probe(path)
        streams = [s.get("tags", {}) for s in info["streams"] if s["codec_type"] in ("video", "data")]
        tags = [*streams, info["format"].get("tags", {})]
        return [v for t in tags for k, v in t.items() if k.lower() == "timecode"]

    assert "01:00:00:00" in timecodes(src)
    whole, cut = tmp_path / "whole.mov", tmp_path / "cut.mov"
    assert main(["run", str(src), "-o", str(whole), "--pipeline", str(identity_yaml)]) == 0
    assert "01:00:00:00" in timecodes(whole)
    assert main(["run", str(src), "-o", str(cut), "--pipeline", str(identity_yaml), "--start", "0.5"]) == 0
    assert not any(timecodes(cut)), timecodes(cut)


def test_subtitle_tracks_ride_along_where_the_container_takes_them(tmp_path, phone_clip, identity_yaml, capsys):
    """A drone's telemetry as a subtitle track (mov_text in MP4): copied into MP4 outputs, whole and
    segmented, text and times unchanged; converted (and said) for containers that hold another codec."""
    srt = tmp_path / "t.srt"
    srt.write_text(
        "1\n00:00:00,000 --> 00:00:00,500\nGPS 48.8584 2.2945\n\n2\n00:00:00,500 --> 00:00:01,000\nGPS 48.8585 2.2946\n"
    )
    src = tmp_path / "DJI_0001.MP4"
    subprocess.run(
        [
            media.FFMPEG,
            "-v",
            "error",
            "-i",
            str(phone_clip),
            "-i",
            str(srt),
            "-map",
            "0",
            "-map",
            "1",
            "-c",
            "copy",
            "-c:s",
            "mov_text",
            str(src),
        ],
        check=True,
    )

    def text(path) -> str:
        return subprocess.run(
            [media.FFMPEG, "-v", "error", "-i", str(path), "-map", "0:s", "-f", "srt", "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    want = text(src)
    assert "GPS 48.8585 2.2946" in want
    for name, extra in (("whole.mp4", []), ("seg.mp4", ["--segments", "2"])):
        out = tmp_path / name
        assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml), *extra]) == 0
        assert text(out) == want, name
    # other containers get the text in their own subtitle codec (it was left out: "cannot go into webm"),
    # and back: MP4 → MKV (SubRip) → MP4 (mov_text) gives the track it started from
    cues = [ln for ln in want.splitlines() if ln.startswith("GPS")]
    capsys.readouterr()
    for name, codec in (("o.webm", "webvtt"), ("o.mkv", "subrip")):
        assert main(["run", str(src), "-o", str(tmp_path / name), "--pipeline", str(identity_yaml)]) == 0
        assert f"subtitle track (mov_text) converted to {codec}" in capsys.readouterr().err
        got = text(tmp_path / name)
        assert [ln for ln in got.splitlines() if ln.startswith("GPS")] == cues, got
        assert got.count("-->") == want.count("-->") == 2
        assert max(abs(a - b) for a, b in zip(_cue_times(got), _cue_times(want))) <= 0.03, (got, want)
    back = tmp_path / "back.mp4"
    assert main(["run", str(tmp_path / "o.mkv"), "-o", str(back), "--pipeline", str(identity_yaml)]) == 0
    assert "converted to mov_text" in capsys.readouterr().err
    assert [ln for ln in text(back).splitlines() if ln.startswith("GPS")] == cues


def _cue_times(srt: str) -> list[float]:
    """Start and end of every cue of an SRT text, in seconds."""
    out = []
    for a, b in re.findall(r"(\d+:\d+:\d+,\d+) --> (\d+:\d+:\d+,\d+)", srt):
        for t in (a, b):
            h, m, rest = t.split(":")
            out.append(int(h) * 3600 + int(m) * 60 + float(rest.replace(",", ".")))
    return out
