"""Fuzz driver: seeded hostile inputs through ``streamdeblur``'s ``main(argv)`` in one process
(amortising start-up), each case under a 30 s alarm; prints one JSON line per case.

Families (``FAMILY`` argument):

* ``video`` — byte mutations of a small valid MP4 (flip, overwrite, truncate, zero, splice, insert);
* ``yaml`` — mutations of the shipped pipelines: text edits, YAML syntax, wrong keys, hostile values
  (wrong types, huge/negative numbers, Python tags, aliases), bytes that are not UTF-8;
* ``weights`` — checkpoints: byte mutations of a real one, and well-formed files holding the wrong
  thing (missing/extra keys, wrong shapes and dtypes, non-finite values, wrong containers, pickled code);
* ``images`` — image-folder inputs with damaged, empty, mislabelled, odd-format or odd-size files;
* ``argv`` — command lines: every option of ``run`` and ``batch`` with values drawn from a hostile pool.

Usage: python fuzz_driver.py FAMILY WORKDIR COUNT [SEED]
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import shutil
import signal
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from streamdeblur.cli import main

TIMEOUT = 30
SHIPPED = Path(__file__).parents[2] / "pipelines"


class Hang(Exception):
    pass


def write_clip(path: Path, frames: int = 2, size: tuple[int, int] = (32, 24), audio: bool = False) -> Path:
    """A tiny H.264 clip (and AAC when ``audio``)."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=24)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.options = {"preset": "ultrafast"}
        a = c.add_stream("aac", rate=48000) if audio else None
        for i in range(frames):
            img = np.full((size[1], size[0], 3), 40 * i % 256, np.uint8)
            img[:, : size[0] // 2] = 200
            vf = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            vf.pts, vf.time_base = i, Fraction(1, 24)
            for p in s.encode(vf):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
        if a is not None:
            af = av.AudioFrame.from_ndarray(np.zeros((1, 2048), np.float32), format="fltp", layout="mono")
            af.sample_rate, af.pts = 48000, 0
            for p in list(a.encode(af)) + list(a.encode(None)):
                c.mux(p)
    return path


def mutate_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    b = bytearray(data)
    kind = rng.choice(["flip", "bytes", "truncate", "zero", "splice", "insert"])
    if kind == "flip":
        for _ in range(rng.randint(1, 20)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == "bytes":
        for _ in range(rng.randint(1, 50)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind == "truncate":
        b = b[: rng.randrange(1, len(b))]
    elif kind == "zero":
        i = rng.randrange(len(b))
        n = rng.randint(1, 4096)
        b[i : i + n] = bytes(min(n, len(b) - i))
    elif kind == "splice":
        i, j = sorted(rng.randrange(len(b)) for _ in range(2))
        b = b[:i] + b[j:]
    else:
        i = rng.randrange(len(b))
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 256)))
    return bytes(b), kind


# -- families: each returns (argv, kind) for one case ------------------------------------------------


class Family:
    def __init__(self, work: Path, rng: random.Random) -> None:
        self.work, self.rng = work, rng
        self.clip = write_clip(work / "seed.mp4", audio=True)
        self.identity = work / "identity.yaml"
        self.identity.write_text("batch: 4\nstages:\n  - identity\noutput:\n  preset: ultrafast\n")

    def out(self, case: int, suffix: str = ".mp4") -> Path:
        return self.work / f"out{case:03d}{suffix}"


class VideoFamily(Family):
    def __init__(self, work, rng):
        super().__init__(work, rng)
        self.data = write_clip(work / "video-seed.mp4", frames=12, size=(96, 64), audio=True).read_bytes()

    def case(self, case: int):
        blob, kind = mutate_bytes(self.data, self.rng)
        inp = self.work / f"case{case:03d}.mp4"
        inp.write_bytes(blob)
        return ["run", str(inp), "-o", str(self.out(case)), "--pipeline", str(self.identity), "--overwrite"], kind


KEYS = ["stages", "output", "batch", "device", "threads", "bf16", "strict", "preview", "description", "tile", "overlap"]
KEYS += ["model", "weights", "feather", "max_tiles", "max_pixels", "kernel_size", "codec", "crf", "preset", "audio", "tiles"]
VALUES = ["-1", "0", "1", "3", "1e309", "-1e309", ".nan", "''", "[]", "{}", "null", "~", "true", "no", "huge", "99999999999"]
VALUES += ["!!python/object/apply:os.system ['true']", "!!binary aGVsbG8=", "&a [*a]", "*undefined", "cuda:7", "deeprftv2-b"]
VALUES += ["identity", "[identity, identity]", "{deblur: {tile: 16}}", "'\\x00'", "2147483648", "0x10", "1_000", "@"]
SYNTAX = list(":-[]{}!&*#|>'\"\n \t,?%@`") + ["\n  - ", ": ", "---\n", "...\n", "\ufeff", "\t"]


class YamlFamily(Family):
    def __init__(self, work, rng):
        super().__init__(work, rng)
        self.bases = [p.read_text() for p in sorted(SHIPPED.glob("*.yaml"))] + [self.identity.read_text()]

    def case(self, case: int):
        rng = self.rng
        text = rng.choice(self.bases)
        lines = text.splitlines()
        kind = rng.choice(["value", "key", "syntax", "delete", "duplicate", "indent", "bytes", "stage"])
        i = rng.randrange(len(lines))
        if kind == "value":
            line = lines[i]
            head = line.split(":", 1)[0] if ":" in line else line
            lines[i] = f"{head}: {rng.choice(VALUES)}"
        elif kind == "key":
            lines.insert(i, " " * rng.choice([0, 2, 4, 6]) + f"{rng.choice(KEYS)}: {rng.choice(VALUES)}")
        elif kind == "syntax":
            line = lines[i]
            j = rng.randrange(len(line) + 1)
            lines[i] = line[:j] + "".join(rng.choice(SYNTAX) for _ in range(rng.randint(1, 4))) + line[j:]
        elif kind == "delete":
            del lines[i : i + rng.randint(1, 3)]
        elif kind == "duplicate":
            lines.insert(i, lines[i])
        elif kind == "indent":
            lines[i] = " " * rng.randint(1, 5) + lines[i]
        elif kind == "stage":
            lines = ["stages:", f"  - {rng.choice(['deblur', 'defocus', 'nope', 'identity', 'kernel_overlay', 'compare'])}:"]
            lines += [f"      {rng.choice(KEYS)}: {rng.choice(VALUES)}" for _ in range(rng.randint(1, 3))]
        data = "\n".join(lines).encode()
        if kind == "bytes":
            data, _ = mutate_bytes(data, rng)
        path = self.work / f"case{case:03d}.yaml"
        path.write_bytes(data)
        return ["run", str(self.clip), "-o", str(self.out(case)), "--pipeline", str(path), "--overwrite"], kind


class _Evil:
    def __reduce__(self):
        return (print, ("code ran from a checkpoint",))


class WeightsFamily(Family):
    MODEL = "deeprftv2-rt"

    def __init__(self, work, rng):
        super().__init__(work, rng)
        import torch

        from streamdeblur.models import create_model, save_weights

        self.torch = torch
        self.good = work / "good.pt"
        save_weights(create_model(self.MODEL), self.good)
        self.data = self.good.read_bytes()
        self.sd = {k: v.clone() for k, v in torch.load(self.good, weights_only=True)["params"].items()}
        self.pipeline = work / "model.yaml"
        self.pipeline.write_text(f"batch: 1\nstages:\n  - deblur:\n      model: {self.MODEL}\noutput:\n  preset: ultrafast\n")

    def structured(self, kind: str):
        torch, rng = self.torch, self.rng
        sd = dict(self.sd)
        key = rng.choice(sorted(sd))
        if kind == "missing":
            del sd[key]
        elif kind == "extra":
            sd["extra.weight"] = torch.zeros(3)
        elif kind == "shape":
            sd[key] = torch.zeros(*[d + rng.choice([-1, 1]) for d in sd[key].shape] or [2])
        elif kind == "dtype":
            sd[key] = sd[key].to(rng.choice([torch.int64, torch.bool, torch.complex64, torch.uint8]))
        elif kind == "nonfinite":
            t = sd[key].float().clone()
            t.view(-1)[rng.randrange(t.numel())] = rng.choice([float("nan"), float("inf"), -float("inf")])
            sd[key] = t
        elif kind == "not-tensor":
            sd[key] = rng.choice([[1, 2, 3], "tensor", 3.5, None, {"a": 1}])
        elif kind == "container":
            return rng.choice([[sd], (1, 2), "weights", 42, None, {}, {"params": None}, {"state_dict": []}, {"params_ema": {}}])
        elif kind == "pickle":
            return {"params": sd, "x": _Evil()}
        return {rng.choice(["params", "params_ema", "state_dict", "model"]): sd}

    def case(self, case: int):
        rng = self.rng
        path = self.work / f"case{case:03d}.pt"
        kind = rng.choice(
            ["bytes", "bytes", "missing", "extra", "shape", "dtype", "nonfinite", "not-tensor", "container", "pickle"]
        )
        if kind == "bytes":
            blob, kind = mutate_bytes(self.data, rng)
            path.write_bytes(blob)
        else:
            self.torch.save(self.structured(kind), path)
        argv = ["run", str(self.clip), "-o", str(self.out(case)), "--pipeline", str(self.pipeline), "--weights", str(path)]
        return argv + ["--overwrite"], kind


class ImagesFamily(Family):
    def case(self, case: int):
        rng = self.rng
        folder = self.work / f"frames{case:03d}"
        folder.mkdir()
        ext = rng.choice([".png", ".jpg"])
        n = rng.randint(1, 4)
        for i in range(n):
            img = np.full((24, 32, 3), 60 * i % 256, np.uint8)
            cv2.imwrite(str(folder / f"f{i:03d}{ext}"), img)
        victim = folder / f"f{rng.randrange(n):03d}{ext}"
        kind = rng.choice(["bytes", "bytes", "empty", "text", "size", "gray", "deep", "alpha", "tiny", "mislabel", "dir", "none"])
        if kind == "bytes":
            blob, kind = mutate_bytes(victim.read_bytes(), rng)
            victim.write_bytes(blob)
        elif kind == "empty":
            victim.write_bytes(b"")
        elif kind == "text":
            victim.write_text("not an image\n")
        elif kind == "size":
            cv2.imwrite(str(victim), np.zeros((rng.randint(1, 64), rng.randint(1, 64), 3), np.uint8))
        elif kind == "gray":
            cv2.imwrite(str(victim), np.zeros((24, 32), np.uint8))
        elif kind == "deep":
            cv2.imwrite(str(victim.with_suffix(".png")), np.full((24, 32, 3), 40000, np.uint16))
            if ext != ".png":
                victim.unlink()
        elif kind == "alpha":
            cv2.imwrite(str(victim.with_suffix(".png")), np.zeros((24, 32, 4), np.uint8))
            if ext != ".png":
                victim.unlink()
        elif kind == "tiny":
            cv2.imwrite(str(victim), np.zeros((1, 1, 3), np.uint8))
        elif kind == "mislabel":
            cv2.imwrite(str(victim.with_suffix(".bmp")), np.zeros((24, 32, 3), np.uint8))
            victim.unlink()
            victim.with_suffix(".bmp").rename(victim)
        elif kind == "dir":
            victim.unlink()
            victim.mkdir()
        elif kind == "none":
            for f in folder.iterdir():
                f.unlink()
        out = self.out(case, rng.choice([".mp4", ""]))
        fps = rng.choice(["25", "0", "-3", "1e-9", "nan", "inf", "30000"])
        return ["run", str(folder), "-o", str(out), "--fps", fps, "--pipeline", str(self.identity), "--overwrite"], kind


INTS = ["-1", "0", "1", "2", "7", "255", "2147483648", "10**9", "x", "", "1.5", "-0", "nan", "1e3", " 3"]
FLOATS = ["-1", "0", "1e-9", "0.5", "nan", "inf", "-inf", "1e308", "x", ""]
STRINGS = ["", "x", "auto", "cpu", "cuda", "cuda:9", "libx264", "libaom-av1", "ultrafast", "../..", "/dev/null", "-", "motion"]
OPTIONS = {
    "--tile": INTS,
    "--overlap": INTS,
    "--batch": INTS,
    "--threads": INTS,
    "--crf": INTS,
    "--segments": INTS,
    "--retries": INTS,
    "--workers": INTS,
    "--worker-nice": INTS,
    "--segment-seconds": FLOATS,
    "--fps": FLOATS,
    "--device": STRINGS,
    "--codec": STRINGS,
    "--preset": STRINGS,
    "--model": STRINGS + ["deeprftv2-rt", "fdikp"],
    "--weights": STRINGS + ["default", "none"],
    "--pipeline": STRINGS + ["identity.yaml", "defocus"],
    "--executor": ["local", "spark", ""],
    "--suffix": [".mp4", ".mkv", "", ".txt", "mp4", ".avi"],
}
FLAGS = ["--no-audio", "--strict", "--overwrite", "--remove-partial", "--bf16", "--no-bf16", "--debug-nope", "-o"]


class ArgvFamily(Family):
    def case(self, case: int):
        rng = self.rng
        command = rng.choice(["run", "batch"])
        out = self.out(case)
        argv = ["run", str(self.clip), "-o", str(out)] if command == "run" else ["batch", str(self.clip), "--out-dir", str(out)]
        argv += ["--pipeline", str(self.identity)]
        for _ in range(rng.randint(1, 4)):
            if rng.random() < 0.2:
                argv.append(rng.choice(FLAGS))
                continue
            opt = rng.choice(sorted(OPTIONS))
            if command == "run" and opt == "--suffix":
                continue
            if opt == "--executor":
                continue  # the Ray executor starts a cluster: its bad values are covered by the test of --executor choices
            value = rng.choice(OPTIONS[opt])
            if value == "identity.yaml":
                value = str(self.identity)
            argv += [opt, value]
        if rng.random() < 0.1:
            argv.insert(rng.randrange(len(argv) + 1), rng.choice(["--", "-", "--nope", "run", "?"]))
        return argv, " ".join(a for a in argv if a.startswith("-"))


FAMILIES = {"video": VideoFamily, "yaml": YamlFamily, "weights": WeightsFamily, "images": ImagesFamily, "argv": ArgvFamily}


def run_case(argv: list[str]) -> tuple[object, str]:
    """``main(argv)`` with a time limit; returns (exit code or what went wrong, stderr)."""
    err = io.StringIO()
    signal.alarm(TIMEOUT)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
    except Hang:
        code = "hang"
    except SystemExit as exc:  # argparse: usage errors exit 2 after one "error:" line
        code = exc.code if isinstance(exc.code, int) else f"SystemExit {exc.code!r}"
    except BaseException as exc:  # noqa: BLE001 - the driver reports it
        code = f"exception {type(exc).__name__}: {exc}"
    finally:
        signal.alarm(0)
    return code, err.getvalue()


def main_fuzz() -> None:
    family, work, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1234
    rng = random.Random(seed)

    def on_alarm(signum, frame):
        raise Hang()

    signal.signal(signal.SIGALRM, on_alarm)
    fam = FAMILIES[family](work, rng)
    for case in range(count):
        argv, kind = fam.case(case)
        code, stderr = run_case(argv)
        print(json.dumps({"case": case, "kind": kind, "argv": argv, "code": code, "stderr": stderr[-2000:]}), flush=True)
        for p in work.glob(f"*{case:03d}*"):
            shutil.rmtree(p) if p.is_dir() else p.unlink()


if __name__ == "__main__":
    main_fuzz()
