"""Know the machine: its measured fp32 / bf16 matmul rates and bf16 matrix units, once per process.

Every benchmark prints machine_line() and states its result as a share of the matching
limit (a training-shaped 2048 x 576 x 1536 matmul on the threads torch uses).
"""

from __future__ import annotations

import functools
import os
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class MachineRates:
    """Measured matmul GFLOP/s and the CPU's bf16 features."""

    fp32_gflops: float
    bf16_gflops: float
    amx_bf16: bool
    avx512_bf16: bool
    threads: int
    cpus: int

    def limit(self, dtype: str) -> float:
        """The matmul rate (GFLOP/s) of a compute dtype: float32 | bfloat16."""
        return self.bf16_gflops if dtype in ("bfloat16", "bf16") else self.fp32_gflops


def cpu_flags() -> set[str]:
    """The CPU feature flags of /proc/cpuinfo (empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo") as fh:
            return set(next((ln for ln in fh if ln.startswith("flags")), "").split())
    except OSError:
        return set()


def _gflops(dtype_name: str, seconds: float) -> float:
    import torch

    dt = getattr(torch, dtype_name)
    a = torch.randn(2048, 576).to(dt)
    b = torch.randn(576, 1536).to(dt)
    for _ in range(3):
        a @ b
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        n += 1
    return 2 * 2048 * 576 * 1536 * n / (time.perf_counter() - t0) / 1e9


MEASURE_SECONDS = 1.5  # per dtype


@functools.cache
def machine_rates() -> MachineRates:
    """fp32 and bf16 matmul GFLOP/s of this process (measured once, cached) and the bf16 units."""
    import torch

    seconds = MEASURE_SECONDS
    flags = cpu_flags()
    return MachineRates(fp32_gflops=_gflops("float32", seconds),
                        bf16_gflops=_gflops("bfloat16", seconds),
                        amx_bf16="amx_bf16" in flags, avx512_bf16="avx512_bf16" in flags,
                        threads=torch.get_num_threads(), cpus=os.cpu_count() or 1)


def machine_line() -> str:
    """One line every benchmark prints: matmul limits, bf16 units, threads and load."""
    r = machine_rates()
    try:
        with open("/proc/loadavg") as fh:
            load = " ".join(fh.read().split()[:3])
    except OSError:
        load = "?"
    units = ("AMX-BF16" if r.amx_bf16 else "no AMX") + ", " + (
        "AVX512-BF16" if r.avx512_bf16 else "no AVX512-BF16")
    return (f"machine: {r.cpus} CPUs ({units}), {r.threads} torch thread(s), load {load}; "
            f"matmul limit fp32 {r.fp32_gflops:.0f} GFLOP/s, bf16 {r.bf16_gflops:.0f} GFLOP/s "
            f"(bf16/fp32 {r.bf16_gflops / r.fp32_gflops:.2f}x)")


def proc_status_bytes(key: str) -> int:
    """A /proc/self/status field in bytes (VmRSS: resident now, VmHWM: resident peak); -1
    where there is no such file (not Linux)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return -1


def proc_status_mib(key: str) -> int:
    """proc_status_bytes in MiB (-1 when unknown)."""
    b = proc_status_bytes(key)
    return b // 2**20 if b >= 0 else -1
