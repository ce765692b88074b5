"""What a video file's reader tells the user before the first frame."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import media
import pytest

from streamdeblur.cli import main

pytestmark = pytest.mark.usefixtures("require_ffmpeg")


def _ffmpeg_clip(path, *codec_args):
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=96x64:r=30:d=0.2", *codec_args, str(path)],
        check=True,
    )
    return path


@pytest.mark.parametrize(
    "name, codec_args",
    [
        ("prores4444.mov", ["-c:v", "prores_ks", "-profile:v", "4444", "-pix_fmt", "yuva444p10le"]),
        ("vp9alpha.webm", ["-c:v", "libvpx-vp9", "-pix_fmt", "yuva420p"]),
    ],
)
def test_a_clip_with_transparency_is_told_its_alpha_is_not_kept(tmp_path, identity_yaml, capsys, name, codec_args):
    # a motion-graphics export with alpha came out opaque without a word
    src = _ffmpeg_clip(tmp_path / name, *codec_args)
    assert main(["run", str(src), "-o", str(tmp_path / "out.mkv"), "--pipeline", str(identity_yaml)]) == 0
    err = capsys.readouterr().err
    assert err.count("transparency (alpha) channel") == 1, err
    assert media.count_frames(tmp_path / "out.mkv") == 6


def test_an_opaque_clip_says_nothing_of_alpha(tmp_path, identity_yaml, capsys):
    src = _ffmpeg_clip(tmp_path / "plain.mp4", "-c:v", "libx264", "-pix_fmt", "yuv420p")
    assert main(["run", str(src), "-o", str(tmp_path / "out.mkv"), "--pipeline", str(identity_yaml)]) == 0
    assert "alpha" not in capsys.readouterr().err


def test_a_raw_h264_stream_without_timestamps_comes_out_at_its_frame_rate(tmp_path, identity_yaml):
    """A raw Annex-B ``.h264`` stream has no container timestamps: every frame's pts is None. Only
    a gap after a known pts was filled, so no frame got one and the output's frames were 1 µs apart.
    They must come out 1/fps apart (the stream's 25 fps, as ``streamdeblur info`` says)."""
    raw = _ffmpeg_clip(tmp_path / "raw.h264", "-r", "25", "-c:v", "libx264", "-bsf:v", "h264_mp4toannexb")
    out = tmp_path / "out.mp4"
    assert main(["-q", "run", str(raw), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    times = [float(t) for t in media.frame_times(out)]
    assert len(times) == media.count_frames(raw) >= 5
    assert [round(t, 3) for t in times] == [round(i / 25, 3) for i in range(len(times))]


def test_a_cover_picture_is_kept_in_mp4_and_said_to_be_left_out_elsewhere(tmp_path, identity_yaml, capsys):
    # an MP4 with album-style cover art (a second video stream marked attached_pic): the clip is what
    # is processed; the cover was dropped without a word, then (said) from every output
    cover = tmp_path / "cover.png"
    red = [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "color=red:size=64x64", "-frames:v", "1", str(cover)]
    subprocess.run(red, check=True)
    src = tmp_path / "with_cover.mp4"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=30:duration=0.5", "-i", str(cover)]
        + ["-map", "0:v", "-map", "1:v", "-c:v:0", "libx264", "-preset", "veryfast", "-c:v:1", "png"]
        + ["-disposition:v:1", "attached_pic", str(src)],
        check=True,
    )
    out = tmp_path / "out.mkv"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    said = "with_cover.mp4 carries a cover picture or attached files (1); they are not kept in matroska"
    assert said in capsys.readouterr().err
    assert media.count_frames(out) == 15
    # MP4 holds it (ffmpeg -map 0 -c copy keeps it there): the same picture, still marked as the cover
    kept = tmp_path / "out.mp4"
    assert main(["run", str(src), "-o", str(kept), "--pipeline", str(identity_yaml)]) == 0
    assert "not kept" not in capsys.readouterr().err
    covers = [s for s in media.probe(kept)["streams"] if s.get("disposition", {}).get("attached_pic")]
    assert [s["codec_name"] for s in covers] == ["png"]
    assert media.count_frames(kept) == 15

    def picture(path) -> bytes:
        cmd = [media.FFMPEG, "-v", "error", "-i", str(path), "-map", "0:v:1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
        return subprocess.run(cmd, capture_output=True, check=True).stdout

    assert picture(kept) == picture(src) and len(picture(src)) == 64 * 64 * 3


def test_an_mkv_whose_timestamps_start_at_one_hour_is_counted_by_its_frames(tmp_path, identity_yaml, capsys):
    # FFmpeg's Matroska muxer writes the end time as the file's duration: a 1 s clip starting at 1 h
    # was announced as 108030 frames lasting 3601 s, and the progress line's ETA followed it
    mp4 = _ffmpeg_clip(tmp_path / "clip.mp4", "-c:v", "libx264", "-preset", "veryfast")
    mkv = tmp_path / "offset.mkv"
    subprocess.run([media.FFMPEG, "-v", "error", "-i", str(mp4), "-c", "copy", "-output_ts_offset", "3600", str(mkv)], check=True)
    assert main(["info", str(mkv)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"30\.000 fps, 6 frames, 0\.20 s", out), out
    dst = tmp_path / "out.mkv"
    assert main(["-q", "run", str(mkv), "-o", str(dst), "--pipeline", str(identity_yaml)]) == 0
    assert media.count_frames(dst) == 6
    assert float(media.frame_times(dst)[0]) == pytest.approx(3600.0, abs=0.01)


def test_a_recording_still_being_written_is_said_to_have_grown(tmp_path):
    # A file another program was still writing (ffmpeg recording a .ts) was read up to its end at that
    # moment: the output had 36 of 75 frames, exit 0, not a word (audit 9).
    from streamdeblur.io.sources.video import VideoSource

    full = media.write_video(tmp_path / "full.ts", frames=20, size=(96, 64))
    data = full.read_bytes()
    rec = tmp_path / "rec.ts"
    rec.write_bytes(data[: len(data) // 2 // 188 * 188])  # whole TS packets: what a recorder has written so far
    warnings: list[str] = []
    src = VideoSource(str(rec), on_warning=warnings.append)
    frames = src.frames()
    next(frames)
    with rec.open("ab") as f:  # the recorder goes on
        f.write(data[len(data) // 2 // 188 * 188 :])
    n = 1 + sum(1 for _ in frames)
    src.close()
    grown = [w for w in warnings if "grew while it was read" in w]
    assert len(grown) == 1 and "still being recorded" in grown[0] and f"the {n} frames read" in grown[0], warnings
    warnings.clear()
    src = VideoSource(str(full), on_warning=warnings.append)
    assert sum(1 for _ in src.frames()) == 20 and not [w for w in warnings if "grew" in w]  # a finished file: nothing said
    src.close()
    # a larger file moved over the name meanwhile did not grow: it was "grew … run it again", and a
    # second run would read the other file (audit 30); the output is the file opened
    moved = tmp_path / "moved.ts"
    moved.write_bytes(data[: len(data) // 2 // 188 * 188])
    warnings.clear()
    src = VideoSource(str(moved), on_warning=warnings.append)
    frames = src.frames()
    next(frames)
    other = tmp_path / "other.ts"
    other.write_bytes(data + data)
    os.replace(other, moved)
    n = 1 + sum(1 for _ in frames)
    src.close()
    assert n < 20 and not [w for w in warnings if "grew" in w], warnings
    assert [w for w in warnings if "was replaced by another file while it was read" in w], warnings
    # rewritten in place, shorter (`cp small over it`): corrupt packets and "input ended early" only (audit 31)
    warnings.clear()
    moved.write_bytes(data)
    src = VideoSource(str(moved), on_warning=warnings.append)
    frames = src.frames()
    next(frames)
    with moved.open("r+b") as f:
        f.truncate(len(data) // 3 // 188 * 188)
    sum(1 for _ in frames)
    src.close()
    assert [w for w in warnings if "changed while it was read" in w and "rewritten in place" in w], warnings


def test_files_whose_names_have_a_colon_are_read_and_written_as_files(tmp_path, identity_yaml, monkeypatch):
    # FFmpeg took "http:x.mp4" for a URL ("cannot open http:x.mp4: Input/output error") and could not
    # write "a:b.mp4" ("Protocol not found"); files of such names are files (audit 9).
    monkeypatch.chdir(tmp_path)
    media.write_video(tmp_path / "http:x.mp4", frames=5, size=(96, 64), audio=True)
    assert main(["run", "http:x.mp4", "-o", "a:b.mp4", "--pipeline", str(identity_yaml)]) == 0
    assert media.count_frames(tmp_path / "a:b.mp4") == 5
    assert abs(media.audio_duration(tmp_path / "a:b.mp4") - media.audio_duration(tmp_path / "http:x.mp4")) <= 1 / 30


def _video_times(path) -> list[float]:
    out = subprocess.run(
        [media.FFPROBE, "-v", "error", "-select_streams", "v", "-show_entries", "packet=pts_time", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(float(x.split(",")[0]) for x in out.split())


def test_start_on_a_transport_stream_keeps_every_frame_from_it(tmp_path, identity_yaml, capsys):
    # A TS has no index: FFmpeg's seek there lands near the time asked for, often after the keyframe
    # before it. `--start 2.3` on a clip with keyframes every second gave one frame of six, `--start 2`
    # "the input has no video frames from --start", and the times counted from the transport's clock
    # (FFmpeg's TS starts at 1.4 s), not from the file's start as a player shows them.
    ts = tmp_path / "cam.ts"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25", "-t", "4"]
        + ["-c:v", "libx264", "-preset", "veryfast", "-g", "25", str(ts)],
        check=True,
    )
    whole = _video_times(ts)
    assert whole[0] > 1.0  # the transport's clock, not 0
    offset = whole[0]
    for start in (0.5, 1.3, 2.0, 2.3, 3.7):
        out = tmp_path / f"s{start}.mp4"
        cut = ["--start", str(start), "--duration", "0.2"]
        code = main(["run", str(ts), "-o", str(out), "--pipeline", str(identity_yaml), *cut])
        assert code == 0, capsys.readouterr().err
        got = _video_times(out)
        want = [t - offset for t in whole if start - 1e-6 <= t - offset < start + 0.2 - 1e-6]
        assert got == pytest.approx(want, abs=1e-3), (start, got, want)


def test_an_mkvs_attached_fonts_stay_attached_in_mkv(tmp_path, identity_yaml, capsys):
    # Fansub and karaoke MKVs carry the fonts their ASS subtitles are drawn with; the subtitles were kept
    # and the fonts dropped ("not kept in matroska", the container made for them). Kept byte for byte.
    font = tmp_path / "Title.ttf"
    font.write_bytes(bytes(range(256)) * 8)  # the bytes travel as they are: any content is a fair check
    src = tmp_path / "fansub.mkv"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=96x64:rate=25:duration=0.4"]
        + ["-c:v", "libx264", "-preset", "veryfast", "-attach", str(font), "-metadata:s:t", "mimetype=font/ttf", str(src)],
        check=True,
    )
    out = tmp_path / "out.mkv"
    assert main(["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]) == 0
    assert "not kept" not in capsys.readouterr().err
    att = [s for s in media.probe(out)["streams"] if s["codec_type"] == "attachment"]
    assert [(s["tags"]["filename"], s["tags"]["mimetype"]) for s in att] == [("Title.ttf", "font/ttf")]
    dumped = tmp_path / "dumped.ttf"
    subprocess.run(
        [media.FFMPEG, "-v", "error", "-dump_attachment:t:0", str(dumped), "-i", str(out), "-f", "null", "-"], check=False
    )
    assert dumped.read_bytes() == font.read_bytes()


def _two_video_tracks(tmp_path, first: list[str]) -> Path:
    """An MKV whose first video track is ``first`` (ffmpeg arguments of a small track) and whose second
    is the footage: 96x64, 20 frames, a keyframe every 5, with sound."""
    small = tmp_path / "small.mkv"
    subprocess.run([media.FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc=s=48x32:r=10:d=2", *first, str(small)], check=True)
    footage = tmp_path / "footage.mkv"
    lavfi = ["-f", "lavfi", "-i", "testsrc2=s=96x64:r=10:d=2", "-f", "lavfi", "-i", "sine=d=2"]
    subprocess.run([media.FFMPEG, "-v", "error", *lavfi, "-g", "5", "-c:v", "libx264", "-c:a", "aac", str(footage)], check=True)
    both = tmp_path / "two.mkv"
    maps = ["-map", "0:v", "-map", "1:v", "-map", "1:a", "-c", "copy", "-disposition:v:0", "0", "-disposition:v:1", "default"]
    subprocess.run([media.FFMPEG, "-v", "error", "-i", str(small), "-i", str(footage), *maps, str(both)], check=True)
    return both


@pytest.mark.parametrize(
    "first, segments",
    [
        (["-c:v", "libx264"], 0),  # a preview track, then the footage
        (["-frames:v", "1", "-c:v", "mjpeg"], 0),  # a one-frame thumbnail track (no cover mark), then the footage
        (["-c:v", "libx264"], 2),
    ],
)
def test_the_footage_is_deblurred_whichever_video_track_comes_first(tmp_path, identity_yaml, capsys, first, segments):
    # Every reader took the first video stream: a file with a thumbnail or preview track stored before the
    # footage came out as that track (a one-frame 32x32 video), the footage left out without a word
    src = _two_video_tracks(tmp_path, first)
    out = tmp_path / "out.mkv"
    argv = ["run", str(src), "-o", str(out), "--pipeline", str(identity_yaml)]
    assert main(argv + (["--segments", str(segments)] if segments else [])) == 0
    err = capsys.readouterr().err
    assert err.count("has 2 video streams: deblurring #1 (96x64 h264)") == 1, err
    assert "left out: #0 (48x32" in err, err
    info = media.probe(out)
    assert [(s["width"], s["height"]) for s in info["streams"] if s["codec_type"] == "video"] == [(96, 64)]
    assert [s["codec_type"] for s in info["streams"]].count("audio") == 1  # the footage's sound
    assert media.count_frames(out) == 20 and abs(float(info["format"]["duration"]) - 2.0) < 0.1
    # and `eval --video` scores it against the footage (it read the first track: 48x32 against 96x64)
    assert main(["eval", "--video", str(out), "--reference", str(src)]) == 0, capsys.readouterr().err


def test_a_music_file_with_album_art_is_said_to_have_no_video(tmp_path, capsys):
    # its cover picture came out as a one-frame "deblurred" video
    cover = _ffmpeg_clip(tmp_path / "cover.png", "-frames:v", "1")
    song = tmp_path / "song.m4a"
    args = ["-f", "lavfi", "-i", "sine=d=1", "-i", str(cover), "-map", "0", "-map", "1", "-c:a", "aac", "-c:v", "png"]
    subprocess.run([media.FFMPEG, "-v", "error", *args, "-disposition:v", "attached_pic", str(song)], check=True)
    assert main(["run", str(song), "-o", str(tmp_path / "out.mp4")]) == 3
    assert "no video stream in" in capsys.readouterr().err and not (tmp_path / "out.mp4").exists()
