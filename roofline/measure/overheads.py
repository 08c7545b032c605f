"""Fixed costs outside the roofline: per inference, per kernel (eager, CUDA-graph replay), fresh
memory, what ops cost in a network beyond their cost alone, and the profile's self-check.

The last two run whole synthetic networks (generic, not zoo models) and predict them through
the engine with the profile being made (``roofline.analyze``, calibrated, eager), so they
measure exactly what the profile's terms leave out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.errors import ProfileError
from .fresh import can_hold_memory, hold_memory, minor_faults, read_job, run_fresh
from .machine import TORCH_DTYPES
from .timing import Measurement, cuda_graph, fixed_cost, seconds, steady_times

if TYPE_CHECKING:
    from ..hardware import HardwareProfile

# A generic MobileNet-like ladder: (in channels, expanded, out, stride) per block, from a 112 px map
# down to 7 px, expansion ratio 6
_LADDER = ((16, 96, 24, 2), (24, 144, 24, 1), (24, 144, 40, 2), (40, 240, 40, 1), (40, 240, 80, 2),
           (80, 480, 80, 1), (80, 480, 160, 2), (160, 960, 160, 1))


class _InvertedResidual(nn.Module):
    """1x1 expand, BN, activation, 3x3 depthwise, BN, activation, 1x1 project, BN; a residual add
    where shapes allow."""

    def __init__(self, cin: int, e: int, cout: int, stride: int, act: type[nn.Module] = nn.ReLU) -> None:
        super().__init__()
        self.ops = nn.Sequential(nn.Conv2d(cin, e, 1, bias=False), nn.BatchNorm2d(e), act(),
                                 nn.Conv2d(e, e, 3, stride, 1, groups=e, bias=False), nn.BatchNorm2d(e),
                                 act(), nn.Conv2d(e, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ops(x)
        return x + y if self.residual else y


def ladder_network() -> nn.Sequential:
    """The network the in-context cost is measured on."""
    return nn.Sequential(*[_InvertedResidual(*spec) for spec in _LADDER])


class _Block(nn.Module):
    """A pre-norm transformer block: layer norm, attention (SDPA), layer norm, GELU MLP."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c)
        x = x + self.proj(a)
        return x + self.mlp(self.norm2(x))


class CheckNetwork(nn.Module):
    """The self-check: a small hybrid the profile never measured as a whole: a strided stem,
    inverted residuals with hard-swish, a dense 3x3 conv, then two transformer blocks over the
    7 x 7 x 128 tokens, pooling and a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.Hardswish(),
                                   _InvertedResidual(16, 64, 24, 2, nn.Hardswish),
                                   _InvertedResidual(24, 96, 32, 2, nn.Hardswish),
                                   _InvertedResidual(32, 128, 64, 2, nn.Hardswish),
                                   nn.Conv2d(64, 128, 3, 2, 1, bias=False), nn.BatchNorm2d(128), nn.SiLU())
        self.blocks = nn.Sequential(_Block(128, 4), _Block(128, 4))
        self.head = nn.Linear(128, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(x).flatten(2).transpose(1, 2)
        return self.head(self.blocks(x).mean(1))


CHECK_INPUT = (1, 3, 224, 224)


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


def measure_overheads(device: str, dtype: str, trials: int) -> dict[str, Measurement]:
    """Per-inference cost, per-kernel cost eager (and under CUDA-graph replay on CUDA) and, on a CPU whose timing
    processes cannot hold the memory they free (:func:`roofline.measure.fresh.hold_memory`), fresh memory, in
    seconds."""
    dev, dt = torch.device(device), TORCH_DTYPES[dtype]
    out: dict[str, Measurement] = {}
    trials = max(5, trials)
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
            def run() -> None:
                chain(x)
            graph = steady_times(cuda_graph(run, warmup=1), trials * 4, 3, device)
            out["graph"] = fixed_cost([t / k for t in graph], f"CUDA-graph replay of the same {k} kernels, "
                                                              f"per kernel")
        elif not can_hold_memory():
            # fresh memory: eager PyTorch's allocator returns the largest activations to the OS. Where the timing
            # processes keep what they free (fresh.hold_memory: glibc), no inference faults and none is charged
            out["fresh_memory"] = measure_fresh_memory(trials)
    return out


def ladder_sizes(quick: bool) -> tuple[int, ...]:
    return (56, 112) if quick else (56, 80, 112, 128)


LADDER_PROCESSES = 2  # fresh processes per ladder size: page faults differ from process to process

# The share of a network's activation bytes (all layers', as the engine counts them) that eager
# PyTorch page-faults in afresh each inference. Faults come in whole trim cycles of the allocator,
# and a process settles in one of a few states: the ladder network at 112 px faulted 9.3 % or 18.5 %
# of its activation bytes from process to process, and 1.8-18.7 % over 48 processes (sizes 56-128
# px, 1 and 2 threads) on one VM, so no synthetic network measures a machine's share. This is the
# median over ten models outside the validation set, each timed in fresh processes at 1 and 2
# threads (20 runs: 0-14 %). Charged only where the timing processes cannot hold the memory they free
# (fresh.hold_memory, glibc): elsewhere no inference faults.
FRESH_SHARE = 0.085
FRESH_SHARE_SOURCE = ("minor page faults per inference x 4096 B over the activation bytes, median over 20 runs "
                      "(mnv2, mnv3-l, mnv4-conv-s, mnv4-hybrid-m, timm resnet18, efficientnet_b0, ghostnet_100, "
                      "efficientformer_l1, torchvision shufflenet_v2_x1_0, squeezenet1_1; 1 and 2 threads; each "
                      "in a fresh process) on a 2-core Xeon VM, Linux glibc, torch 2.14.1, 2026-11-29: 0-14 %; "
                      "a property of the allocator and the models' tensor sizes, not measured per machine")


def time_networks(device: str, dtype: str, trials: int, sizes: tuple[int, ...]
                  ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Seconds per inference of the ladder network at ``sizes`` (keys ``ladder56``, ...; the runs of
    :data:`LADDER_PROCESSES` processes) and of the check network (``check``), each timed in Python
    processes of its own at this process's thread count, as a user's model runs; and the minor page
    faults per inference of each process.

    Fresh processes, because a network's cost depends on the allocator's state: after the probes,
    this process's allocator keeps freed memory that a fresh process returns to the OS and
    page-faults in again each inference (on a 2-core Xeon VM the check network took 3.96 ms after
    the probes, 7.24 ms in a fresh process); and in one process shared by the networks, the smaller
    ones did not page-fault after the larger."""
    times: dict[str, list[float]] = {}
    faults: dict[str, list[float]] = {}
    for key in ["check", *(f"ladder{hw}" for hw in sizes for _ in range(LADDER_PROCESSES))]:
        job = NetworkJob(device, dtype, max(5, trials), key, torch.get_num_threads())
        r = run_fresh(_time_network_child, job, f"timing the synthetic network {key}", ProfileError)
        times.setdefault(key, []).extend(r["times"])
        faults.setdefault(key, []).append(r["faults"])
    return times, faults


@dataclass(frozen=True)
class NetworkJob:
    """One synthetic network to time in a fresh process (:func:`_time_network_child`)."""

    device: str
    dtype: str
    trials: int
    network: str  # "check" or "ladder<input size>"
    threads: int


def _time_network_child() -> None:
    hold_memory()  # as a validated model's timing process does
    job = read_job(NetworkJob)
    torch.set_num_threads(int(job.threads))
    dev, dt = torch.device(job.device), TORCH_DTYPES[job.dtype]
    sync = torch.cuda.synchronize if job.device == "cuda" else (lambda: None)
    key = job.network
    if key == "check":
        net, x = CheckNetwork().to(dev, dt).eval(), torch.randn(CHECK_INPUT, device=dev, dtype=dt)
    else:
        hw = int(key.removeprefix("ladder"))
        net, x = ladder_network().to(dev, dt).eval(), torch.randn(1, 16, hw, hw, device=dev, dtype=dt)
    calls = [0]

    def run() -> None:
        calls[0] += 1
        net(x)
        sync()

    with torch.inference_mode():
        for _ in range(3):  # warm-up, not counted: the first calls allocate what stays allocated
            net(x)
        sync()
        before = minor_faults()
        times = steady_times(run, job.trials, 0, "cpu")
        print(json.dumps({"times": times, "faults": (minor_faults() - before) / calls[0]}))


FASTEST = -0.5  # the least slowdown in_context(faster=True) fits: every rate at most doubled


def in_context(profile: HardwareProfile, times: dict[str, list[float]], sizes: tuple[int, ...], dtype: str,
               faults: dict[str, list[float]] | None = None, graphs: dict[str, str] | None = None,
               faster: bool = False) -> tuple[Measurement, Measurement]:
    """What layers cost in a network beyond their cost alone, from the ladder network's measured
    ``times`` at ``sizes`` against what ``profile`` (without these terms) predicts:

        measured = (1 + slowdown) x roofline + fixed costs + kernels x per_kernel

    ``slowdown`` (a share of the layers' roofline time: weights and outputs out of cache, which the
    probes, each timed just after a warm call, do not pay) and ``per_kernel`` (seconds: Python and
    dispatch between modules) are fitted at least 0, by least squares on relative error over the
    sizes. Returns (per_kernel, slowdown). Each one's spread is that of what it explains at each size,
    as a share of the network's measured time (its value implied by that size alone, the other term
    fixed): a term near 0 has no meaningful spread relative to itself, but a loaded machine still
    shows as sizes that disagree.

    The fixed costs charge the page faults ``faults`` counted in the network's processes (their
    mean, at the profile's cost per fresh byte), not the profile's average share: which trim state a
    process settles in is not what these terms measure.

    ``graphs`` (key ``ladder<size>`` -> ``onnx:PATH`` or ``tflite:PATH``): the networks ran under that graph's
    runtime; each is predicted from its graph, fused.

    ``faster``: both terms may be negative, the slowdown down to :data:`FASTEST`, the per-kernel term down to
    less the fixed costs the prediction charges per kernel (layers ran faster in the network than their probes:
    ONNX Runtime's int8 probes, timed in its node profile, which also times its thread pool's parallel
    sections; int8 MobileNetV1 and the ladder ran 10-30 % faster unprofiled than their profiled kernels' sum,
    at 2 threads)."""
    import mmap

    from ..engine import analyze

    net = ladder_network().eval()
    rows, meds, kernels = [], [], 0
    for hw in sizes:
        a = (analyze(net, profile, input_shape=(1, 16, hw, hw), mode="calibrated", execution="eager")
             if graphs is None else analyze(graphs[f"ladder{hw}"], profile, mode="calibrated", execution="fused"))
        kernels = int(a.layers["kernels"].sum())
        roof = float(a.layers["roofline_s"].sum())
        rest = a.total_latency_s - roof
        if faults is not None:
            rest += (float(np.mean(faults[f"ladder{hw}"])) * mmap.PAGESIZE * a.latency.fresh_memory_s_per_byte
                     - a.latency.fresh_s(a.layers))
        rows.append((roof, float(kernels), rest))
        meds.append(float(np.median(times[f"ladder{hw}"])))
    r, k, rest = (np.array(x) for x in zip(*rows))
    m = np.array(meds)
    y = (m - rest - r) / m            # what the two terms must explain, relative to the measurement
    best = (np.inf, 0.0, 0.0)
    # the least each term may be: 0, or with ``faster`` a speed-up of at most 1 / (1 + FASTEST) and at most
    # the fixed costs the prediction charges per kernel
    lo = np.array([FASTEST, -float(np.min(rest / np.maximum(k, 1.0)))]) if faster else np.zeros(2)
    for cols in ((0, 1), (0,), (1,), ()):
        x = np.stack([r / m, k / m], axis=1)[:, list(cols)]
        sol = np.linalg.lstsq(x, y, rcond=None)[0] if cols else np.zeros(0)
        if (sol < lo[list(cols)]).any():
            continue
        p = np.zeros(2)
        p[list(cols)] = sol
        err = float(np.sum((np.stack([r / m, k / m], axis=1) @ p - y) ** 2))
        if err < best[0]:
            best = (err, float(p[0]), float(p[1]))
    _, slow, per_kernel = best
    what = (f"generic synthetic network ({kernels} kernels, inputs 1x16x{{{','.join(map(str, sizes))}}}^2 {dtype}, "
            f"timed in a fresh process{_under(graphs)}), measured = (1 + slowdown) x "
            f"roofline + fixed costs + kernels x per kernel, fitted over the {len(sizes)} sizes")
    # what each term must explain at each size alone (the other fixed), as a share of the measured time
    kernel_share = [(mi - ri * (1 + slow) - si) / mi for mi, ri, si in zip(m, r, rest)]
    slow_share = [(mi - si - ki * per_kernel - ri) / mi for mi, ri, ki, si in zip(m, r, k, rest)]
    basis = f"one least-squares fit over {len(sizes)} network sizes, each timed as the median of its trials"
    return (Measurement(per_kernel, _share_spread(kernel_share), "s", f"{what}: the per-kernel term", len(sizes),
                        basis),
            Measurement(slow, _share_spread(slow_share), "x", f"{what}: the slowdown", len(sizes), basis))


def _share_spread(shares: list[float]) -> float:
    """Interquartile range of shares of a measured time (already relative: not divided by a median)."""
    if len(shares) < 2:
        return 0.0
    q = np.quantile(np.asarray(shares), [0.25, 0.75], method="linear")
    return float(q[1] - q[0])


def _under(graphs: dict[str, str] | None) -> str:
    if not graphs:
        return ""
    return " under LiteRT" if next(iter(graphs.values())).startswith("tflite:") else " under ONNX Runtime"


def self_check(profile: HardwareProfile, times: list[float], dtype: str, faults: float | None = None,
               graph: str | None = None, network: str | None = None) -> dict[str, object]:
    """The finished profile's prediction for the check network (``CheckNetwork``, never measured whole
    while profiling) against its measured ``times``: the profile's error on a network it has not seen.
    ``graph`` (``onnx:PATH`` or ``tflite:PATH``): the network ran under that graph's runtime (predicted from the
    graph, fused); ``network``: what it is, where not ``CheckNetwork``."""
    import mmap

    from ..engine import analyze

    a = (analyze(CheckNetwork().eval(), profile, input_shape=CHECK_INPUT, mode="calibrated", execution="eager")
         if graph is None else analyze(graph, profile, mode="calibrated", execution="fused"))
    predicted, kernels = a.total_latency_s, int(a.layers["kernels"].sum())
    m = seconds(times, "check network")
    how = ("eager" if graph is None else "written as a TFLite graph, under LiteRT" if graph.startswith("tflite:")
           else "exported to ONNX, fused, under ONNX Runtime")
    what = network or "synthetic hybrid (convs with hard-swish, 2 transformer blocks"
    out = {"network": f"{what}; {kernels} kernels), input {'x'.join(map(str, CHECK_INPUT))} {dtype}, {how}, "
                      f"timed in a fresh process",
           "predicted_s": float(f"{predicted:.4g}"), "measured_s": float(f"{m.value:.4g}"),
           "error": round(predicted / m.value - 1.0, 4), "spread": round(m.spread, 4)}
    if faults is not None and profile.kind == "cpu":
        out["page_faults"] = round(faults)
        if a.latency.fresh_memory_s_per_byte:
            # what the rest of the profile gets wrong: fresh memory charged at the faults this process took
            # instead of the stated share (which process-to-process trim states move: the error's largest part)
            own = predicted - a.latency.fresh_s(a.layers) + faults * mmap.PAGESIZE * a.latency.fresh_memory_s_per_byte
            out["page_fault_share"] = round(faults * mmap.PAGESIZE / float(a.layers["activation_bytes"].sum()), 4)
            out["error_at_own_faults"] = round(own / m.value - 1.0, 4)
    return out
