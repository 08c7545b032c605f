"""Measure the machine this runs on: sustained MAC throughput and memory bandwidth.

- Peak MAC/s per dtype: a large matrix multiply (``torch.mm``, or
  ``torch._int_mm`` for int8) and a large 3x3 convolution; the profile's peak is
  the faster of the two.
- Bandwidth (bytes/s): a copy (``dst.copy_(src)``: bytes read + bytes written
  are counted, 2 x buffer) and a STREAM-style triad (``a = b + s * c``: 2 reads
  + 1 write, 3 x buffer) over buffers far larger than the last-level cache;
  the profile's bandwidth is the triad's, the one STREAM reports.
- Per-op-class ceilings at a batch size (``--batch``, default 1): each class
  (dense 3x3 conv, 1x1 conv, depthwise conv, FC, batch norm, activation, add,
  pooling) runs as an ``nn.Module`` over a grid of generic shapes (not the zoo's
  layers), and ``seconds = fixed + work / rate`` is fitted per class (least
  squares on relative error): the rate is the class's ceiling (MAC/s, or bytes/s
  for memory-only classes), the fixed part its per-kernel cost.
- Overheads (``overhead`` block): the eager per-kernel cost (the class's fixed
  part plus what a generic synthetic network costs beyond its ops run alone,
  spread over its kernels), on CUDA the per-kernel cost under CUDA-graph replay,
  the per-inference cost of one call (and, on CUDA, one synchronisation), and on
  CPU the cost of memory fresh from the OS per byte (page faults).
Every figure is the median of repeated trials after warm-up, with its spread
(interquartile range / median); a figure spread by more than 20 % is measured
again with more trials and, if still noisy, flagged.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ProfileError, RooflineError
from ..hardware import BYTES_PER_ELEMENT, Ceilings, Figure, HardwareProfile, KernelCost, Overhead
from .timing import NOISY_SPREAD, Measurement, cuda_graph, fixed_cost, rate, seconds, spread, steady_times

CPU_BUFFER_CAP = 96 << 20  # bytes per bandwidth buffer on a CPU

# A figure spread by more than this (interquartile range over median) after the extra trials says
# little about the machine: a profile made from it was 2-3x off on a loaded machine
UNUSABLE_SPREAD = 1.0

TORCH_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "int8": torch.int8}


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
        # three buffers of at most CPU_BUFFER_CAP keep the run within 1 GB of memory. VMs report the
        # host's whole L3 (272 MB here) though one core complex holds far less: on this 2-core VM,
        # triad over 3 x 96 MiB gave 29-30 GB/s, over 3 x 1 GiB 28.3 GB/s
        if quick:
            return cls(1024, 28, min(max(2 * (llc_bytes or 16 << 20), 32 << 20), CPU_BUFFER_CAP), 3, 1)
        return cls(2048, 56, min(big, CPU_BUFFER_CAP), 7)


@dataclass(frozen=True)
class ClassFit:
    """One op class at one batch size: ``seconds = fixed_s + work / rate`` over generic shapes."""

    op: str
    batch: int
    rate: float          # MAC/s, or bytes/s for memory-only classes
    unit: str
    fixed_s: float       # the per-kernel cost of this class
    shapes: int
    median_fit_error: float   # median |fitted / measured - 1| over the shapes
    spread: float             # the second largest spread of the shapes' timings: one stray shape of
                              # ~10 (101 % once on a quiet CI machine) neither flags nor refuses a class


@dataclass
class ProfileRun:
    """Everything one ``roofline profile`` run measured."""

    device: str
    peaks: dict[str, Measurement]
    peak_details: dict[str, dict[str, Measurement]]
    bandwidth: Measurement
    copy: Measurement
    ceilings: dict[int, dict[str, ClassFit]] = field(default_factory=dict)   # batch -> op class -> fit
    overhead: dict[str, Measurement] = field(default_factory=dict)  # eager, graph, inference, in_context
    ceilings_dtype: str = "fp32"
    machine: dict[str, object] = field(default_factory=dict)

    def spreads(self) -> dict[str, float]:
        """Every figure a profile term is made from, with its spread (interquartile range / median); for
        a ceiling the second largest over its shapes (the median over shapes let a loaded machine
        through: its profile then predicted 88 % off)."""
        out = {f"peak {d}": m.spread for d, m in self.peaks.items()}
        out |= {f"bandwidth ({m.what.split(' ')[0]})": m.spread for m in (self.bandwidth, self.copy)}
        out |= {f"overhead {k}": m.spread for k, m in self.overhead.items()}
        out |= {f"ceiling {op} (batch {b})": f.spread for b, fits in self.ceilings.items() for op, f in fits.items()}
        return out

    @property
    def noisy(self) -> list[str]:
        """The figures still spread by more than 20 % after the extra trials."""
        return [k for k, v in self.spreads().items() if v > NOISY_SPREAD]

    @property
    def unusable(self) -> list[str]:
        """The figures spread by more than 100 % after the extra trials: no term is written from them
        unless the user insists (``--allow-noisy``). Not ``in_context``: its samples pool several
        network sizes, so their spread is the remainder's change with size (181-213 % on a quiet
        2-core VM with --quick), not load; it stays among the noisy figures."""
        return [k for k, v in self.spreads().items() if v > UNUSABLE_SPREAD and k != "overhead in_context"]


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


@contextlib.contextmanager
def true_fp32(device: str) -> Iterator[None]:
    """On CUDA, fp32 matmuls and convs may run as TF32 on tensor cores: switch that off while
    measuring fp32, so the fp32 peak is fp32's."""
    if device != "cuda":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


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
            times = steady_times(fn, b.trials, b.warmup, device)
    except RuntimeError as e:
        raise RooflineError(f"dtype {dtype} is not supported for matrix multiplies on {device}: "
                            f"{str(e).splitlines()[0]}") from None
    return rate(float(n) ** 3, times, "MAC/s", what)


def _conv_rate(device: str, dtype: str, b: Budget, cin: int, cout: int, k: int, groups: int, hw: int,
               label: str) -> Measurement:
    dev, dt = torch.device(device), TORCH_DTYPES[dtype]
    x = torch.randn(1, cin, hw, hw, device=dev, dtype=dt)
    w = torch.randn(cout, cin // groups, k, k, device=dev, dtype=dt)
    macs = float(cout * hw * hw * (cin // groups) * k * k)
    with torch.inference_mode(), true_fp32(device if dtype == "fp32" else "cpu"):
        times = steady_times(lambda: F.conv2d(x, w, None, 1, k // 2, 1, groups), b.trials, b.warmup, device)
    tf32 = " (TF32 off)" if dtype == "fp32" and device == "cuda" else ""
    return rate(macs, times, "MAC/s", f"{label}: conv2d 1x{cin}x{hw}x{hw} -> {cout}, {k}x{k}, groups {groups}, "
                                       f"{dtype}{tf32}")


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


# --- op-class ceilings: generic shapes, fitted seconds = fixed + work / rate --------------------------

# (channels, spatial size) of generic feature maps a mobile vision network passes through
_MAPS = ((16, 112), (32, 56), (24, 56), (64, 28), (144, 28), (96, 14), (384, 14), (160, 7), (960, 7),
         (512, 14))
_DENSE = ((3, 32, 224, 2), (16, 32, 112, 1), (32, 64, 56, 1), (64, 64, 28, 1), (128, 128, 14, 1),
          (256, 256, 7, 1))
_FC = ((1280, 1000), (960, 1280), (576, 1024), (512, 512), (256, 64))
MEMORY_CLASSES = ("bn", "activation", "add", "pool")


def _probes(batch: int, quick: bool) -> Iterator[tuple[str, Callable[[], nn.Module], tuple[int, ...], float]]:
    """(op class, module factory, input shape, work) for every generic probe shape.

    Work is MACs for compute classes and bytes moved (in elements; times the
    element size later) for memory-only ones.
    """
    maps = _MAPS[::2] if quick else _MAPS
    for c, hw in maps:
        n = batch * c * hw * hw
        co = 4 * c if c < 200 else c // 4
        yield "conv1x1", lambda c=c, co=co: nn.Conv2d(c, co, 1, bias=False), (batch, c, hw, hw), float(n * co)
        yield "dwconv2d", lambda c=c: nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=False), (batch, c, hw, hw), 9.0 * n
        yield ("dwconv2d", lambda c=c: nn.Conv2d(c, c, 5, 2, 2, groups=c, bias=False), (batch, c, hw, hw),
               25.0 * n / 4)
        yield "bn", lambda c=c: nn.BatchNorm2d(c), (batch, c, hw, hw), 2.0 * n
        yield "activation", nn.ReLU, (batch, c, hw, hw), 2.0 * n
        yield "add", _Add, (batch, c, hw, hw), 3.0 * n
        yield "pool", lambda: nn.AdaptiveAvgPool2d(1), (batch, c, hw, hw), float(n + batch * c)
    for cin, cout, hw, stride in (_DENSE[::2] if quick else _DENSE):
        yield ("conv2d", lambda cin=cin, cout=cout, s=stride: nn.Conv2d(cin, cout, 3, s, 1, bias=False),
               (batch, cin, hw, hw), float(batch * cin * cout * 9 * (hw // stride) ** 2))
    for fin, fout in (_FC[::2] if quick else _FC):
        yield "fc", lambda fin=fin, fout=fout: nn.Linear(fin, fout), (batch, fin), float(batch * fin * fout)


class _Add(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + x


def fit_fixed_and_rate(work: np.ndarray, secs: np.ndarray) -> tuple[float, float]:
    """``seconds = fixed + work / rate`` by least squares on relative error, fixed >= 0, rate > 0."""
    a = np.stack([1.0 / secs, work / secs], axis=1)
    best: tuple[float, float, float] | None = None
    for cols in ([0, 1], [1]):  # both terms, or no fixed part
        sol, *_ = np.linalg.lstsq(a[:, cols], np.ones(len(secs)), rcond=None)
        p = np.zeros(2)
        p[cols] = sol
        if (p < 0).any() or p[1] <= 0:
            continue
        err = float(np.sum((a @ p - 1.0) ** 2))
        if best is None or err < best[0]:
            best = (err, p[0], p[1])
    if best is None:  # no positive slope: the time does not grow with work over these shapes
        return float(np.min(secs)), float(np.max(work) / np.min(secs))
    return float(best[1]), float(1.0 / best[2])


def _runner(module: nn.Module, x: torch.Tensor, device: str, inner: int) -> Callable[[], object]:
    """A callable running ``module`` ``inner`` times: eager on CPU, one CUDA-graph replay on CUDA
    (so launch costs do not hide what the kernels take)."""
    run = lambda: [module(x) for _ in range(inner)]  # noqa: E731
    return run if device != "cuda" else cuda_graph(run, warmup=1)


def measure_class_fits(device: str, dtype: str, batch: int, b: Budget, quick: bool = False,
                       channels_last: bool = False) -> dict[str, ClassFit]:
    """Per op class, ``fixed + work / rate`` fitted over the generic probe shapes at ``batch``."""
    dev, dt = torch.device(device), TORCH_DTYPES[dtype]
    elem = BYTES_PER_ELEMENT[dtype]
    points: dict[str, list[tuple[float, float, float]]] = {}
    inner = 10 if device == "cuda" else 3
    with torch.inference_mode(), true_fp32(device if dtype == "fp32" else "cpu"):
        for op, make, shape, work in _probes(batch, quick):
            module = make().to(dev, dt).eval()
            x = torch.randn(shape, device=dev, dtype=dt)
            if channels_last and x.dim() == 4:
                module = module.to(memory_format=torch.channels_last)
                x = x.contiguous(memory_format=torch.channels_last)
            times = steady_times(_runner(module, x, device, inner), max(3, b.trials), 1, device)
            t = float(np.median(times)) / inner
            points.setdefault(op, []).append((work * (elem if op in MEMORY_CLASSES else 1), t, spread(times)))
            del module, x
    fits = {}
    for op, pts in points.items():
        w = np.array([p[0] for p in pts])
        secs = np.array([p[1] for p in pts])
        fixed, r = fit_fixed_and_rate(w, secs)
        err = float(np.median(np.abs((fixed + w / r) / secs - 1.0)))
        fits[op] = ClassFit(op, batch, r, "B/s" if op in MEMORY_CLASSES else "MAC/s", fixed, len(pts), err,
                            sorted(p[2] for p in pts)[-2 if len(pts) > 1 else -1])
    return fits


# --- overheads: per kernel (eager, CUDA graph) and per inference ----------------------------------

# A generic MobileNet-like ladder (not a zoo model): (in channels, expanded, out, stride) per block,
# from a 112 px map down to 7 px, for what ops cost in a network beyond their cost alone.
_LADDER = ((16, 96, 24, 2), (24, 144, 24, 1), (24, 144, 40, 2), (40, 240, 40, 1), (40, 240, 80, 2),
           (80, 480, 80, 1), (80, 480, 160, 2), (160, 960, 160, 1))  # expansion ratio 6


class _InvertedResidual(nn.Module):
    """1x1 expand, BN, ReLU, 3x3 depthwise, BN, ReLU, 1x1 project, BN; a residual add where shapes allow."""

    def __init__(self, cin: int, e: int, cout: int, stride: int) -> None:
        super().__init__()
        self.ops = nn.Sequential(nn.Conv2d(cin, e, 1, bias=False), nn.BatchNorm2d(e), nn.ReLU(),
                                 nn.Conv2d(e, e, 3, stride, 1, groups=e, bias=False), nn.BatchNorm2d(e),
                                 nn.ReLU(), nn.Conv2d(e, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ops(x)
        return x + y if self.residual else y


def _synthetic_network() -> nn.Sequential:
    return nn.Sequential(*[_InvertedResidual(*spec) for spec in _LADDER])


def _predict_synthetic(net: nn.Sequential, hw: int, fits: dict[str, ClassFit], elem: int
                       ) -> tuple[float, float, int]:
    """Seconds the class fits predict for the synthetic network run op by op, the bytes it writes,
    and its kernels."""
    total, written, kernels = 0.0, 0.0, 0
    for block in net:
        c = block.ops[0].in_channels
        for m in block.ops:
            if isinstance(m, nn.Conv2d):
                op = "dwconv2d" if m.groups > 1 else "conv1x1"
                hw //= m.stride[0]
                work = float(m.out_channels * hw * hw * (m.in_channels // m.groups) * m.kernel_size[0] ** 2)
                c = m.out_channels
            else:
                op = "bn" if isinstance(m, nn.BatchNorm2d) else "activation"
                work = 2.0 * c * hw * hw * elem
            f = fits[op]
            total += f.fixed_s + work / f.rate
            written += float(c * hw * hw * elem)
            kernels += 1
        if block.residual:
            total += fits["add"].fixed_s + 3.0 * c * hw * hw * elem / fits["add"].rate
            written += float(c * hw * hw * elem)
            kernels += 1
    return total, written, kernels


def _largest_working_set(net: nn.Sequential, hw: int, elem: int) -> float:
    """Bytes read plus written by the synthetic network's largest op (its largest layer's activations)."""
    best = 0.0
    for block in net:
        for m in block.ops:
            if isinstance(m, nn.Conv2d):
                out_hw = hw // m.stride[0]
                best = max(best, float((m.in_channels * hw * hw + m.out_channels * out_hw * out_hw) * elem))
                hw = out_hw
    return best


def measure_fresh_memory(trials: int, mib: int = 16) -> Measurement:
    """Seconds per byte of memory fresh from the OS: map anonymous pages and touch each one (the
    kernel faults and zeroes them), as an allocator that returned memory to the OS must again."""
    import mmap

    n = mib << 20
    page = mmap.PAGESIZE

    def touch() -> None:
        m = mmap.mmap(-1, n)
        try:
            for off in range(0, n, page):
                m[off] = 1
        finally:
            m.close()

    times = steady_times(touch, trials, 1, "cpu")
    return seconds([t / n for t in times], f"fresh anonymous memory ({mib} MiB mapped, one write per "
                                           f"{page} B page), per byte")


def measure_overheads(device: str, dtype: str, b: Budget, fits: dict[str, ClassFit] | None
                      ) -> dict[str, Measurement]:
    """Per-kernel cost eager (and under CUDA-graph replay on CUDA) and per-inference cost, seconds."""
    dev, dt = torch.device(device), TORCH_DTYPES[dtype]
    out: dict[str, Measurement] = {}
    trials = max(5, b.trials)
    with torch.inference_mode():
        # the cost of one call of an empty model (and, on CUDA, of one synchronisation)
        ident = nn.Identity()
        x = torch.randn(1, 16, 8, 8, device=dev, dtype=dt)
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        out["inference"] = fixed_cost(steady_times(lambda: (ident(x), sync()), trials * 4, 3, "cpu", inner=20),
                                      "one call of an empty nn.Module" + (" plus a CUDA synchronisation"
                                                                         if device == "cuda" else ""))
        # a chain of tiny kernels: launch/dispatch cost per kernel
        chain = nn.Sequential(*[nn.Sequential(nn.Conv2d(16, 16, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
                                for _ in range(20)]).to(dev, dt).eval()
        k = 60
        eager = steady_times(lambda: (chain(x), sync()), trials * 4, 3, "cpu")
        out["eager"] = fixed_cost([t / k for t in eager], f"eager chain of {k} tiny kernels (1x1 conv, BN, "
                                                          f"ReLU modules on 1x16x8x8 {dtype}), wall time per kernel")
        if device == "cuda":
            replay = _runner(chain, x, device, 1)
            graph = steady_times(replay, trials * 4, 3, device)
            out["graph"] = fixed_cost([t / k for t in graph], f"CUDA-graph replay of the same {k} kernels, "
                                                              f"per kernel")
        elif fits and all(op in fits for op in ("conv1x1", "dwconv2d", "bn", "activation", "add")):
            # fresh memory: eager PyTorch's allocator returns the largest activations to the OS
            fresh = measure_fresh_memory(trials)
            out["fresh_memory"] = fresh
            # What ops cost in a network beyond their cost alone and beyond fresh memory (cache, thread
            # wake-up, Python between modules): a synthetic ladder network at several input sizes,
            # measured minus its ops alone and its fresh memory, per kernel.
            net = _synthetic_network().to(dev, dt).eval()
            elem = BYTES_PER_ELEMENT[dtype]
            sizes = (56, 112) if b.trials < 5 else (56, 80, 112, 128)
            per_kernel = []
            for hw in sizes:
                xin = torch.randn(1, 16, hw, hw, device=dev, dtype=dt)
                for t in steady_times(lambda: net(xin), trials, 3, "cpu"):
                    alone, _, n_kernels = _predict_synthetic(net, hw, fits, elem)
                    rest = t - alone - fresh.value * _largest_working_set(net, hw, elem)
                    per_kernel.append(max(rest, 0.0) / n_kernels)
            out["in_context"] = seconds(per_kernel, f"generic synthetic network ({n_kernels} kernels, inputs "
                                                    f"1x16x{{{','.join(map(str, sizes))}}}^2 {dtype}): measured "
                                                    f"minus its ops alone and its fresh memory, per kernel")
    return out


def profile_machine(device: str = "cpu", dtypes: tuple[str, ...] = ("fp32",), threads: int | None = None,
                    quick: bool = False, ceilings: bool = True,
                    progress: Callable[[str], None] | None = None, budget: Budget | None = None,
                    batches: tuple[int, ...] = (1,), channels_last: bool | None = None) -> ProfileRun:
    """Measure peak MAC/s per dtype, bandwidth, per-op-class ceilings at ``batches`` and the
    per-kernel and per-inference overheads on ``device``."""
    check_device(device)
    for d in dtypes:
        if d not in BYTES_PER_ELEMENT:
            raise RooflineError(f"unknown dtype {d!r}; use one of {', '.join(BYTES_PER_ELEMENT)}")
    for bt in batches:
        if isinstance(bt, bool) or not isinstance(bt, int) or not 1 <= bt <= 4096:
            raise RooflineError(f"--batch must be integers from 1 to 4096, got {bt!r}")
    if threads is not None:
        from .. import checks

        torch.set_num_threads(checks.threads(threads))
    b = budget or Budget.for_mode(quick, _llc_bytes(), device)
    step = progress or (lambda _: None)
    cl = (device == "cuda") if channels_last is None else channels_last
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
    cdt = next((d for d in dtypes if d != "int8"), "fp32")
    fits: dict[int, dict[str, ClassFit]] = {}
    if ceilings:
        for bt in sorted(set(batches)):
            step(f"op ceilings, batch {bt}")
            fits[bt] = measure_class_fits(device, cdt, bt, b, quick, cl)
    step("overheads")
    overhead = measure_overheads(device, cdt, b, fits.get(min(fits)) if fits else None)
    return ProfileRun(device, peaks, details, triad, copy, fits, overhead, cdt,
                      machine_facts(device, torch.get_num_threads()))


def _sig(v: float) -> float:
    return float(f"{v:.4g}")


def to_profile(run: ProfileRun, name: str, allow_noisy: bool = False) -> HardwareProfile:
    """A hardware profile (the built-in schema) whose numbers are this run's measurements. A run with a
    figure spread by more than 100 % is refused (ProfileError naming the figures) unless ``allow_noisy``."""
    bad = run.unusable
    if bad and not allow_noisy:
        spreads = run.spreads()
        worst = max(bad, key=lambda k: spreads[k])
        raise ProfileError(f"the machine was too loaded to measure: {', '.join(bad)} spread by more than "
                           f"{UNUSABLE_SPREAD * 100:.0f} % after retries ({worst}: {spreads[worst] * 100:.0f} "
                           f"%); close other programs and run again, or give --allow-noisy to write the profile "
                           f"anyway")
    today = run.machine.get("date", date.today().isoformat())
    src = f"measured by roofline profile on {today}"
    peaks = {d: Figure(m.value, f"{src}: {m.describe()}", "measured") for d, m in run.peaks.items()}
    default = "fp32" if "fp32" in peaks else next(iter(peaks))
    if run.device == "cuda" and "fp16" in peaks:
        default = "fp16"
    desc = (f"{run.machine.get('gpu') or run.machine.get('cpu')} ({run.device}, "
            f"{run.machine.get('threads_used')} thread{'' if run.machine.get('threads_used') == 1 else 's'}), measured")
    machine = dict(run.machine)
    machine["copy_bytes_per_s"] = _sig(run.copy.value)
    for d, det in run.peak_details.items():
        for k, m in det.items():
            machine[f"{k}_{d}_macs_per_s"] = _sig(m.value)
    if run.noisy:
        machine["noisy"] = "spread above 20 % after extra trials (a loaded machine): " + ", ".join(run.noisy)
    if bad:
        machine["unusable"] = (f"spread above {UNUSABLE_SPREAD * 100:.0f} %, written anyway (--allow-noisy): "
                               + ", ".join(bad))
    ceilings = []
    for bt, fits in sorted(run.ceilings.items()):
        worst = max(fits.values(), key=lambda f: f.median_fit_error)
        ceilings.append(Ceilings(
            bt, {op: _sig(f.rate) for op, f in fits.items() if f.unit == "MAC/s"},
            {op: _sig(f.rate) for op, f in fits.items() if f.unit == "B/s"} | (
                {"elementwise": _sig(fits["activation"].rate)} if "activation" in fits else {}),
            f"{src}: seconds = fixed + work / rate fitted per op class over {sum(f.shapes for f in fits.values())} "
            f"generic shapes at batch {bt}, {run.ceilings_dtype}; worst median fit error {worst.median_fit_error:.0%} "
            f"({worst.op})"))
    kernels: dict[str, KernelCost] = {}
    fits1 = run.ceilings.get(min(run.ceilings)) if run.ceilings else {}
    o = run.overhead
    if "eager" in o:
        extra = o["in_context"].value if "in_context" in o else 0.0
        by_op = {op: _sig(f.fixed_s + extra) for op, f in fits1.items()} if run.device == "cpu" else {}
        if "activation" in by_op:
            by_op["elementwise"] = by_op["activation"]
        how = o["eager"].describe() + (f"; per op class: the fitted fixed part of its ceiling plus "
                                       f"{extra * 1e6:.3g} µs in context ({o['in_context'].describe()})"
                                       if by_op else "")
        kernels["eager"] = KernelCost(_sig(o["eager"].value + extra), f"{src}: {how}", "measured", by_op)
        if "graph" not in o:
            kernels["fused"] = KernelCost(kernels["eager"].value, f"assumed equal to the eager per-kernel cost "
                                          f"(not measured: {src} ran eager)", "low", by_op)
    if "graph" in o:
        # under graph replay a kernel's fixed cost is the fitted fixed part of its class (the class fits
        # time graph replays), the chain's average elsewhere
        by_op = {op: _sig(f.fixed_s) for op, f in fits1.items()}
        if "activation" in by_op:
            by_op["elementwise"] = by_op["activation"]
        how = o["graph"].describe() + ("; per op class: the fitted fixed part of its ceiling (timed as "
                                       "CUDA-graph replays)" if by_op else "")
        kernels["graph"] = KernelCost(_sig(o["graph"].value), f"{src}: {how}", "measured", by_op)
        kernels["fused"] = KernelCost(kernels["graph"].value, "assumed equal to the CUDA-graph per-kernel cost "
                                      "(a compiled engine launches its kernels the same way)", "low", by_op)
    per_inf = (Figure(_sig(o["inference"].value), f"{src}: {o['inference'].describe()}", "measured")
               if "inference" in o else None)
    fresh = (Figure(_sig(o["fresh_memory"].value), f"{src}: {o['fresh_memory'].describe()}; charged once per "
                    f"inference for the largest layer's activations (eager only)", "measured")
             if "fresh_memory" in o else None)
    return HardwareProfile(name=name, kind="gpu" if run.device == "cuda" else "cpu", description=desc,
                           default_dtype=default, peak_macs_per_s=peaks,
                           mem_bw_bytes_per_s=Figure(run.bandwidth.value, f"{src}: {run.bandwidth.describe()}",
                                                     "measured"),
                           machine=machine, ceilings=tuple(ceilings), overhead=Overhead(kernels, per_inf, fresh))
