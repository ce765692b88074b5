"""Threads from the CPUs this process may use (issue 17, item 3): affinity mask and cgroup quota."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamdeblur.compute.cpus import cgroup_cpu_quota, usable_cpus


def _tree(tmp_path: Path, membership: str, files: dict[str, str]) -> tuple[Path, Path]:
    proc = tmp_path / "cgroup"
    proc.write_text(membership)
    root = tmp_path / "fs"
    for rel, text in files.items():
        f = root / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
    return proc, root


@pytest.mark.parametrize(
    "membership,files,quota",
    [
        ("0::/\n", {"cpu.max": "max 100000\n"}, None),  # v2, no limit
        ("0::/\n", {"cpu.max": "150000 100000\n"}, 1.5),  # docker --cpus 1.5, cgroup namespace
        ("0::/kubepods/pod1/c1\n", {"kubepods/cpu.max": "400000 100000", "kubepods/pod1/c1/cpu.max": "max 100000"}, 4.0),
        ("0::/a/b\n", {"a/cpu.max": "300000 100000", "a/b/cpu.max": "100000 50000"}, 2.0),  # the tightest wins
        (
            "4:cpu,cpuacct:/slurm/job7\n0::/\n",
            {"cpu,cpuacct/slurm/job7/cpu.cfs_quota_us": "300000", "cpu,cpuacct/slurm/job7/cpu.cfs_period_us": "100000"},
            3.0,
        ),
        ("1:cpu:/x\n", {"cpu/x/cpu.cfs_quota_us": "-1", "cpu/x/cpu.cfs_period_us": "100000"}, None),  # v1, unlimited
        ("0::/\n", {"cpu.max": "garbage"}, None),
    ],
)
def test_cgroup_quota_from_a_fake_tree(tmp_path, membership, files, quota):
    proc, root = _tree(tmp_path, membership, files)
    assert cgroup_cpu_quota(proc, root) == quota


def test_quota_below_the_affinity_limits_the_threads(tmp_path):
    proc, root = _tree(tmp_path, "0::/\n", {"cpu.max": "150000 100000\n"})
    cpus = usable_cpus(proc, root)
    assert cpus.quota == 1.5
    assert cpus.count == 1  # rounded down: a second thread would be throttled half the time
    assert "cgroup quota 1.5 CPUs" in cpus.describe()
    assert usable_cpus(tmp_path / "missing", root).quota is None


CHILD = """
import torch
from streamdeblur.compute.runtime import configure
configure(torch.device("cpu"))
print(torch.get_num_threads())
"""


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to pin a child to one")
def test_a_process_pinned_to_one_cpu_runs_one_model_thread_and_info_says_why():
    env = {**{k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}, "COLUMNS": "250"}
    one = {min(os.sched_getaffinity(0))}

    def pinned(*args):
        return subprocess.run(
            [sys.executable, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            preexec_fn=lambda: os.sched_setaffinity(0, one),
        )

    proc = pinned("-c", CHILD)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] == "1"
    info = pinned("-m", "streamdeblur", "info")
    assert info.returncode == 0, info.stderr
    text = " ".join(info.stdout.split())
    assert f"usable CPUs 1 (affinity 1 of {os.cpu_count()} cores" in text and "model threads 1" in text
