"""Peak MAC/s per dtype (a large matmul, a large 3x3 conv) and memory bandwidth (copy, STREAM triad)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..core.errors import RooflineError
from .budget import Budget
from .machine import TORCH_DTYPES, true_fp32
from .timing import PEAK_NOISY_SPREAD, Measurement, rate, steady_times


def measure_matmul(device: str, dtype: str, b: Budget) -> Measurement:
    n, dev = b.matmul_n, torch.device(device)
    if dtype == "int8":
        x = torch.randint(-128, 127, (n, n), dtype=torch.int8, device=dev)
        y = torch.randint(-128, 127, (n, n), dtype=torch.int8, device=dev)
        fn: Callable[[], object] = lambda: torch._int_mm(x, y)  # noqa: E731
        what = f"torch._int_mm {n}x{n}x{n} int8"
    else:
        x = torch.randn(n, n, device=dev, dtype=TORCH_DTYPES[dtype])
        y = torch.randn(n, n, device=dev, dtype=TORCH_DTYPES[dtype])
        fn = lambda: torch.mm(x, y)  # noqa: E731
        what = f"torch.mm {n}x{n}x{n} {dtype}" + (" (TF32 off)" if dtype == "fp32" and device == "cuda" else "")
    try:
        with true_fp32(device if dtype == "fp32" else "cpu"):
            times = steady_times(fn, b.trials, b.warmup, device, limit=PEAK_NOISY_SPREAD)
    except RuntimeError as e:
        raise RooflineError(f"dtype {dtype} is not supported for matrix multiplies on {device}: "
                            f"{str(e).splitlines()[0]}") from None
    return rate(float(n) ** 3, times, "MAC/s", what, PEAK_NOISY_SPREAD)


def _conv_rate(device: str, dtype: str, b: Budget, cin: int, cout: int, k: int, groups: int, hw: int,
               label: str) -> Measurement:
    dev, dt = torch.device(device), TORCH_DTYPES[dtype]
    x = torch.randn(1, cin, hw, hw, device=dev, dtype=dt)
    w = torch.randn(cout, cin // groups, k, k, device=dev, dtype=dt)
    macs = float(cout * hw * hw * (cin // groups) * k * k)
    with torch.inference_mode(), true_fp32(device if dtype == "fp32" else "cpu"):
        times = steady_times(lambda: F.conv2d(x, w, None, 1, k // 2, 1, groups), b.trials, b.warmup, device,
                             limit=PEAK_NOISY_SPREAD)
    tf32 = " (TF32 off)" if dtype == "fp32" and device == "cuda" else ""
    return rate(macs, times, "MAC/s", f"{label}: conv2d 1x{cin}x{hw}x{hw} -> {cout}, {k}x{k}, groups {groups}, "
                                       f"{dtype}{tf32}", PEAK_NOISY_SPREAD)


def measure_conv(device: str, dtype: str, b: Budget) -> Measurement:
    return _conv_rate(device, dtype, b, 256, 256, 3, 1, b.conv_hw, "large conv")


def measure_bandwidth(device: str, b: Budget) -> tuple[Measurement, Measurement]:
    """(triad, copy) in bytes/s over fp32 buffers of ``b.buffer_bytes`` each."""
    n = b.buffer_bytes // 4
    dev = torch.device(device)
    src, dst = torch.rand(n, device=dev), torch.empty(n, device=dev)
    c = torch.rand(n, device=dev)
    copy = rate(2.0 * 4 * n, steady_times(lambda: dst.copy_(src), b.trials, b.warmup, device), "B/s",
                f"copy of {b.buffer_bytes / 2**20:.0f} MiB fp32 (read + write counted)")
    triad_times = steady_times(lambda: torch.add(src, c, alpha=3.0, out=dst), b.trials, b.warmup, device)
    triad = rate(3.0 * 4 * n, triad_times, "B/s",
                 f"triad a = b + 3c over 3 x {b.buffer_bytes / 2**20:.0f} MiB fp32 (2 reads + 1 write)")
    return triad, copy


# The machine's speed at a moment: one fixed fp32 matmul, small enough to time in a tenth of a second
# after each model, large enough to be compute-bound. On a shared VM a model with no page faults
# (timm resnet34, one thread) ran 58-69 ms from one 3-minute round to the next, and the profile's peak
# moved 15 %: the same host drift shifts a profile and a validation made at different times.
REFERENCE_N = 384
REFERENCE_WHAT = f"torch.mm {REFERENCE_N}x{REFERENCE_N}x{REFERENCE_N} fp32 on cpu, median of 15 runs"


def reference_rate(runs: int = 15) -> float:
    """MAC/s of :data:`REFERENCE_WHAT` now, at this process's thread count (CPU only)."""
    import statistics
    import time

    n = REFERENCE_N
    x, y = torch.randn(n, n), torch.randn(n, n)
    start = time.perf_counter()
    warm = 0
    # warm-up, not counted: at least 3 runs and 0.1 s (the first run of a process at two threads, before its
    # thread pool and caches settle, took 24x a settled one)
    while warm < 3 or time.perf_counter() - start < 0.1:
        torch.mm(x, y)
        warm += 1
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        torch.mm(x, y)
        times.append(time.perf_counter() - t0)
    return float(n) ** 3 / statistics.median(times)
