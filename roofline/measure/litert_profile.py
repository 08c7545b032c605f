"""``roofline profile --runtime litert``: this CPU's ceilings measured through LiteRT (XNNPACK).

The method is the PyTorch and ONNX Runtime profiles' (:mod:`roofline.measure.profiler`), each figure timed as
LiteRT runs it, on TFLite graphs written here without TensorFlow (:mod:`roofline.measure.tflite_build`):

- one dtype per profile, the first ``--dtype``: fp32, or int8 (every tensor int8, per-channel filters: a fully
  quantized graph as the TFLite converter writes one). The ceilings, per-kernel and per-inference costs are
  that dtype's; a profile for int8 graphs is made with ``--dtype int8``;
- peaks: a FULLY_CONNECTED ``n x n x n`` and the large 3x3 CONV_2D in each ``--dtype``;
- bandwidth: PyTorch's copy and triad (the memory system is the runtime's too; said in the profile);
- per op class: each probe of the grid (:mod:`roofline.measure.probes`) that is one TFLite op, written as a
  graph (NHWC) of :data:`COPIES` copies of that op on one input (each its own weights) and as a graph of one,
  each run by an interpreter of its own, all interleaved in a fresh process; an op's time is what one more copy
  costs, the two graphs' difference per invocation over ``COPIES - 1`` (an invocation's own cost and, at 2 threads,
  its thread pool's wake-up cancel: a network's ops run back to back, a probe alone paid both each time). At more
  than one thread the process's main thread is pinned to one CPU and the interpreters' workers to the others
  (:func:`roofline.measure.timing.settle_threads`), as a one-model process's threads settle.
  Batch norm, layer norm, SiLU and fused attention are no TFLite op (the converter folds batch norm,
  and writes the others as several ops): they have no probe here, and their rows read as their parts do.
  The memory ops a converted graph has on their own (MUL, LOGISTIC, CONCATENATION, PAD, QUANTIZE) have probes
  of their own (:func:`graph_probes`);
- per kernel: a chain of 20 (1x1 CONV_2D with ReLU) less one invocation's cost, per kernel;
- in context and the self-check: the ladder network and the check network's convolutional half (no transformer
  blocks: a layer norm is several TFLite ops), written as TFLite graphs, timed in fresh processes, predicted
  from their graphs.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import numpy as np
from torch import nn

from ..core.errors import ProfileError, RooflineError
from ..core.reading import Runtime
from .budget import Budget
from .fresh import GraphJob, read_job, run_fresh
from .litert_runtime import open_interpreter, require_litert, runtime_label, time_litert_child
from .probes import Probe, Scale, Square, TwoConcat, count_table
from .tflite_build import SAME, VALID, TfliteNet
from .timing import (PEAK_NOISY_SPREAD, Measurement, fixed_cost, interleaved_times, rate, settle_threads,
                     settled_note, steady_times)

DTYPES = ("fp32", "int8")
# each probe's op, this many times on the same input in one graph, timed against the graph of one: at 2 threads,
# one op per invocation paid the thread pool's wake-up each time (EfficientNet-B0 int8 predicted 72 % above its
# measured time), as a network's ops do not; over 4 copies, with the invocation's cost taken off, the EfficientNets
# were still predicted 28-36 % above theirs at 2 threads
COPIES = 5
_EMPTY = (1, 8, 8, 16)  # the empty graph's input: one ADD


class _Quantize(nn.Module):
    """A converted int8 graph's first op: its float input QUANTIZEd (a copy at one byte per element)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


# (channels, size, kernel, stride) of depthwise convs of 7x7 taps or more (the grid's dwconv2d ones of that size,
# and two strided ones): measured as a class of their own, ``dwconv_large``
LARGE_DEPTHWISE = ((64, 56, 7, 1), (384, 14, 7, 1), (168, 16, 9, 1), (1024, 7, 7, 1), (32, 112, 7, 2), (96, 28, 7, 2))


def graph_probes(batch: int, quick: bool, int8: bool) -> Iterator[Probe]:
    """Probes LiteRT needs beyond the PyTorch grid's: depthwise convs of 7x7 taps or more (``dwconv_large``),
    3x3 average pools (``avgpool``), softmax over a classifier's 1,000 logits, and the memory ops a converted
    graph has as ops of their own, where PyTorch fuses or has none: MUL (squeeze-excitation's scaling, a swish's
    product), LOGISTIC, CONCATENATION, PAD (Keras pads before each strided conv) and, int8, the QUANTIZE a float
    input starts with."""
    from .probes import _MAPS, _Softmax

    pick = (lambda grid: grid[::2]) if quick else (lambda grid: grid)
    for c, hw, k, s in pick(LARGE_DEPTHWISE):
        yield Probe("dwconv_large", lambda c=c, k=k, s=s: nn.Conv2d(c, c, k, s, k // 2, groups=c, bias=False),
                    ((batch, c, hw, hw),))
    for c, hw in pick(_MAPS):
        yield Probe("avgpool", lambda: nn.AvgPool2d(3, 1, 1), ((batch, c, hw, hw),))
    for rows in (1, 8, 64):  # a classifier's softmax (the grid's are attention maps of 38,000 elements and more)
        yield Probe("softmax", _Softmax, ((batch, rows, 1000),))
    for c, hw in pick(_MAPS):
        m = (batch, c, hw, hw)
        yield Probe("mul", Scale, (m, (batch, c, 1, 1)))
        yield Probe("mul", Square, (m,))
        yield Probe("sigmoid", nn.Sigmoid, (m,))
        yield Probe("concat", TwoConcat, (m, m))
        yield Probe("pad", lambda: nn.ZeroPad2d(1), (m,))
        if int8:
            yield Probe("copy", _Quantize, (m,))


def _nhwc(shape: tuple[int, ...]) -> tuple[int, ...]:
    return (shape[0], shape[2], shape[3], shape[1]) if len(shape) == 4 else shape


def _op_of(m: nn.Module, p: Probe):
    """``(inputs, apply)``: the probe's input shapes as TFLite takes them and a function that adds its op to a
    graph on those inputs; None where the probe is no single TFLite op."""
    from .probes import _Add, _MatMul, _Mean, _Softmax

    shape = p.inputs[0]
    nhwc = _nhwc(shape)
    unary = {nn.ReLU: "RELU", nn.GELU: "GELU", nn.Hardswish: "HARD_SWISH", _Softmax: "SOFTMAX", nn.Sigmoid: "LOGISTIC"}
    if isinstance(m, nn.Conv2d):
        cin, cout, k, s, g = m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0], m.groups
        pad = VALID if m.padding[0] == 0 and k > 1 else SAME  # VALID where PyTorch pads nothing
        if g == cin and g > 1:
            return [nhwc], lambda n, x: n.depthwise(x, k, s, cout // cin, padding=pad)
        return [nhwc], lambda n, x: n.conv(x, cout, k, s, g, padding=pad)
    if isinstance(m, nn.Linear):
        return [shape], lambda n, x: n.fc(x, m.out_features)
    if isinstance(m, _MatMul):
        return [shape, p.inputs[1]], lambda n, a, b: n.batch_matmul(a, b)
    if type(m) in unary:
        return [nhwc], lambda n, x: n.unary(unary[type(m)], x)
    if isinstance(m, (_Add, Square)):
        code = "ADD" if isinstance(m, _Add) else "MUL"
        return [nhwc], lambda n, x: n.binary(code, x, x)
    if isinstance(m, Scale):
        return [nhwc, (shape[0], 1, 1, shape[1])], lambda n, x, sc: n.binary("MUL", x, sc)
    if isinstance(m, nn.MaxPool2d):
        return [nhwc], lambda n, x: n.pool("MAX_POOL_2D", x, m.kernel_size, m.stride)
    if isinstance(m, nn.AvgPool2d):
        return [nhwc], lambda n, x: n.pool("AVERAGE_POOL_2D", x, m.kernel_size, m.stride)
    if isinstance(m, nn.AdaptiveAvgPool2d):  # global average pooling as a pool op; timm's mean as MEAN
        return [nhwc], lambda n, x: n.pool("AVERAGE_POOL_2D", x, nhwc[1], 1, VALID)
    if isinstance(m, _Mean):
        return [nhwc], lambda n, x: n.mean(x)
    if isinstance(m, TwoConcat):
        return [nhwc, nhwc], lambda n, a, b: n.concat(a, b)
    if isinstance(m, nn.ZeroPad2d):
        return [nhwc], lambda n, x: n.pad(x, m.padding[0])
    return None


def probe_net(p: Probe, int8: bool, copies: int = 1) -> TfliteNet | None:
    """The probe as a TFLite graph of its op, ``copies`` times on the same inputs (each copy its own weights, all
    graph outputs); None where it is no single TFLite op."""
    m = p.make()
    if isinstance(m, _Quantize):
        if not int8:
            return None
        net = TfliteNet(int8)
        x = net.float_input(_nhwc(p.inputs[0]))
        net.outputs = [net.quantize(x) for _ in range(copies)]
        return net
    op = _op_of(m, p)
    if op is None:
        return None
    shapes, apply = op
    net = TfliteNet(int8)
    xs = [net.input(s) for s in shapes]
    net.outputs = [apply(net, *xs) for _ in range(copies)]
    return net


def _ladder(hw: int, int8: bool) -> TfliteNet:
    """The ladder network (:func:`roofline.measure.overheads.ladder_network`) as TFLite writes it: batch norm
    folded into each conv, ReLU fused into it."""
    from .overheads import _LADDER

    net = TfliteNet(int8)
    x = net.input((1, hw, hw, 16))
    for cin, e, cout, s in _LADDER:
        y = net.conv(x, e, 1, act="RELU")
        y = net.depthwise(y, 3, s, act="RELU")
        y = net.conv(y, cout, 1)
        x = net.binary("ADD", y, x) if s == 1 and cin == cout else y
    net.outputs = [x]
    return net


def _check(int8: bool) -> TfliteNet:
    """The check network's convolutional half (:class:`roofline.measure.overheads.CheckNetwork`: a strided stem,
    inverted residuals with hard-swish, a dense 3x3 conv with SiLU), then pooling and a 1,000-way classifier."""
    net = TfliteNet(int8)
    x = net.unary("HARD_SWISH", net.conv(net.input((1, 224, 224, 3)), 16, 3, 2))
    for cin, e, cout in ((16, 64, 24), (24, 96, 32), (32, 128, 64)):
        y = net.unary("HARD_SWISH", net.conv(x, e, 1))
        y = net.unary("HARD_SWISH", net.depthwise(y, 3, 2))
        x = net.conv(y, cout, 1)
    x = net.conv(x, 128, 3, 2)
    x = net.binary("MUL", x, net.unary("LOGISTIC", x))
    net.outputs = [net.fc(net.mean(x), 1000)]
    return net


# what the LiteRT check network is, as the self-check states it (it adds "; N kernels)")
CHECK_WHAT = ("synthetic CNN (the check network's convolutional half: a strided stem, inverted residuals with "
              "hard-swish, a 3x3 conv with SiLU; pooling, a classifier")


@dataclass(frozen=True)
class LiteTimesJob:
    """Graphs to time interleaved in a fresh process (:func:`_times_child`)."""

    paths: list
    inner: int
    trials: int
    threads: int


def _invoker(path: Path | str, threads: int, inner: int):
    """``inner`` invocations of an interpreter of the graph at ``path``."""
    it = open_interpreter(str(path), None, threads)

    def run() -> None:
        for _ in range(inner):
            it.invoke()
    return run


def _times_child() -> None:
    """Entry of a fresh process: every graph an interpreter of its own (one call each starts its thread pool,
    then :func:`~roofline.measure.timing.settle_threads`), their calls interleaved (two more warm-up calls each);
    prints {"times": per graph, the seconds per invocation of each timed call}."""
    job = read_job(LiteTimesJob)
    runs = [_invoker(p, job.threads, job.inner) for p in job.paths]
    for run in runs:
        run()
    settle_threads(job.threads)
    timed = interleaved_times(runs, job.trials, 2, "cpu")
    print(json.dumps({"times": [[t / job.inner for t in ts] for ts in timed]}))


class LiteSessions:
    """TFLite graphs written into one temporary folder and run under LiteRT at ``threads`` threads, their
    ceilings in ``dtype``. Use as a context manager: the folder goes when it closes."""

    runtime = Runtime.LITERT
    check_network = CHECK_WHAT
    faster = False  # its probes run as a network's ops do: a network's layers are no faster (in_context)
    resolution_s = 0.0  # wall times, not a profile's whole microseconds
    probes_note = (f" as TFLite graphs (written without TensorFlow) of {COPIES} copies and of one copy of the probe's "
                   f"op on one input under LiteRT with XNNPACK, each an interpreter of its own in a fresh process, an "
                   f"op's time the two graphs' difference over {COPIES - 1}")

    def __init__(self, threads: int, dtype: str = "fp32"):
        require_litert()
        if dtype not in DTYPES:
            raise RooflineError(f"--runtime litert measures {' and '.join(DTYPES)}, not {dtype}")
        self.threads, self.int8 = int(threads), dtype == "int8"
        if self.threads > 1:
            self.probes_note += settled_note("the interpreters'")
        self._tmp = tempfile.TemporaryDirectory(prefix="roofline-litert-")
        self.folder = Path(self._tmp.name)
        self._n = 0
        self._one: dict[int, Path] = {}  # id(probe) -> its one-copy graph

    def __enter__(self) -> LiteSessions:
        return self

    def __exit__(self, *exc: object) -> None:
        self._tmp.cleanup()

    def label(self) -> str:
        return runtime_label(self.threads)

    def write(self, net: TfliteNet, name: str) -> Path:
        self._n += 1
        path = self.folder / f"{self._n:04d}-{name}.tflite"
        path.write_bytes(net.finish())
        return path

    def runner(self, path: Path, inner: int = 1):
        return _invoker(path, self.threads, inner)

    # the per-op-class probes (roofline.measure.ceilings)
    def supports(self, p: Probe) -> bool:
        """Whether the grid's probe ``p`` is one TFLite op measured here (its 7x7-and-larger depthwise convs are
        ``dwconv_large`` probes instead, :func:`graph_probes`)."""
        m = p.make()
        if p.op == "dwconv2d" and m.kernel_size[0] * m.kernel_size[1] >= 49:
            return False
        return _op_of(m, p) is not None or (isinstance(m, _Quantize) and self.int8)

    def extra_probes(self, batch: int, quick: bool) -> Iterator[Probe]:
        return graph_probes(batch, quick, self.int8)

    def count(self, p: Probe, elem: int):
        """The probe as the TFLite reader counts its one-op graph (int8 tensors as elements, as a model's)."""
        from ..trace import trace

        return count_table(trace(f"tflite:{self._one_copy(p)}"), elem)

    def _one_copy(self, p: Probe) -> Path:
        """The probe's one-copy graph, written once (counted, then timed)."""
        if id(p) not in self._one:
            self._one[id(p)] = self.write(probe_net(p, self.int8), p.op)
        return self._one[id(p)]

    def probe_times(self, chunk: list[Probe], inner: int, trials: int) -> list[tuple[list[float], float]]:
        """Per probe, what one more copy of its op costs in a running graph: the graph of :data:`COPIES` copies
        and the graph of one, timed interleaved, their difference over ``COPIES - 1``, returned as the former's
        times over ``COPIES - 1`` and the latter's median share to take off them (what an invocation costs
        besides the marginal ops: its own overhead, the thread pool's wake-up, cancels)."""
        paths = []
        for p in chunk:
            paths += [str(self.write(probe_net(p, self.int8, COPIES), p.op)), str(self._one_copy(p))]
        job = LiteTimesJob(paths, inner, trials, self.threads)
        times = run_fresh(_times_child, job, "timing the probes under LiteRT", ProfileError)["times"]
        k = COPIES - 1
        return [([t / k for t in many], float(np.median(one)) / k) for many, one in zip(times[::2], times[1::2])]

    def _empty(self) -> Path:
        net = TfliteNet(self.int8)
        x = net.input(_EMPTY)
        net.binary("ADD", x, x)
        return self.write(net, "empty")

    # peaks, overheads and networks (roofline.measure.profiler)
    def measure_matmul(self, dtype: str, b: Budget) -> Measurement:
        n = b.matmul_n
        net = TfliteNet(dtype == "int8")
        net.fc(net.input((n, n)), n)
        fn = self.runner(self.write(net, f"matmul-{dtype}"))
        times = steady_times(fn, b.trials, b.warmup, "cpu", limit=PEAK_NOISY_SPREAD)
        return rate(float(n) ** 3, times, "MAC/s", f"LiteRT FULLY_CONNECTED {n}x{n}x{n} {dtype}", PEAK_NOISY_SPREAD)

    def measure_conv(self, dtype: str, b: Budget) -> Measurement:
        hw, c = b.conv_hw, 256
        net = TfliteNet(dtype == "int8")
        net.conv(net.input((1, hw, hw, c)), c, 3)
        fn = self.runner(self.write(net, f"conv-{dtype}"))
        times = steady_times(fn, b.trials, b.warmup, "cpu", limit=PEAK_NOISY_SPREAD)
        return rate(float(c * hw * hw * c * 9), times, "MAC/s", f"large conv: LiteRT CONV_2D 1x{hw}x{hw}x{c} -> "
                    f"{c}, 3x3, {dtype}", PEAK_NOISY_SPREAD)

    def measure_overheads(self, trials: int) -> dict[str, Measurement]:
        """Per inference (one invocation of the empty graph) and per kernel in a LiteRT graph, in seconds."""
        from ..trace import trace

        trials = max(5, trials)
        dt = "int8" if self.int8 else "fp32"
        empty = steady_times(self.runner(self._empty()), trials * 4, 3, "cpu", inner=20)
        out = {"inference": fixed_cost(empty, f"one LiteRT invocation of a one-op graph (ADD on "
                                              f"{'x'.join(map(str, _EMPTY))} {dt})")}
        net = TfliteNet(self.int8)
        x = net.input((1, 8, 8, 16))
        for _ in range(20):
            x = net.conv(x, 16, 1, act="RELU")
        path = self.write(net, "chain")
        k = len(trace(f"tflite:{path}").layers)
        chain = steady_times(self.runner(path), trials * 4, 3, "cpu")
        base = out["inference"].value
        out["litert"] = fixed_cost([max(t - base, 0.0) / k for t in chain],
                                   f"LiteRT chain of {k} 1x1 CONV_2D with ReLU on 1x8x8x16 {dt}: wall time less one "
                                   f"invocation's cost, per kernel")
        return out

    def time_networks(self, sizes: tuple[int, ...], trials: int, processes: int
                      ) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, str]]:
        """Seconds per inference of the check network and the ladder at ``sizes`` (``processes`` fresh
        processes each), their page faults per inference, and each one's graph (``tflite:PATH``)."""
        nets = {"check": _check(self.int8)} | {f"ladder{hw}": _ladder(hw, self.int8) for hw in sizes}
        times: dict[str, list[float]] = {}
        faults: dict[str, list[float]] = {}
        graphs: dict[str, str] = {}
        for key, net in nets.items():
            path = self.write(net, key)
            graphs[key] = f"tflite:{path}"
            for _ in range(1 if key == "check" else processes):
                r = run_fresh(time_litert_child, GraphJob(str(path), [list(net.shape(net.inputs[0]))],
                                                         max(5, trials), self.threads),
                              f"timing the synthetic network {key} under LiteRT", ProfileError)
                times.setdefault(key, []).extend(r["times"])
                faults.setdefault(key, []).append(r["faults"])
        return times, faults, graphs

