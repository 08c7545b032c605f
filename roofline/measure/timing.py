"""Timing primitives shared by the profiler and validation: wall clock on CPU, CUDA events on GPU,
medians with their spread, and more trials when a loaded machine makes a figure noisy."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

# A figure whose interquartile range exceeds this share of its median is noisy: the
# profiler takes more trials, then flags it.
NOISY_SPREAD = 0.20

# A peak MAC/s sets the ridge point (peak / bandwidth), and a quiet machine times a large matmul or
# conv within a few per cent (1-5 % in the shipped runs): a peak spread by more than this is noisy.
# Under load a quick profile measured 51 GMAC/s at a 17 % spread against 150-173 on reruns.
PEAK_NOISY_SPREAD = 0.10


@dataclass(frozen=True)
class Measurement:
    """One measured rate or time: median of the trials, their spread, and what was timed.

    ``spread`` is the interquartile range over the median (robust to one stray trial).
    """

    value: float
    spread: float
    unit: str
    what: str
    trials: int
    basis: str = ""  # how ``value`` was made where it is not the median of ``trials`` repeated trials
    limit: float = NOISY_SPREAD  # the spread above which this figure is noisy

    @property
    def noisy(self) -> bool:
        return self.spread > self.limit

    def describe(self) -> str:
        how = self.basis or f"median of {self.trials} trials"
        return (f"{self.what}: {how}, spread {self.spread:.1%}"
                + (" (noisy: the machine was loaded)" if self.noisy else ""))


def spread(values: list[float]) -> float:
    """Interquartile range over the median; 0 for fewer than 2 values."""
    if len(values) < 2:
        return 0.0
    q = statistics.quantiles(values, n=4, method="inclusive")
    med = statistics.median(values)
    return (q[2] - q[0]) / med if med else 0.0


def time_calls(fn: Callable[[], object], trials: int, warmup: int, device: str, inner: int = 1) -> list[float]:
    """Seconds per call of ``fn`` (``inner`` calls per trial), after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    if device == "cuda":
        torch.cuda.synchronize()
        for _ in range(trials):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(inner):
                fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end) / 1e3 / inner)
    else:
        for _ in range(trials):
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            times.append((time.perf_counter() - t0) / inner)
    return times


BACKOFF_S = (0.1, 0.3)  # pauses before the retries of a noisy figure: a burst of load may pass


def steady_times(fn: Callable[[], object], trials: int, warmup: int, device: str, inner: int = 1,
                 retries: int = 2, limit: float = NOISY_SPREAD) -> list[float]:
    """Like :func:`time_calls`, but while the trials are noisy (spread above ``limit``, 20 %) pauses
    (back-off), then takes twice as many more, up to ``retries`` times, and returns them all."""
    times = time_calls(fn, trials, warmup, device, inner)
    for attempt in range(retries):
        if spread(times) <= limit:
            break
        time.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
        times += time_calls(fn, 2 * trials, 1, device, inner)
    return times


def cuda_graph(fn: Callable[[], object], warmup: int = 3) -> Callable[[], object]:
    """Capture ``fn`` (after warm-up on a side stream, as CUDA graphs require) and return the replay."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def rate(work: float, times: list[float], unit: str, what: str, limit: float = NOISY_SPREAD) -> Measurement:
    """``work`` per second over the trials (median), with the spread of the rates (noisy above ``limit``)."""
    rates = [work / t for t in times if t > 0]
    if not rates:
        rates = [float("inf")]
    return Measurement(statistics.median(rates), spread(rates), unit, what, len(rates), limit=limit)


def seconds(times: list[float], what: str) -> Measurement:
    return Measurement(statistics.median(times), spread(times), "s", what, len(times))


def fixed_cost(times: list[float], what: str, blocks: int = 5) -> Measurement:
    """A fixed cost (per call, per kernel) robust to a loaded machine: the trials split into ``blocks``
    consecutive blocks, the 25th percentile of the block medians, and the spread of those medians.
    Load only ever adds time, so a low quantile of medians is what the machine does when free, and a
    block median does not jump with one preempted trial as a single trial does."""
    k = max(1, len(times) // blocks)
    meds = [statistics.median(times[i:i + k]) for i in range(0, len(times) - k + 1, k)]
    low = statistics.quantiles(meds, n=4, method="inclusive")[0] if len(meds) >= 2 else meds[0]
    return Measurement(low, spread(meds), "s", f"{what}; the 25th percentile of {len(meds)} block medians",
                       len(times))


def interleaved_times(runs: list[Callable[[], object]], trials: int, warmup: int, device: str,
                      retries: int = 2) -> list[list[float]]:
    """Seconds per call of each of ``runs``, their trials interleaved: trial 1 of every run, then
    trial 2 of every run, and so on, so that a burst of load spreads over all figures instead of
    landing on one. Runs still noisy (spread above 20 %) are measured again, interleaved among
    themselves, after a back-off pause, with twice the trials, up to ``retries`` times."""
    for fn in runs:
        for _ in range(warmup):
            fn()
    times: list[list[float]] = [[] for _ in runs]

    def rounds(which: list[int], n: int) -> None:
        for _ in range(n):
            for i in which:
                times[i] += time_calls(runs[i], 1, 0, device)

    rounds(list(range(len(runs))), trials)
    for attempt in range(retries):
        noisy = [i for i, t in enumerate(times) if spread(t) > NOISY_SPREAD]
        if not noisy:
            break
        time.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
        rounds(noisy, 2 * trials)
    return times


def settled_note(workers: str) -> str:
    """What a profile's ceiling source says of :func:`settle_threads` (``workers``: whose threads they are)."""
    return f", the process's main thread pinned to one CPU and {workers} workers to the others where it has as many " \
           f"CPUs as threads"


def settle_threads(threads: int) -> bool:
    """At ``threads`` > 1, this process's main thread pinned to one of its CPUs and every other thread (the
    runtime's workers: LiteRT's XNNPACK pools, ONNX Runtime's global pool) to the rest, as a one-model process's
    threads settle on distinct CPUs; called by the probe processes of both runtimes once their pools exist. False
    where there is nothing to settle (one thread, fewer CPUs than threads, no affinity calls). Unpinned, on a
    2-vCPU VM (AMD EPYC), a probe's trials ran at 1x or about 2x its time (its worker, woken on the main thread's
    CPU, did none of the work): LiteRT's 16 1x1-conv int8 probes spread (interquartile range over median) by up to
    1.20, 12 of them over 0.3, in one run, up to 0.21 in the next; pinned, up to 0.31 and 0.12, alternating with
    those; the 2-thread profile had been refused three times in a row (a ceiling spread by over 100 %). ONNX
    Runtime's 8 int8 ``fc_conv`` probes (1x1 convs on a 1 x 1 map): second largest spread 0.61 and 0.48 unpinned,
    0.12 and 0.16 pinned, alternating; an int8 profile had been refused (153 %)."""
    if threads < 2 or not hasattr(os, "sched_setaffinity"):
        return False
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < threads:
        return False
    main = threading.get_native_id()
    for tid in (int(t) for t in os.listdir("/proc/self/task")):
        try:
            os.sched_setaffinity(tid, {cpus[0]} if tid == main else set(cpus[1:]))
        except OSError:  # a thread that ended meanwhile
            pass
    return True
