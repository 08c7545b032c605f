"""Measure the machine this runs on: sustained MAC throughput and memory bandwidth.

- Peak MAC/s per dtype: a large matrix multiply (``torch.mm``, or
  ``torch._int_mm`` for int8) and a large 3x3 convolution; the profile's peak is
  the faster of the two.
- Bandwidth (bytes/s): a copy (``dst.copy_(src)``: bytes read + bytes written
  are counted, 2 x buffer) and a STREAM-style triad (``a = b + s * c``: 2 reads
  + 1 write, 3 x buffer) over buffers far larger than the last-level cache;
  the profile's bandwidth is the triad's, the one STREAM reports.
- Optional per-op-class ceilings: what a 3x3 conv, a 1x1 conv, a depthwise conv
  and a small FC layer attain (MAC/s), and an elementwise add (bytes/s).
Every figure is the median of repeated trials after warm-up, with its spread
((max - min) / median).
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F

from .errors import RooflineError
from .hardware import BYTES_PER_ELEMENT, Figure, HardwareProfile

TORCH_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "int8": torch.int8}


@dataclass(frozen=True)
class Measurement:
    """One measured rate: median of the trials, their spread, and what was timed."""

    value: float
    spread: float
    unit: str
    what: str
    trials: int

    def describe(self) -> str:
        return f"{self.what}: median of {self.trials} trials, spread {self.spread:.1%}"


@dataclass
class Budget:
    """How hard to measure: matrix size, conv size, bandwidth buffer, trials."""

    matmul_n: int
    conv_hw: int
    buffer_bytes: int
    trials: int
    warmup: int = 2

    @classmethod
    def for_mode(cls, quick: bool, llc_bytes: int | None, device: str) -> Budget:
        big = max(4 * (llc_bytes or 32 << 20), 64 << 20)
        if device == "cuda":
            return cls(8192 if not quick else 4096, 112, 1 << 30 if not quick else 256 << 20, 20 if not quick else 5)
        if quick:
            return cls(1024, 28, max(2 * (llc_bytes or 16 << 20), 32 << 20), 3, 1)
        return cls(2048, 56, big, 7)


@dataclass
class ProfileRun:
    """Everything one ``roofline profile`` run measured."""

    device: str
    peaks: dict[str, Measurement]
    peak_details: dict[str, dict[str, Measurement]]
    bandwidth: Measurement
    copy: Measurement
    ceilings: dict[str, Measurement] = field(default_factory=dict)
    machine: dict[str, object] = field(default_factory=dict)


def _llc_bytes() -> int | None:
    sizes = []
    for idx in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            text = (idx / "size").read_text().strip()
        except OSError:
            continue
        mult = {"K": 1024, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        try:
            sizes.append(int(text.rstrip("KMG")) * mult)
        except ValueError:
            pass
    return max(sizes) if sizes else None


def machine_facts(device: str, threads: int) -> dict[str, object]:
    """CPU model, cores, threads used, caches, GPU name, torch version, date."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    facts: dict[str, object] = {"cpu": cpu, "logical_cpus": os.cpu_count() or 0, "threads_used": threads,
                                "torch": str(torch.__version__), "python": platform.python_version(),
                                "os": platform.platform(), "date": date.today().isoformat()}
    llc = _llc_bytes()
    if llc:
        facts["last_level_cache_bytes"] = llc
    if device == "cuda":
        facts["gpu"] = torch.cuda.get_device_name(0)
        facts["gpu_memory_bytes"] = int(torch.cuda.get_device_properties(0).total_memory)
    return facts


def check_device(device: str) -> None:
    if device not in ("cpu", "cuda"):
        raise RooflineError(f"device must be cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise RooflineError("--device cuda: no CUDA GPU is available on this machine (torch "
                            f"{torch.__version__}, cuda {torch.version.cuda or 'not built'})")


def supported_dtypes(device: str) -> tuple[str, ...]:
    return ("fp32", "fp16", "bf16", "int8")


def _timer(device: str) -> Callable[[Callable[[], object], int, int], list[float]]:
    def run(fn: Callable[[], object], trials: int, warmup: int) -> list[float]:
        for _ in range(warmup):
            fn()
        times = []
        if device == "cuda":
            torch.cuda.synchronize()
            for _ in range(trials):
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                torch.cuda.synchronize()
                times.append(start.elapsed_time(end) / 1e3)
        else:
            for _ in range(trials):
                t0 = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t0)
        return times

    return run


def _rate(work: float, times: list[float], unit: str, what: str) -> Measurement:
    rates = [work / t for t in times if t > 0]
    med = statistics.median(rates)
    return Measurement(med, (max(rates) - min(rates)) / med, unit, what, len(rates))


def measure_matmul(device: str, dtype: str, b: Budget) -> Measurement:
    n, dev = b.matmul_n, torch.device(device)
    timer = _timer(device)
    if dtype == "int8":
        x = torch.randint(-128, 127, (n, n), dtype=torch.int8, device=dev)
        y = torch.randint(-128, 127, (n, n), dtype=torch.int8, device=dev)
        fn: Callable[[], object] = lambda: torch._int_mm(x, y)  # noqa: E731
        what = f"torch._int_mm {n}x{n}x{n} int8"
    else:
        x = torch.randn(n, n, device=dev, dtype=TORCH_DTYPES[dtype])
        y = torch.randn(n, n, device=dev, dtype=TORCH_DTYPES[dtype])
        fn = lambda: torch.mm(x, y)  # noqa: E731
        what = f"torch.mm {n}x{n}x{n} {dtype}"
    try:
        times = timer(fn, b.trials, b.warmup)
    except RuntimeError as e:
        raise RooflineError(f"dtype {dtype} is not supported for matrix multiplies on {device}: "
                            f"{str(e).splitlines()[0]}") from None
    return _rate(float(n) ** 3, times, "MAC/s", what)


def _conv_rate(device: str, dtype: str, b: Budget, cin: int, cout: int, k: int, groups: int, hw: int,
               label: str) -> Measurement:
    dev, dt = torch.device(device), TORCH_DTYPES[dtype]
    x = torch.randn(1, cin, hw, hw, device=dev, dtype=dt)
    w = torch.randn(cout, cin // groups, k, k, device=dev, dtype=dt)
    macs = float(cout * hw * hw * (cin // groups) * k * k)
    with torch.inference_mode():
        times = _timer(device)(lambda: F.conv2d(x, w, None, 1, k // 2, 1, groups), b.trials, b.warmup)
    return _rate(macs, times, "MAC/s", f"{label}: conv2d 1x{cin}x{hw}x{hw} -> {cout}, {k}x{k}, groups {groups}, {dtype}")


def measure_conv(device: str, dtype: str, b: Budget) -> Measurement:
    return _conv_rate(device, dtype, b, 256, 256, 3, 1, b.conv_hw, "large conv")


def measure_bandwidth(device: str, b: Budget) -> tuple[Measurement, Measurement]:
    """(triad, copy) in bytes/s over fp32 buffers of ``b.buffer_bytes`` each."""
    n = b.buffer_bytes // 4
    dev = torch.device(device)
    src, dst = torch.rand(n, device=dev), torch.empty(n, device=dev)
    c = torch.rand(n, device=dev)
    timer = _timer(device)
    copy = _rate(2.0 * 4 * n, timer(lambda: dst.copy_(src), b.trials, b.warmup), "B/s",
                 f"copy of {b.buffer_bytes / 2**20:.0f} MiB fp32 (read + write counted)")
    triad = _rate(3.0 * 4 * n, timer(lambda: torch.add(src, c, alpha=3.0, out=dst), b.trials, b.warmup),
                  "B/s", f"triad a = b + 3c over 3 x {b.buffer_bytes / 2**20:.0f} MiB fp32 (2 reads + 1 write)")
    return triad, copy


def measure_ceilings(device: str, dtype: str, b: Budget) -> dict[str, Measurement]:
    """Attainable MAC/s of the op classes a MobileNet is made of, and elementwise bytes/s."""
    hw = b.conv_hw
    out = {
        "conv2d": _conv_rate(device, dtype, b, 64, 64, 3, 1, hw, "3x3 conv"),
        "conv1x1": _conv_rate(device, dtype, b, 256, 256, 1, 1, hw // 2, "1x1 conv"),
        "dwconv2d": _conv_rate(device, dtype, b, 256, 256, 3, 256, hw, "depthwise 3x3 conv"),
    }
    dev, dt = torch.device(device), TORCH_DTYPES[dtype]
    x, w = torch.randn(1, 1280, device=dev, dtype=dt), torch.randn(1000, 1280, device=dev, dtype=dt)
    with torch.inference_mode():
        out["fc"] = _rate(1280.0 * 1000, _timer(device)(lambda: F.linear(x, w), b.trials * 5, b.warmup),
                          "MAC/s", f"small FC: linear 1x1280 -> 1000, {dtype}")
    a = torch.randn(1, 256, hw, hw, device=dev, dtype=dt)
    c = torch.randn_like(a)
    nbytes = 3.0 * a.numel() * a.element_size()
    with torch.inference_mode():
        out["elementwise"] = _rate(nbytes, _timer(device)(lambda: a + c, b.trials * 3, b.warmup), "B/s",
                                   f"elementwise add 1x256x{hw}x{hw} {dtype} (2 reads + 1 write)")
    return out


def profile_machine(device: str = "cpu", dtypes: tuple[str, ...] = ("fp32",), threads: int | None = None,
                    quick: bool = False, ceilings: bool = True,
                    progress: Callable[[str], None] | None = None, budget: Budget | None = None) -> ProfileRun:
    """Measure peak MAC/s per dtype, bandwidth and (optionally) per-op ceilings on ``device``."""
    check_device(device)
    for d in dtypes:
        if d not in BYTES_PER_ELEMENT:
            raise RooflineError(f"unknown dtype {d!r}; use one of {', '.join(BYTES_PER_ELEMENT)}")
    if threads is not None:
        if threads < 1:
            raise RooflineError(f"--threads must be a positive integer, got {threads}")
        torch.set_num_threads(threads)
    b = budget or Budget.for_mode(quick, _llc_bytes(), device)
    step = progress or (lambda _: None)
    peaks, details = {}, {}
    with torch.inference_mode():
        for d in dtypes:
            step(f"matmul {d}")
            mm = measure_matmul(device, d, b)
            det = {"matmul": mm}
            if d != "int8":
                step(f"conv {d}")
                det["conv"] = measure_conv(device, d, b)
            details[d] = det
            peaks[d] = max(det.values(), key=lambda m: m.value)
        step("bandwidth")
        triad, copy = measure_bandwidth(device, b)
        ceil = {}
        if ceilings:
            step("op ceilings")
            ceil = measure_ceilings(device, dtypes[0] if dtypes[0] != "int8" else "fp32", b)
    return ProfileRun(device, peaks, details, triad, copy, ceil, machine_facts(device, torch.get_num_threads()))


def to_profile(run: ProfileRun, name: str) -> HardwareProfile:
    """A hardware profile (the built-in schema) whose numbers are this run's measurements."""
    today = run.machine.get("date", date.today().isoformat())
    src = f"measured by roofline profile on {today}"
    peaks = {d: Figure(m.value, f"{src}: {m.describe()}", "measured") for d, m in run.peaks.items()}
    default = "fp32" if "fp32" in peaks else next(iter(peaks))
    if run.device == "cuda" and "fp16" in peaks:
        default = "fp16"
    desc = (f"{run.machine.get('gpu') or run.machine.get('cpu')} ({run.device}, "
            f"{run.machine.get('threads_used')} threads), measured")
    machine = dict(run.machine)
    machine["copy_bytes_per_s"] = float(f"{run.copy.value:.4g}")
    for d, det in run.peak_details.items():
        for k, m in det.items():
            machine[f"{k}_{d}_macs_per_s"] = float(f"{m.value:.4g}")
    ceilings = {k: float(f"{m.value:.4g}") for k, m in run.ceilings.items() if m.unit == "MAC/s"}
    if "elementwise" in run.ceilings:
        machine["elementwise_bytes_per_s"] = float(f"{run.ceilings['elementwise'].value:.4g}")
    return HardwareProfile(name=name, kind="gpu" if run.device == "cuda" else "cpu", description=desc,
                           default_dtype=default, peak_macs_per_s=peaks,
                           mem_bw_bytes_per_s=Figure(run.bandwidth.value, f"{src}: {run.bandwidth.describe()}",
                                                     "measured"),
                           machine=machine, ceilings_macs_per_s=ceilings)
