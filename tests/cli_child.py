"""Run the real ``streamdeblur`` command (``streamdeblur.cli.main``) in a child process, with what a
test needs to observe or constrain it from outside:

* ``--announce-writes``: print ``written N`` on stdout (flushed) after the sink wrote frame N, so a
  test sends its signal after real progress instead of after a guessed sleep;
* ``--address-space-mib M``: after start-up (imports, a warmed thread pool), limit the address space
  to what is mapped then plus M MiB (``RLIMIT_AS``): allocations past it fail for real, as
  ``DefaultCPUAllocator: can't allocate memory``;
* ``--disk-full``: every video file is written through a link to ``/dev/full`` (its temporary file
  is that link): each write fails with ENOSPC, as on a full disk.

Usage: python cli_child.py [--announce-writes] [--address-space-mib M] [--disk-full] -- streamdeblur-arguments...
"""

from __future__ import annotations

import argparse
import resource
import sys


def mapped_bytes() -> int:
    """This process's mapped address space (``VmSize``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def announce_writes() -> None:
    from streamdeblur.io.sinks.video import VideoSink

    write = VideoSink.write

    def announcing(self, frame):
        write(self, frame)
        print(f"written {frame.index}", flush=True)

    VideoSink.write = announcing


def disk_full() -> None:
    from streamdeblur.io.sinks import video

    def full(path):
        link = path.with_name(f"{path.stem}.full.partial{path.suffix}")
        link.symlink_to("/dev/full")
        return link

    video.temporary_path = full


def limit_address_space(extra_mib: int) -> None:
    import torch

    # what a run loads (PyAV, OpenCV, the engine, the stages), mapped before the limit: building the
    # parser no longer imports them (tests/cli/test_startup.py)
    import streamdeblur.engine.build  # noqa: F401
    import streamdeblur.scaleout.plan  # noqa: F401

    torch.nn.functional.conv2d(torch.rand(1, 3, 16, 16), torch.rand(3, 3, 3, 3))  # thread pool and allocator started
    limit = mapped_bytes() + extra_mib * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--announce-writes", action="store_true")
    ap.add_argument("--address-space-mib", type=int)
    ap.add_argument("--disk-full", action="store_true")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    opts = ap.parse_args()
    args = opts.args[1:] if opts.args[:1] == ["--"] else opts.args
    from streamdeblur.cli import main as cli_main

    if opts.announce_writes:
        announce_writes()
    if opts.disk_full:
        disk_full()
    if opts.address_space_mib:
        limit_address_space(opts.address_space_mib)
    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
