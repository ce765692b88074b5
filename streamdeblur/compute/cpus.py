"""How many CPUs this process may really use: the affinity mask and the cgroup CPU quota.

``os.cpu_count()`` counts the machine's cores. A process pinned by ``taskset``/Slurm, or in a container
with a CPU quota (Docker ``--cpus``, Kubernetes limits), may use fewer; a thread pool sized to the
machine then oversubscribes: threads wait for each other and the quota throttles the whole process.

* affinity: ``os.sched_getaffinity(0)`` (the cores the scheduler may run us on);
* quota: cgroup v2 ``cpu.max`` (``"max 100000"`` or ``"150000 100000"``: quota and period in µs) of
  this process's cgroup and every parent, and cgroup v1 ``cpu.cfs_quota_us``/``cpu.cfs_period_us``;
  the smallest quota wins, rounded down (a pool wider than the quota gets throttled), at least 1.

Example:
    >>> cpus = usable_cpus()
    >>> cpus.count >= 1
    True
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


@dataclass(frozen=True)
class UsableCpus:
    """CPUs this process may use, and why.

    Attributes:
        count: threads worth running: min(affinity, floor(quota)), at least 1.
        online: the machine's cores (``os.cpu_count()``).
        affinity: cores in the affinity mask.
        quota: the cgroup CPU quota in CPUs, or None when there is none.
    """

    count: int
    online: int
    affinity: int
    quota: float | None

    def describe(self) -> str:
        """One line for ``streamdeblur info``."""
        quota = "none" if self.quota is None else f"{self.quota:g} CPUs"
        return f"{self.count} (affinity {self.affinity} of {self.online} cores, cgroup quota {quota})"


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _v2_quota(directory: Path) -> float | None:
    text = _read(directory / "cpu.max")
    if not text:
        return None
    parts = text.split()
    if parts[0] == "max" or len(parts) != 2:
        return None
    try:
        quota, period = int(parts[0]), int(parts[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _v1_quota(directory: Path) -> float | None:
    try:
        quota = int(_read(directory / "cpu.cfs_quota_us") or "-1")
        period = int(_read(directory / "cpu.cfs_period_us") or "0")
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _up(start: Path, stop: Path):
    """``start`` and its parents down to ``stop`` (both included)."""
    d = start
    while True:
        yield d
        if d == stop or d.parent == d:
            return
        d = d.parent


def cgroup_cpu_quota(proc_cgroup: Path = PROC_CGROUP, root: Path = CGROUP_ROOT) -> float | None:
    """The smallest CPU quota (in CPUs) on this process's cgroup path, v2 or v1; None when unlimited.

    Args:
        proc_cgroup: the process's cgroup membership (``/proc/self/cgroup``).
        root: where the cgroup file systems are mounted (``/sys/fs/cgroup``).

    Returns:
        quota / period of the tightest limit found, or None.
    """
    text = _read(proc_cgroup)
    if text is None:
        return None
    limits: list[float] = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        rel = rel.lstrip("/")
        if controllers == "":  # cgroup v2 (unified); on hybrid systems it is mounted at root/unified
            for base in (root, root / "unified"):
                for d in _up(base / rel, base):
                    q = _v2_quota(d)
                    if q is not None:
                        limits.append(q)
        elif "cpu" in controllers.split(","):
            for base in {root / controllers, root / "cpu"}:
                for d in _up(base / rel, base):
                    q = _v1_quota(d)
                    if q is not None:
                        limits.append(q)
    return min(limits) if limits else None


def usable_cpus(proc_cgroup: Path = PROC_CGROUP, root: Path = CGROUP_ROOT) -> UsableCpus:
    """CPUs worth a thread each for this process (see the module docstring).

    Args:
        proc_cgroup: the process's cgroup membership file (a test passes a fake one).
        root: the cgroup mount point (a test passes a fake tree).

    Returns:
        :class:`UsableCpus`.
    """
    online = os.cpu_count() or 1
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else online
    quota = cgroup_cpu_quota(proc_cgroup, root)
    count = affinity if quota is None else min(affinity, max(1, math.floor(quota)))
    return UsableCpus(max(1, count), online, affinity, quota)


def cpu_model_name() -> str:
    """The processor's model name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_description() -> str:
    """Which CPU and vector ISA this process computes on (float results differ in the last bits
    between e.g. AVX-512 and AVX2 machines, and speed by ~4×): model name, PyTorch's kernel ISA,
    native bf16, usable CPUs."""
    import torch

    name = cpu_model_name()
    isa = torch.backends.cpu.get_cpu_capability()
    amx = bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)())
    avx512_bf16 = bool(getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)())
    yes = {True: "yes", False: "no"}
    cores = usable_cpus().count
    return f"cpu: {name}; torch ISA {isa}; AMX {yes[amx]}; AVX-512 BF16 {yes[avx512_bf16]}; {cores} usable cores"
