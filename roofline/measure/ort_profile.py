"""``roofline profile --runtime onnxruntime``: this CPU's ceilings measured through ONNX Runtime's CPU provider.

The method is the PyTorch profile's (:mod:`roofline.measure.profiler`), each figure timed as ONNX Runtime runs it:

- one dtype for the ceilings, the first ``--dtype``: fp32, or int8: every probe, the ladder and the check network
  exported, then quantized by ONNX Runtime's static quantizer (QDQ, U8S8, per-channel weights:
  :mod:`roofline.measure.onnx_quantize`), the graphs ONNX Runtime fuses into its int8 kernels (QLinearConv,
  QLinearAdd, QGemm, ...), as a quantized model made the same way runs; a probe's boundary Quantize and
  Dequantize (a network pays them once, at its ends) are left out of its time, as layout reorders are;
- peaks: an exported ``n x n x n`` fp32 MatMul and the large 3x3 conv; int8: ``MatMulInteger`` (uint8
  activations x int8 weights, int32 accumulation: ONNX Runtime's U8S8 kernel, what a quantized graph's
  ``QLinearMatMul`` and ``DynamicQuantizeLinear`` + ``MatMulInteger`` run) and the large conv quantized;
- bandwidth: PyTorch's copy and triad (the memory system is the runtime's too; said in the profile);
- per op class: every probe exported by ``torch.onnx.export`` (opset 17) and run as a session of its own,
  in a fresh process whose sessions share one global thread pool (at more than one thread the main thread pinned
  to one CPU, the pool's workers to the others: :func:`roofline.measure.timing.settle_threads`), the probes'
  calls interleaved; a probe's time is its kernels' time in ONNX Runtime's node profile, layout reorders left
  out (a network converts its layout at its boundaries, a probe around each kernel; a session's own cost per
  ``run`` is the per-inference term, paid once);
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
from .timing import (PEAK_NOISY_SPREAD, Measurement, fixed_cost, interleaved_times, rate, settle_threads,
                     settled_note, steady_times)

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
        if dtype not in DTYPES:
            raise RooflineError(f"--runtime onnxruntime measures {' and '.join(DTYPES)}, not {dtype}")
        self.threads, self.int8 = int(threads), dtype == "int8"
        # int8 probes may run slower in the node profile than in a network: the ladder may say so
        # (roofline.measure.overheads.in_context)
        self.faster = self.int8
        self._tmp = tempfile.TemporaryDirectory(prefix="roofline-ort-")
        self.folder = Path(self._tmp.name)
        self._n = 0
        self._graphs: dict[int, Path] = {}  # id(probe) -> its exported graph (counted, then timed)
        if self.int8:
            self.probes_note = self.probes_note.replace("opset 17;", "opset 17, quantized U8S8 QDQ;").replace(
                "layout reorders left out", "layout reorders and its ends' Quantize and Dequantize left out")
        if self.threads > 1:
            self.probes_note += settled_note("the pool's")

    def __enter__(self) -> OrtSessions:
        return self

    def __exit__(self, *exc: object) -> None:
        self._tmp.cleanup()

    def export(self, module: nn.Module, shapes: tuple[tuple[int, ...], ...], name: str = "", float_only: bool = False
               ) -> Path:
        """``module`` exported; in an int8 profile (unless ``float_only``) given distinct weights and quantized
        (:func:`roofline.measure.onnx_quantize.quantize_onnx`)."""
        self._n += 1
        stem = f"{self._n:04d}{'-' + name if name else ''}"
        if not self.int8 or float_only:
            return export_onnx(module, shapes, self.folder, stem)
        from .onnx_quantize import distinct_weights, quantize_onnx

        src = export_onnx(distinct_weights(module), shapes, self.folder, stem + "-float")
        return quantize_onnx(src, self.folder / f"{stem}-int8.onnx")

    def runner(self, path: Path, shapes: tuple[tuple[int, ...], ...], inner: int = 1) -> Callable[[], None]:
        """``inner`` runs of the graph at ``path`` on zeros of ``shapes``."""
        sess, feeds = open_session(GraphJob(str(path), [list(s) for s in shapes], 0, self.threads))

        def run() -> None:
            for _ in range(inner):
                sess.run(None, feeds)
        return run

    def module_runner(self, module: nn.Module, shapes: tuple[tuple[int, ...], ...], inner: int = 1,
                      float_only: bool = False) -> Callable[[], None]:
        return self.runner(self.export(module, shapes, float_only=float_only), shapes, inner)

    def graph_times(self, graphs: list[tuple[Path, tuple[tuple[int, ...], ...]]], inner: int, trials: int
                    ) -> list[list[float]]:
        """Each exported graph's kernel seconds per run, one value per timed call of ``inner`` runs: the graphs
        run as profiled sessions in a fresh process (:func:`_kernel_times_child`)."""
        job = KernelJob([[str(path), [list(x) for x in shapes]] for path, shapes in graphs], inner, trials,
                        self.threads, str(self.folder))
        return run_fresh(_kernel_times_child, job, "timing the probes under ONNX Runtime", ProfileError)["times"]

    def empty_runner(self, inner: int = 1) -> Callable[[], None]:
        """A one-node graph (x + x on 1x16x8x8 fp32): what one ``run`` costs besides its kernels."""
        return self.runner(self.export(_Add(), ((1, 16, 8, 8),), float_only=True), ((1, 16, 8, 8),), inner)

    # what the profiler measures through (the same methods as LiteSessions)
    def label(self) -> str:
        return runtime_label()

    def supports(self, p: Probe) -> bool:
        return True

    def extra_probes(self, batch: int, quick: bool) -> list[Probe]:
        """fp32: none (the PyTorch grid's classes only: the committed fp32 reports were made so); int8: the ops
        an int8 graph runs as int8 kernels of their own where a float one fuses them or the grid has no class:
        QLinearMul (squeeze-excitation's scaling, a swish's product), QLinearSigmoid and QLinearConcat (the
        ``elementwise`` class is the grid's ReLU, which a quantized graph drops into its Quantize's range)."""
        if not self.int8:
            return []
        from .probes import _MAPS, Scale, Square, TwoConcat

        out = []
        for c, hw in (_MAPS[::2] if quick else _MAPS):
            m = (batch, c, hw, hw)
            out += [Probe("mul", Scale, (m, (batch, c, 1, 1))), Probe("mul", Square, (m,)),
                    Probe("sigmoid", nn.Sigmoid, (m,)), Probe("concat", TwoConcat, (m, m))]
        return out

    def count(self, p: Probe, elem: int):
        """fp32: the probe's PyTorch module as traced (the committed fp32 reports were made so); int8: its
        quantized graph as the ONNX reader counts it (uint8 tensors as elements, as a quantized model's)."""
        from .probes import count, count_table

        if not self.int8:
            return count(p, elem)
        from ..trace import trace

        return count_table(trace(f"onnx:{self._graph(p)}"), elem)

    def _graph(self, p: Probe) -> Path:
        """The probe's exported (int8: quantized) graph, made once."""
        if id(p) not in self._graphs:
            self._graphs[id(p)] = self.export(p.make().eval(), p.inputs, p.op)
        return self._graphs[id(p)]

    def probe_times(self, chunk: list[Probe], inner: int, trials: int) -> list[tuple[list[float], float]]:
        """Each probe's kernel seconds per run, and 0 to take off them (a run's own cost is not in them)."""
        return [(t, 0.0) for t in self.graph_times([(self._graph(p), p.inputs) for p in chunk], inner, trials)]

    def measure_matmul(self, dtype: str, b: Budget) -> Measurement:
        return measure_matmul(self, dtype, b)

    def measure_conv(self, dtype: str, b: Budget) -> Measurement:
        return measure_conv(self, dtype, b)

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
    profile, each call's kernel time (its nodes' ``kernel_time``; left out: layout reorders, the nodes named in
    ``skip`` and, given the names of the file's ``own`` nodes, the Transposes ONNX Runtime adds around its NHWC
    int8 kernels, which have none of them) per run."""

    def __init__(self, sess, feeds: dict, inner: int, own: frozenset[str] | None = None,
                 skip: frozenset[str] = frozenset()):
        self.sess, self.feeds, self.inner = sess, feeds, inner
        self.own, self.skip = own, skip
        self.calls = 0

    def counts(self, event: dict) -> bool:
        """Whether a kernel event is the graph's work (see the class docstring)."""
        op, node = event.get("args", {}).get("op_name"), str(event["name"])[:-len("_kernel_time")]
        return not (op in LAYOUT_OPS or node in self.skip
                    or (op == "Transpose" and self.own is not None and node not in self.own))

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
        run_s = [sum(float(e["dur"]) for e in kernels[i * per:(i + 1) * per] if self.counts(e)) * 1e-6
                 for i in range(runs)]
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
    import onnx

    from .onnx_quantize import boundary_nodes

    runs = []
    for i, (path, shapes) in enumerate(job.graphs):
        sess, feeds = open_session(GraphJob(path, shapes, 0, job.threads), f"{job.folder}/p{i}", global_threads=True)
        ends = boundary_nodes(path)  # a quantized graph's (a float one has none)
        own = frozenset(n.name for n in onnx.load(path, load_external_data=False).graph.node) if ends else None
        runs.append(KernelTimer(sess, feeds, job.inner, own, ends))
    for run in runs:  # a warm-up call each, which also starts the pool's threads, then settle them
        run()
    settle_threads(job.threads)
    interleaved_times(runs, job.trials, 0, "cpu")
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
        fn = s.module_runner(nn.Linear(n, n, bias=False), ((n, n),), float_only=True)
        what = f"ONNX Runtime MatMul {n}x{n}x{n} fp32"
    else:
        raise RooflineError(f"--runtime onnxruntime measures {' and '.join(DTYPES)}, not {dtype}")
    times = steady_times(fn, b.trials, b.warmup, "cpu", limit=PEAK_NOISY_SPREAD)
    return rate(float(n) ** 3, times, "MAC/s", what, PEAK_NOISY_SPREAD)


def measure_conv(s: OrtSessions, dtype: str, b: Budget) -> Measurement:
    hw, c = b.conv_hw, 256
    if dtype == "int8" and not s.int8:
        raise RooflineError("the int8 conv is measured in an int8 profile (--runtime onnxruntime --dtype int8)")
    fn = s.module_runner(nn.Conv2d(c, c, 3, 1, 1, bias=False), ((1, c, hw, hw),), float_only=dtype == "fp32")
    times = steady_times(fn, b.trials, b.warmup, "cpu", limit=PEAK_NOISY_SPREAD)
    what = (f"ONNX Runtime Conv 1x{c}x{hw}x{hw} -> {c}, 3x3, fp32" if dtype == "fp32" else
            f"ONNX Runtime QLinearConv 1x{c}x{hw}x{hw} -> {c}, 3x3, U8S8 (wall time: its input's Quantize and "
            f"output's Dequantize included)")
    return rate(float(c * hw * hw * c * 9), times, "MAC/s", f"large conv: {what}", PEAK_NOISY_SPREAD)


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
    dt = "int8 (quantized U8S8 QDQ)" if s.int8 else "fp32"
    out["onnxruntime"] = fixed_cost([max(t - base, 0.0) / k for t in chain],
                                    f"ONNX Runtime chain of 20 (1x1 conv, BN, ReLU) blocks on 1x16x8x8 {dt}, fused "
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
