"""Per-op-class ceilings: run the probe grid (``probes``), interleaved, and fit each class
(``shape_model``): a fixed per-kernel cost plus a shaped MAC rate, or a byte rate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ..core.taxonomy import BYTE_RATE_CLASSES
from ..engine.shape import ShapeTerms
from ..hardware import BYTES_PER_ELEMENT
from .machine import TORCH_DTYPES, true_fp32
from .probes import Probe, count, probes
from .shape_model import fit_compute, fit_memory
from .timing import cuda_graph, interleaved_times, spread

if TYPE_CHECKING:
    from .litert_profile import LiteSessions
    from .ort_profile import OrtSessions

# tensors alive at once while probes are interleaved; a larger grid (a large --batch) runs in chunks
CHUNK_BYTES = 128 << 20


@dataclass(frozen=True)
class ClassFit:
    """One op class at one batch size, fitted over its probe shapes."""

    op: str
    batch: int
    rate: float          # MAC/s (the ceiling large layers tend to), or bytes/s for memory-only classes
    unit: str
    fixed_s: float       # the per-kernel cost of this class
    shapes: int
    median_fit_error: float   # median |fitted / measured - 1| over the shapes
    spread: float             # the second largest spread of the shapes' timings: one stray shape of
                              # ~10 (101 % once on a quiet CI machine) neither flags nor refuses a class
    shape: ShapeTerms | None = None  # compute classes: how the rate falls for small layers
    parallel_at: float = float("inf")  # output elements from which a kernel pays ``parallel_s`` more
    parallel_s: float = 0.0
    trials: int = 0  # the fewest trials of any of its shapes (noisy shapes get more)


def _runner(module: nn.Module, xs: tuple[torch.Tensor, ...], device: str, inner: int) -> Callable[[], object]:
    """``inner`` calls of the module: eager on CPU, one CUDA-graph replay on CUDA (so launch costs do
    not hide what the kernels take)."""
    def run() -> None:
        for _ in range(inner):
            module(*xs)
    return run if device != "cuda" else cuda_graph(run, warmup=1)


def _chunks(ps: list[Probe], elem: int) -> list[list[Probe]]:
    out: list[list[Probe]] = [[]]
    used = 0
    for p in ps:
        size = sum(int(np.prod(s)) for s in p.inputs) * elem * 2
        if out[-1] and used + size > CHUNK_BYTES:
            out.append([])
            used = 0
        out[-1].append(p)
        used += size
    return out


def measure_class_fits(device: str, dtype: str, batch: int, trials: int, bandwidth: float, peak: float,
                       quick: bool = False, channels_last: bool = False,
                       sessions: OrtSessions | LiteSessions | None = None) -> dict[str, ClassFit]:
    """Per op class, the probes at ``batch`` timed interleaved and fitted. ``bandwidth`` (B/s) is the
    memory roof of the compute fits; ``peak`` (MAC/s) bounds their ceilings. With ``sessions``, the probes it
    ``supports`` run through its runtime, interleaved as in PyTorch, each counted and timed as it says
    (:class:`~roofline.measure.ort_profile.OrtSessions`: exported, as profiled ONNX Runtime sessions, a probe's
    time its kernels' time in ONNX Runtime's profile, layout reorders left out; :class:`~roofline.measure.
    litert_profile.LiteSessions`: one-op TFLite graphs under LiteRT); a session's own cost per run is the
    per-inference term."""
    dev, dt = torch.device(device), TORCH_DTYPES[dtype]
    elem = BYTES_PER_ELEMENT[dtype]
    # on CPU three calls per trial, after the other probes: the first with its weights and input out
    # of cache, the others in it, as a network's layers are in between (one call per trial predicted
    # the 12 models of benchmarks/cpu_validate.sh 20 % slow; one warm call before each, 15 % fast)
    inner = 10 if device == "cuda" else 3
    if device == "cpu" and batch >= 16:  # a probe is then 16x its batch-1 work: fewer shapes, one call each
        quick, inner = True, 1
    grid = list(probes(batch, quick))
    if sessions is not None:
        grid = [p for p in grid if sessions.supports(p)] + list(sessions.extra_probes(batch, quick))
    counted = [count(p, elem) if sessions is None else sessions.count(p, elem) for p in grid]
    secs, spreads, counts = [], [], []
    with torch.inference_mode(), true_fp32(device if dtype == "fp32" else "cpu"):
        for chunk in _chunks(grid, elem):
            if sessions is not None:  # timed through the runtime
                for t, offset in sessions.probe_times(chunk, inner, max(3, trials)):
                    med = float(np.median(t))
                    # less what a call costs besides the probe (LiteRT: a one-copy graph's share); the spread is
                    # that of what was timed
                    secs.append(max(med - offset, 1e-9))
                    # one resolution step of a spread is the timer's, not load
                    q1, q3 = np.quantile(t, [0.25, 0.75])
                    spreads.append(max(float(q3 - q1) - sessions.resolution_s, 0.0) / med if med > 0 else 0.0)
                    counts.append(len(t))
                continue
            runs = []
            for p in chunk:
                module = p.make().to(dev, dt).eval()
                xs = tuple(torch.randn(s, device=dev, dtype=dt) for s in p.inputs)
                if channels_last and len(p.inputs[0]) == 4 and p.op not in ("matmul", "attention", "softmax"):
                    module = module.to(memory_format=torch.channels_last)
                    xs = tuple(x.contiguous(memory_format=torch.channels_last) for x in xs)
                runs.append(_runner(module, xs, device, inner))
            for t in interleaved_times(runs, max(3, trials), 1, device):
                secs.append(float(np.median(t)) / inner)
                spreads.append(spread(t))
                counts.append(len(t))
            del runs
    fits = {}
    for op in dict.fromkeys(p.op for p in grid):
        idx = [i for i, p in enumerate(grid) if p.op == op]
        c = [counted[i] for i in idx]
        t = np.array([secs[i] for i in idx])
        if op in BYTE_RATE_CLASSES:
            f = fit_memory(np.array([x.bytes for x in c]), t, np.array([x.out_elems for x in c]))
        else:
            f = fit_compute(np.array([x.macs for x in c]), np.array([x.bytes for x in c]),
                            np.array([x.out_elems for x in c]), np.array([x.reduction for x in c]), t,
                            bandwidth, cap=1.25 * peak, reuse=np.array([x.reuse for x in c]))
        s = sorted(spreads[i] for i in idx)
        fits[op] = ClassFit(op, batch, f.rate, "B/s" if op in BYTE_RATE_CLASSES else "MAC/s", f.fixed_s, len(idx),
                            f.median_error, s[-2 if len(s) > 1 else -1], f.shape, f.parallel_at, f.parallel_s,
                            min(counts[i] for i in idx))
    return fits
