"""``roofline profile --runtime onnxruntime``: this CPU's ceilings measured through ONNX Runtime's CPU provider.

The method is the PyTorch profile's (:mod:`roofline.measure.profiler`), each figure timed as ONNX Runtime runs it:

- peaks: an exported ``n x n x n`` fp32 MatMul and the large 3x3 conv; int8: ``MatMulInteger`` (uint8
  activations x int8 weights, int32 accumulation: ONNX Runtime's U8S8 kernel, what a quantized graph's
  ``QLinearMatMul`` and ``DynamicQuantizeLinear`` + ``MatMulInteger`` run);
- bandwidth: PyTorch's copy and triad (the memory system is the runtime's too; said in the profile);
- per op class: every probe exported by ``torch.onnx.export`` (opset 17) and run as a session of its own,
  in a fresh process whose sessions share one global thread pool, the probes' calls interleaved; a probe's
  time is its kernels' time in ONNX Runtime's node profile, layout reorders left out (a network converts its
  layout at its boundaries, a probe around each kernel; a session's own cost per ``run`` is the
  per-inference term, paid once);
- per inference: one ``run`` of a one-node graph; per kernel: a chain of 20 (1x1 conv, BN, ReLU) blocks,
  which ONNX Runtime fuses into 20 conv kernels, less one run's cost, over its kernels as the ONNX reader
  counts them (:mod:`roofline.trace.onnx_graph`);
- in context and the self-check: the ladder and check networks exported and timed in fresh processes
  under ONNX Runtime, predicted from their ONNX graphs with fused execution.

No fresh-memory term: ONNX Runtime's arena allocator keeps its buffers (the ladder, check and validated networks
took no page faults per inference in their processes), and fused execution charges none.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..core.errors import ProfileError, RooflineError
from ..core.reading import Runtime
from .budget import Budget
from .fresh import read_job, run_fresh
from .fresh import GraphJob
from .onnx_runtime import export_onnx, open_session, require_ort, time_ort_child
from .probes import Probe
from .timing import PEAK_NOISY_SPREAD, Measurement, fixed_cost, interleaved_times, rate, steady_times

DTYPES = ("fp32", "int8")


def runtime_label() -> str:
    """The runtime as a profile records it."""
    return f"onnxruntime {require_ort().__version__} (CPUExecutionProvider, graph optimizations all)"


class _Add(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + x


def kernel_chain() -> nn.Sequential:
    """20 (1x1 conv 16 -> 16, BN, ReLU) blocks: PyTorch's 60 eager kernels, ONNX Runtime's 20 fused ones."""
    return nn.Sequential(*[nn.Sequential(nn.Conv2d(16, 16, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
                           for _ in range(20)]).eval()


class OrtSessions:
    """Modules exported into one temporary folder and run as ONNX Runtime sessions at ``threads`` threads.
    Use as a context manager: the folder goes when it closes. The profiler measures through it as through
    :class:`roofline.measure.litert_profile.LiteSessions`: the same methods."""

    runtime = Runtime.ONNXRUNTIME
    check_network = None  # the self-check's network is CheckNetwork itself, exported
    # ONNX Runtime's profile gives each kernel's duration in whole microseconds: one of a spread is its
    # resolution, not load (a 1.4 µs ReLU read 1-3 µs, a 109 % spread on a quiet machine)
    resolution_s = 1e-6
    probes_note = (" as ONNX Runtime sessions (exported, opset 17; one global thread pool, a fresh process), "
                   "each timed by its kernels in ONNX Runtime's node profile, layout reorders left out")

    def __init__(self, threads: int, dtype: str = "fp32"):
        require_ort()
        self.threads = int(threads)
        self._tmp = tempfile.TemporaryDirectory(prefix="roofline-ort-")
        self.folder = Path(self._tmp.name)
        self._n = 0

    def __enter__(self) -> OrtSessions:
        return self

    def __exit__(self, *exc: object) -> None:
        self._tmp.cleanup()

    def export(self, module: nn.Module, shapes: tuple[tuple[int, ...], ...], name: str = "") -> Path:
        self._n += 1
        return export_onnx(module, shapes, self.folder, f"{self._n:04d}{'-' + name if name else ''}")

    def runner(self, path: Path, shapes: tuple[tuple[int, ...], ...], inner: int = 1) -> Callable[[], None]:
        """``inner`` runs of the graph at ``path`` on zeros of ``shapes``."""
        sess, feeds = open_session(GraphJob(str(path), [list(s) for s in shapes], 0, self.threads))

        def run() -> None:
            for _ in range(inner):
                sess.run(None, feeds)
        return run

    def module_runner(self, module: nn.Module, shapes: tuple[tuple[int, ...], ...], inner: int = 1
                      ) -> Callable[[], None]:
        return self.runner(self.export(module, shapes), shapes, inner)

    def kernel_times(self, modules: list[tuple[nn.Module, tuple[tuple[int, ...], ...]]], inner: int, trials: int
                     ) -> list[list[float]]:
        """Each module's kernel seconds per run, one value per timed call of ``inner`` runs: the modules
        exported, then run as profiled sessions in a fresh process (:func:`_kernel_times_child`)."""
        graphs = []
        for module, shapes in modules:
            graphs.append([str(self.export(module, shapes)), [list(x) for x in shapes]])
        job = KernelJob(graphs, inner, trials, self.threads, str(self.folder))
        return run_fresh(_kernel_times_child, job, "timing the probes under ONNX Runtime", ProfileError)["times"]

    def empty_runner(self, inner: int = 1) -> Callable[[], None]:
        """A one-node graph (x + x on 1x16x8x8 fp32): what one ``run`` costs besides its kernels."""
        return self.module_runner(_Add(), ((1, 16, 8, 8),), inner)

    # what the profiler measures through (the same methods as LiteSessions)
    def label(self) -> str:
        return runtime_label()

    def supports(self, p: Probe) -> bool:
        return True

    def extra_probes(self, batch: int, quick: bool) -> list[Probe]:
        return []  # the PyTorch grid's classes only (the committed ONNX Runtime reports were made so)

    def count(self, p: Probe, elem: int):
        from .probes import count

        return count(p, elem)

    def probe_times(self, chunk: list[Probe], inner: int, trials: int) -> list[tuple[list[float], float]]:
        """Each probe's kernel seconds per run, and 0 to take off them (a run's own cost is not in them)."""
        return [(t, 0.0) for t in self.kernel_times([(p.make().eval(), p.inputs) for p in chunk], inner, trials)]

    def measure_matmul(self, dtype: str, b: Budget) -> Measurement:
        return measure_matmul(self, dtype, b)

    def measure_conv(self, dtype: str, b: Budget) -> Measurement:
        return measure_conv(self, b)

    def measure_overheads(self, trials: int) -> dict[str, Measurement]:
        return measure_overheads(self, trials)

    def time_networks(self, sizes: tuple[int, ...], trials: int, processes: int
                      ) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, str]]:
        from .overheads import CHECK_INPUT, CheckNetwork, ladder_network

        nets = {"check": (CheckNetwork().eval(), CHECK_INPUT)} | {
            f"ladder{hw}": (ladder_network().eval(), (1, 16, hw, hw)) for hw in sizes}
        times, faults, paths = time_networks(self, nets, trials, {k: processes for k in nets if k != "check"})
        return times, faults, {k: f"onnx:{p}" for k, p in paths.items()}


# nodes ONNX Runtime adds to convert a graph's edges to and from its blocked NCHWc layout: a network pays them
# at its layout's boundaries, a probe run alone around each of its kernels
LAYOUT_OPS = frozenset({"ReorderInput", "ReorderOutput"})


class KernelTimer:
    """A profiled session: each call runs it ``inner`` times; :meth:`seconds` reads, from ONNX Runtime's
    profile, each call's kernel time (its nodes' ``kernel_time``, layout reorders left out) per run."""

    def __init__(self, sess, feeds: dict, inner: int):
        self.sess, self.feeds, self.inner = sess, feeds, inner
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1
        for _ in range(self.inner):
            self.sess.run(None, self.feeds)

    def seconds(self) -> list[float]:
        """Per call (in order, warm-up calls included), the mean kernel seconds of its runs."""
        events = json.loads(Path(self.sess.end_profiling()).read_text())
        runs = sum(1 for e in events if e.get("cat") == "Session" and e.get("name") == "model_run")
        kernels = [e for e in events if e.get("cat") == "Node" and str(e.get("name", "")).endswith("_kernel_time")]
        if not runs or len(kernels) % runs or runs != self.calls * self.inner:
            raise ProfileError(f"ONNX Runtime's profile has {len(kernels)} kernel events over {runs} runs, expected "
                               f"the same nodes in each of {self.calls * self.inner}")
        per = len(kernels) // runs
        run_s = [sum(float(e["dur"]) for e in kernels[i * per:(i + 1) * per]
                     if e.get("args", {}).get("op_name") not in LAYOUT_OPS) * 1e-6 for i in range(runs)]
        return [sum(run_s[c * self.inner:(c + 1) * self.inner]) / self.inner for c in range(self.calls)]


@dataclass(frozen=True)
class KernelJob:
    """Graphs to time interleaved, as profiled sessions, in a fresh process (:func:`_kernel_times_child`)."""

    graphs: list  # [path, [input shape, ...]] per graph
    inner: int
    trials: int
    threads: int
    folder: str  # where the profiles go


def _kernel_times_child() -> None:
    """Entry of a fresh process: every graph a session of one global thread pool (per-session pools, each
    spinning after its run, took each other's cores at 2 threads: one ceiling spread by 3,000 %), its calls
    interleaved with the others' (:func:`roofline.measure.timing.interleaved_times`: a call's first run finds
    its weights out of cache, as a layer in a network does); prints {"times": per graph, the kernel seconds per
    run of each timed call}."""
    ort = require_ort()
    job = read_job(KernelJob)
    try:  # onnxruntime's Python binding for CreateEnvWithGlobalThreadPools (1.8 and later)
        set_pools = ort.capi._pybind_state.set_global_thread_pool_sizes
    except AttributeError:
        raise ProfileError(f"onnxruntime {ort.__version__} has no global thread pools to time the probes in; "
                           f"upgrade it (pip install -U onnxruntime)") from None
    set_pools(int(job.threads), 1)
    runs = []
    for i, (path, shapes) in enumerate(job.graphs):
        sess, feeds = open_session(GraphJob(path, shapes, 0, job.threads), f"{job.folder}/p{i}", global_threads=True)
        runs.append(KernelTimer(sess, feeds, job.inner))
    interleaved_times(runs, job.trials, 1, "cpu")
    print(json.dumps({"times": [r.seconds()[1:] for r in runs]}))  # the first call warmed up


def measure_matmul(s: OrtSessions, dtype: str, b: Budget) -> Measurement:
    n = b.matmul_n
    if dtype == "int8":
        import numpy as np
        from onnx import TensorProto, helper, numpy_helper, save

        w = numpy_helper.from_array(np.random.default_rng(0).integers(-128, 128, (n, n), dtype=np.int8), "w")
        g = helper.make_graph([helper.make_node("MatMulInteger", ["x", "w"], ["y"])], "int8_matmul",
                              [helper.make_tensor_value_info("x", TensorProto.UINT8, [n, n])],
                              [helper.make_tensor_value_info("y", TensorProto.INT32, [n, n])], [w])
        path = s.folder / "int8_matmul.onnx"
        save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
        fn = s.runner(path, ((n, n),))
        what = f"ONNX Runtime MatMulInteger {n}x{n}x{n} (uint8 x int8 -> int32)"
    elif dtype == "fp32":
        fn = s.module_runner(nn.Linear(n, n, bias=False), ((n, n),))
        what = f"ONNX Runtime MatMul {n}x{n}x{n} fp32"
    else:
        raise RooflineError(f"--runtime onnxruntime measures {' and '.join(DTYPES)}, not {dtype}")
    times = steady_times(fn, b.trials, b.warmup, "cpu", limit=PEAK_NOISY_SPREAD)
    return rate(float(n) ** 3, times, "MAC/s", what, PEAK_NOISY_SPREAD)


def measure_conv(s: OrtSessions, b: Budget) -> Measurement:
    hw, c = b.conv_hw, 256
    fn = s.module_runner(nn.Conv2d(c, c, 3, 1, 1, bias=False), ((1, c, hw, hw),))
    times = steady_times(fn, b.trials, b.warmup, "cpu", limit=PEAK_NOISY_SPREAD)
    return rate(float(c * hw * hw * c * 9), times, "MAC/s", f"large conv: ONNX Runtime Conv 1x{c}x{hw}x{hw} -> {c}, "
                                                            f"3x3, fp32", PEAK_NOISY_SPREAD)


def measure_overheads(s: OrtSessions, trials: int) -> dict[str, Measurement]:
    """Per inference (one run of a one-node graph) and per kernel in an ONNX Runtime graph, in seconds."""
    from ..trace.onnx_graph import trace_onnx

    trials = max(5, trials)
    empty = steady_times(s.empty_runner(), trials * 4, 3, "cpu", inner=20)
    out = {"inference": fixed_cost(empty, "one ONNX Runtime run of a one-node graph (Add on 1x16x8x8 fp32)")}
    path = s.export(kernel_chain(), ((1, 16, 8, 8),), "chain")
    k = len(trace_onnx(path).layers)
    chain = steady_times(s.runner(path, ((1, 16, 8, 8),)), trials * 4, 3, "cpu")
    base = out["inference"].value
    out["onnxruntime"] = fixed_cost([max(t - base, 0.0) / k for t in chain],
                                    f"ONNX Runtime chain of 20 (1x1 conv, BN, ReLU) blocks on 1x16x8x8 fp32, fused "
                                    f"into {k} kernels: wall time less one run's cost, per kernel")
    return out


def time_networks(s: OrtSessions, networks: dict[str, tuple[nn.Module, tuple[int, ...]]], trials: int,
                  processes: dict[str, int]) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, Path]]:
    """Seconds per inference of each of ``networks`` (key -> (module, input shape)) exported and run under ONNX
    Runtime in ``processes[key]`` fresh processes; their page faults per inference; the exported files."""
    times: dict[str, list[float]] = {}
    faults: dict[str, list[float]] = {}
    paths: dict[str, Path] = {}
    for key, (module, shape) in networks.items():
        paths[key] = s.export(module, (shape,), key)
        for _ in range(processes.get(key, 1)):
            r = run_fresh(time_ort_child, GraphJob(str(paths[key]), [list(shape)], max(5, trials), s.threads),
                          f"timing the synthetic network {key} under ONNX Runtime", ProfileError)
            times.setdefault(key, []).extend(r["times"])
            faults.setdefault(key, []).append(r["faults"])
    return times, faults, paths
