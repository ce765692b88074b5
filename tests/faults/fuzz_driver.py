"""Fuzz driver: feed seeded byte mutations of a small valid mp4 through ``streamdeblur run`` in one
process (amortising start-up), each case under a 30 s alarm; prints one JSON line per case.

Usage: python fuzz_driver.py SEED_FILE WORKDIR COUNT [SEED]
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import signal
import sys
from pathlib import Path

from streamdeblur.cli import main

TIMEOUT = 30


class Hang(Exception):
    pass


def mutate(data: bytes, rng: random.Random) -> bytes:
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


def main_fuzz() -> None:
    seed_file, work, count = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1234
    data = seed_file.read_bytes()
    rng = random.Random(seed)
    yaml = work / "identity.yaml"
    yaml.write_text("batch: 4\nstages:\n  - identity\noutput:\n  preset: ultrafast\n")

    def on_alarm(signum, frame):
        raise Hang()

    signal.signal(signal.SIGALRM, on_alarm)
    for case in range(count):
        blob, kind = mutate(data, rng)
        inp = work / f"case{case:03d}.mp4"
        inp.write_bytes(blob)
        out = work / f"out{case:03d}.mp4"
        err = io.StringIO()
        signal.alarm(TIMEOUT)
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main(["run", str(inp), "-o", str(out), "--pipeline", str(yaml), "--overwrite"])
        except Hang:
            code = "hang"
        except BaseException as exc:  # noqa: BLE001 - the driver reports it
            code = f"exception {type(exc).__name__}: {exc}"
        finally:
            signal.alarm(0)
        print(json.dumps({"case": case, "kind": kind, "code": code, "stderr": err.getvalue()[-2000:]}), flush=True)
        inp.unlink()
        for f in (out, out.with_name(out.stem + ".partial.mp4")):
            f.unlink(missing_ok=True)


if __name__ == "__main__":
    main_fuzz()
