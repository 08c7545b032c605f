"""Measure the machine this runs on: ``roofline profile``.

The method, one module per step:

- ``peaks``: peak MAC/s per dtype (a large matmul, ``torch._int_mm`` for int8, and a large 3x3
  conv; the profile's peak is the faster) and bandwidth (a copy, read + write counted, and a
  STREAM-style triad ``a = b + s * c``, 2 reads + 1 write, over buffers larger than the last-level
  cache; the profile's bandwidth is the triad's, the one STREAM reports);
- ``probes`` and ``ceilings``: per op class, a grid of layer shapes vision networks use, timed
  interleaved; ``shape_model`` fits each class: a fixed per-kernel cost plus a MAC rate that
  depends on the layer's shape (``roofline.engine.shape``), or a byte rate for memory-only classes;
- ``overheads``: per inference, per kernel (eager; CUDA-graph replay on CUDA), fresh memory (CPU),
  what ops cost in a network beyond their cost alone, and a self-check on a network never measured;
- ``timing``: the robust statistics (medians with spreads, interleaved trials, back-off retries,
  low quantiles of block medians for fixed costs);
- ``budget``: how hard each step measures (matrix and conv sizes, buffer bytes, trials).

Every figure records its spread (interquartile range / median) and trial count. A figure spread
by more than 20 % is measured again after a pause and, if still noisy, flagged; a profile with a
figure spread by more than 100 % is not written (``ProfileError``) unless the user insists.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ..core import checks
from ..core.clock import today as _today
from ..core.errors import ProfileError, RooflineError
from ..core.reading import Runtime, parse_runtime
from ..hardware import BYTES_PER_ELEMENT, Ceilings, Figure, HardwareProfile, KernelCost, Overhead
from .budget import Budget
from .ceilings import ClassFit, measure_class_fits
from .machine import check_device, llc_bytes, machine_facts, torch_threads
from .overheads import (FRESH_SHARE, FRESH_SHARE_SOURCE, LADDER_PROCESSES, in_context, ladder_sizes,
                        measure_overheads, self_check, time_networks)
from .peaks import REFERENCE_WHAT, measure_bandwidth, measure_conv, measure_matmul, reference_rate
from .timing import NOISY_SPREAD, PEAK_NOISY_SPREAD, Measurement

if TYPE_CHECKING:
    from .litert_profile import LiteSessions
    from .ort_profile import OrtSessions

__all__ = ["Budget", "ClassFit", "ProfileRun", "check_device", "profile_machine", "to_profile"]

# A figure spread by more than this (interquartile range over median) after the extra trials says
# little about the machine: a profile made from it was 2-3x off on a loaded machine
UNUSABLE_SPREAD = 1.0


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
    check: dict[str, object] = field(default_factory=dict)  # the self-check (overheads.self_check)
    runtime: Runtime = Runtime.TORCH
    probes_note: str = ""  # how the probes ran, where not as PyTorch modules

    def spreads(self) -> dict[str, float]:
        """Every figure a profile term is made from, with its spread (interquartile range / median); for
        a ceiling the second largest over its shapes (the median over shapes let a loaded machine
        through: its profile then predicted 88 % off)."""
        out = {f"peak {d}": m.spread for d, m in self.peaks.items()}
        out |= {f"bandwidth ({m.what.split(' ')[0]})": m.spread for m in (self.bandwidth, self.copy)}
        out |= {f"overhead {k}": m.spread for k, m in self.overhead.items()}
        out |= {f"ceiling {op} (batch {b})": f.spread for b, fits in self.ceilings.items() for op, f in fits.items()}
        return out

    @staticmethod
    def limit(label: str) -> float:
        """The spread above which the figure ``label`` (a key of :meth:`spreads`) is noisy: 10 % for a
        peak (it sets the ridge point, and a quiet machine times one within a few per cent), else 20 %."""
        return PEAK_NOISY_SPREAD if label.startswith("peak ") else NOISY_SPREAD

    @property
    def noisy(self) -> list[str]:
        """The figures still spread by more than their limit (10 % for a peak, else 20 %) after the
        extra trials."""
        return [k for k, v in self.spreads().items() if v > self.limit(k)]

    @property
    def unusable(self) -> list[str]:
        """The figures spread by more than 100 % after the extra trials: no term is written from them
        unless the user insists (``--allow-noisy``)."""
        return [k for k, v in self.spreads().items() if v > UNUSABLE_SPREAD]


def profile_machine(device: str = "cpu", dtypes: tuple[str, ...] = ("fp32",), threads: int | None = None,
                    quick: bool = False, ceilings: bool = True,
                    progress: Callable[[str], None] | None = None, budget: Budget | None = None,
                    batches: tuple[int, ...] = (1,), channels_last: bool | None = None,
                    runtime: Runtime | str = Runtime.TORCH) -> ProfileRun:
    """Measure peak MAC/s per dtype, bandwidth, per-op-class ceilings at ``batches``, the overheads
    on ``device``, then the self-check. ``runtime``: ``torch``, or ``onnxruntime`` (CPU only: every figure
    but bandwidth timed through ONNX Runtime, :mod:`roofline.measure.ort_profile`)."""
    check_device(device)
    for d in dtypes:
        if d not in BYTES_PER_ELEMENT:
            raise RooflineError(f"unknown dtype {d!r}; use one of {', '.join(BYTES_PER_ELEMENT)}")
    runtime = parse_runtime(runtime)
    if runtime is not Runtime.TORCH:
        mod = _runtime_module(runtime)
        if device != "cpu":
            raise RooflineError(f"--runtime {runtime.value} measures the runtime on this CPU: use --device cpu")
        bad = [d for d in dtypes if d not in mod.DTYPES]
        if bad:
            raise RooflineError(f"--runtime {runtime.value} measures {' and '.join(mod.DTYPES)}, not {bad[0]}")
    if ceilings and runtime is Runtime.TORCH and not [d for d in dtypes if d != "int8"]:
        raise RooflineError("op ceilings are measured in a float dtype through torch (its int8 figure is a peak): "
                            "give --dtype fp32,int8, or --no-ceilings")
    for bt in batches:
        if isinstance(bt, bool) or not isinstance(bt, int) or not 1 <= bt <= 4096:
            raise RooflineError(f"--batch must be integers from 1 to 4096, got {bt!r}")
    if threads is not None:
        checks.threads(threads)
    with torch_threads(threads), contextlib.ExitStack() as stack:
        sessions = None
        if runtime is Runtime.ONNXRUNTIME:
            from .ort_profile import OrtSessions

            sessions = stack.enter_context(OrtSessions(torch.get_num_threads(), dtypes[0]))
        elif runtime is Runtime.LITERT:  # one dtype per profile: its ceilings' (the first --dtype)
            from .litert_profile import LiteSessions

            sessions = stack.enter_context(LiteSessions(torch.get_num_threads(), dtypes[0]))
        return _profile_machine(device, dtypes, quick, ceilings, progress, budget, batches, channels_last,
                                sessions)


def _runtime_module(runtime: Runtime):
    """The module that measures through ``runtime`` (its ``DTYPES``), after checking that it is installed."""
    if runtime is Runtime.ONNXRUNTIME:
        from . import ort_profile as mod

        mod.require_ort()
    else:
        from . import litert_profile as mod

        mod.require_litert()
    return mod


def _profile_machine(device: str, dtypes: tuple[str, ...], quick: bool, ceilings: bool,
                     progress: Callable[[str], None] | None, budget: Budget | None, batches: tuple[int, ...],
                     channels_last: bool | None, sessions: OrtSessions | LiteSessions | None) -> ProfileRun:
    b = budget or Budget.for_mode(quick, llc_bytes(), device)
    step = progress or (lambda _: None)
    cl = (device == "cuda") if channels_last is None else channels_last
    peaks, details = {}, {}
    ref0 = reference_rate() if device == "cpu" else None  # the machine's speed as the profile starts
    with torch.inference_mode():
        for d in dtypes:
            step(f"matmul {d}")
            det = {"matmul": measure_matmul(device, d, b) if sessions is None else sessions.measure_matmul(d, b)}
            if d != "int8" or (sessions is not None and (sessions.runtime is Runtime.LITERT or sessions.int8)):
                step(f"conv {d}")
                det["conv"] = measure_conv(device, d, b) if sessions is None else sessions.measure_conv(d, b)
            details[d] = det
            peaks[d] = max(det.values(), key=lambda m: m.value)
        step("bandwidth")
        triad, copy = measure_bandwidth(device, b)
    # the ceilings' dtype: the first float one (a runtime's: the first, int8 for a profile of quantized graphs)
    cdt = dtypes[0] if sessions is not None else next((d for d in dtypes if d != "int8"), "fp32")
    fits: dict[int, dict[str, ClassFit]] = {}
    if ceilings:
        for bt in sorted(set(batches)):
            step(f"op ceilings, batch {bt}")
            fits[bt] = measure_class_fits(device, cdt, bt, b.trials, triad.value, peaks[cdt].value, quick, cl,
                                          sessions)
    step("overheads")
    overhead = measure_overheads(device, cdt, b.trials) if sessions is None else sessions.measure_overheads(b.trials)
    machine = machine_facts(device, torch.get_num_threads())
    if sessions is not None:
        machine |= {"runtime": sessions.label(), "bandwidth_through": "PyTorch (copy and triad: the memory "
                    "system is the runtime's too)"}
    run = ProfileRun(device, peaks, details, triad, copy, fits, overhead, cdt, machine,
                     runtime=Runtime.TORCH if sessions is None else sessions.runtime,
                     probes_note="" if sessions is None else sessions.probes_note)
    if fits:
        step("self-check")
        sizes = ladder_sizes(quick) if device == "cpu" else ()
        graphs = None
        if sessions is None:
            times, faults = time_networks(device, cdt, b.trials, sizes)
        else:
            times, faults, graphs = sessions.time_networks(sizes, b.trials, LADDER_PROCESSES)
        if device == "cpu":
            # what a network costs beyond its ops alone, against the profile without that term
            run.overhead["in_context"], run.overhead["in_network"] = in_context(_profile(run, "provisional"),
                                                                                times, sizes, cdt, faults, graphs,
                                                                                sessions is not None and sessions.faster)
        run.check = self_check(_profile(run, "check"), times["check"], cdt, faults["check"][0],
                               graphs["check"] if graphs else None, sessions.check_network if sessions else None)
    if ref0 is not None:
        # validate times the same reference after each model: how fast the machine ran then against now
        ref1 = reference_rate()
        run.machine |= {"reference": REFERENCE_WHAT, "reference_macs_per_s": _sig((ref0 * ref1) ** 0.5),
                        "reference_drift": round(ref1 / ref0 - 1.0, 4)}
    return run


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
    return _profile(run, name)


def _by_op(fits: dict[str, ClassFit], extra: float) -> dict[str, float]:
    """Per op class, its per-kernel cost: the fitted fixed part of its ceiling plus ``extra`` (in context);
    elementwise ops pay the activation class's."""
    by_op = {op: _sig(max(f.fixed_s + extra, 0.0)) for op, f in fits.items()}
    if "activation" in by_op:
        by_op["elementwise"] = by_op["activation"]
    return by_op


def _profile(run: ProfileRun, name: str) -> HardwareProfile:
    today = run.machine["date"] if "date" in run.machine else _today()
    src = f"measured by roofline profile on {today}"
    peaks = {d: Figure(m.value, f"{src}: {m.describe()}", "measured") for d, m in run.peaks.items()}
    default = "fp32" if "fp32" in peaks else next(iter(peaks))
    if run.device == "cuda" and "fp16" in peaks:
        default = "fp16"
    if run.runtime is not Runtime.TORCH and run.ceilings:
        default = run.ceilings_dtype  # its ceilings' dtype (the first --dtype), which a calibrated reading needs
    threads = run.machine.get("threads_used")
    through = {Runtime.ONNXRUNTIME: ", ONNX Runtime", Runtime.LITERT: ", LiteRT"}.get(run.runtime, "")
    desc = (f"{run.machine.get('gpu') or run.machine.get('cpu')} ({run.device}, "
            f"{threads} thread{'' if threads == 1 else 's'}{through}), measured")
    machine = dict(run.machine)
    machine["copy_bytes_per_s"] = _sig(run.copy.value)
    for d, det in run.peak_details.items():
        for k, m in det.items():
            machine[f"{k}_{d}_macs_per_s"] = _sig(m.value)
    if run.noisy:
        machine["noisy"] = ("spread above 20 % (10 % for a peak) after extra trials (a loaded machine): "
                            + ", ".join(run.noisy))
    if run.unusable:
        machine["unusable"] = (f"spread above {UNUSABLE_SPREAD * 100:.0f} %, written anyway (--allow-noisy): "
                               + ", ".join(run.unusable))
    machine |= {f"self_check_{k}": v for k, v in run.check.items()}
    ceilings = []
    slow = run.overhead["in_network"].value if "in_network" in run.overhead else 0.0
    in_network = (f"; every rate divided by {1 + slow:.3g}: in a network layers took that times their time alone "
                  f"({run.overhead['in_network'].describe()})" if "in_network" in run.overhead else "")
    sessions_note = run.probes_note
    for bt, fits in sorted(run.ceilings.items()):
        worst = max(fits.values(), key=lambda f: f.median_fit_error)
        ceilings.append(Ceilings(
            bt, {op: _sig(f.rate / (1 + slow)) for op, f in fits.items() if f.unit == "MAC/s"},
            {op: _sig(f.rate / (1 + slow)) for op, f in fits.items() if f.unit == "B/s"} | (
                {"elementwise": _sig(fits["activation"].rate / (1 + slow))} if "activation" in fits else {}),
            f"{src}: per op class, seconds = fixed + max(MACs / rate(shape), bytes / bandwidth) (compute) or "
            f"fixed + bytes / rate (memory-only), fitted over {sum(f.shapes for f in fits.values())} probe "
            f"shapes at batch {bt}, {run.ceilings_dtype}, timed interleaved{sessions_note}; worst median fit error "
            f"{worst.median_fit_error:.0%} ({worst.op}); per class, its spread (the second largest over its shapes) "
            f"and trials per shape: " + ", ".join(f"{op} {f.spread:.0%} ({f.trials})" for op, f in fits.items())
            + in_network,
            {op: f.shape for op, f in fits.items() if f.shape is not None},
            {op: (_sig(f.parallel_at), _sig(f.parallel_s)) for op, f in fits.items() if f.parallel_s > 0}))
    kernels: dict[str, KernelCost] = {}
    fits1 = run.ceilings.get(min(run.ceilings)) if run.ceilings else {}
    o = run.overhead
    if "eager" in o:
        extra = o["in_context"].value if "in_context" in o else 0.0
        by_op = _by_op(fits1, extra) if run.device == "cpu" else {}
        how = o["eager"].describe() + (f"; per op class: the fitted fixed part of its ceiling plus "
                                       f"{extra * 1e6:.3g} µs in context ({o['in_context'].describe()})"
                                       if by_op and "in_context" in o else
                                       "; per op class: the fitted fixed part of its ceiling" if by_op else "")
        kernels["eager"] = KernelCost(_sig(o["eager"].value + extra), f"{src}: {how}", "measured", by_op)
        if "graph" not in o:
            kernels["fused"] = KernelCost(kernels["eager"].value, f"assumed equal to the eager per-kernel cost "
                                          f"(not measured: {src} ran eager)", "low", by_op)
    for key, rt, probe in (("onnxruntime", "ONNX Runtime", "kernel time in ONNX Runtime's node profile, layout "
                                                             "reorders left out"),
                           ("litert", "LiteRT", "op: what one more copy of it cost in a graph under LiteRT")):
        if key not in o:
            continue
        # one kernel per fused node: the fitted fixed part of its class (its kernel time alone) plus what a
        # kernel costs in a network beyond that
        extra = o["in_context"].value if "in_context" in o else 0.0
        by_op = _by_op(fits1, extra)
        how = o[key].describe() + (f"; per op class: the fitted fixed part of its ceiling (each probe's {probe}) "
                                   f"plus {extra * 1e6:.3g} µs in context" if by_op else "")
        kernels["fused"] = KernelCost(_sig(max(o[key].value + extra, 0.0)), f"{src}: {how}", "measured", by_op)
        kernels["eager"] = KernelCost(kernels["fused"].value, f"assumed equal to {rt}'s per-kernel cost "
                                      f"(not measured: {src} ran {rt}, not PyTorch eager)", "low", by_op)
    if "graph" in o:
        # under graph replay a kernel's fixed cost is the fitted fixed part of its class (the class fits
        # time graph replays), the chain's average elsewhere
        by_op = _by_op(fits1, 0.0)
        how = o["graph"].describe() + ("; per op class: the fitted fixed part of its ceiling (timed as "
                                       "CUDA-graph replays)" if by_op else "")
        kernels["graph"] = KernelCost(_sig(o["graph"].value), f"{src}: {how}", "measured", by_op)
        kernels["fused"] = KernelCost(kernels["graph"].value, "assumed equal to the CUDA-graph per-kernel cost "
                                      "(a compiled engine launches its kernels the same way)", "low", by_op)
    per_inf = (Figure(_sig(o["inference"].value), f"{src}: {o['inference'].describe()}", "measured")
               if "inference" in o else None)
    fresh = (Figure(_sig(o["fresh_memory"].value), f"{src}: {o['fresh_memory'].describe()}; charged once per "
                    f"inference (eager only) for fresh_memory_share of the layers' activation bytes", "measured")
             if "fresh_memory" in o else None)
    share = Figure(FRESH_SHARE, FRESH_SHARE_SOURCE, "medium") if fresh else None
    return HardwareProfile(name=name, kind="gpu" if run.device == "cuda" else "cpu", description=desc,
                           default_dtype=default, peak_macs_per_s=peaks,
                           mem_bw_bytes_per_s=Figure(run.bandwidth.value, f"{src}: {run.bandwidth.describe()}",
                                                     "measured"),
                           machine=machine, ceilings=tuple(ceilings), overhead=Overhead(kernels, per_inf, fresh, share))
