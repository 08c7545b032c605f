"""Time an ONNX graph under ONNX Runtime (CPU provider) in a process of its own: ``roofline validate``
of an ``.onnx`` file, or of a PyTorch model with ``--runtime onnxruntime`` (exported first).

- The session: ``CPUExecutionProvider``, ``intra_op_num_threads`` pinned to the run's thread count,
  one inter-op thread, sequential execution, ONNX Runtime's default graph optimizations (all: it fuses
  Conv + BatchNormalization + activation and reorders convolutions to its blocked NCHWc layout, as a
  deployment runs it). Inputs are zeros of the shapes the trace pinned, in their own element types.
- Timing: as for PyTorch (:mod:`roofline.measure.validate`): warm-up runs, timed runs, minor page faults
  per timed run, then the machine's reference matmul.
- Per node: a further session with ``enable_profiling``, whose trace gives each executed node's kernel
  time. ONNX Runtime names a fused node after its output tensor (``/stage1/dw/act/Relu_output_0_nchwc``)
  and adds layout nodes (``ReorderInput``, ``ReorderOutput``) of its own; a node is attributed to the
  trace row whose module path its name gives (by the ONNX reader's naming rule) or the longest row path
  that one lies under; a fused node (conv + ReLU) goes to the row of the op it is named after (the ReLU's);
  layout nodes and nodes no row owns go to none, and their share of the time is stated.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from pathlib import Path

import pandas as pd

from ..core.errors import RooflineError
from ..engine import Analysis
from .attribution import LAYER_COLUMNS
from .fresh import GraphJob, read_job, time_runs

MISSING = 'running an ONNX file needs the onnx extra: pip install -e ".[onnx]"'
_NUMPY_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64",
                "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
                "tensor(bool)": "bool"}


def require_ort():
    try:
        import onnxruntime
    except ImportError:
        raise RooflineError(MISSING) from None
    return onnxruntime


def open_session(job: GraphJob, profile_prefix: str | None = None, global_threads: bool = False):
    """A session for ``job`` and its zero inputs. ``global_threads``: the process's global thread pool (set by
    ``set_global_thread_pool_sizes`` before any session) instead of one of its own."""
    ort = require_ort()
    opts = ort.SessionOptions()
    if global_threads:
        opts.use_per_session_threads = False
    else:
        opts.intra_op_num_threads = int(job.threads)
        opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3  # errors only: a quantized graph's unused initializers are warned of on every open
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    try:
        s = ort.InferenceSession(job.path, opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for a graph it cannot run
        raise RooflineError(f"ONNX Runtime cannot run {job.path}: {str(e).splitlines()[0][:300]}") from None
    import numpy as np

    feeds = {}
    for i, inp in zip(s.get_inputs(), job.shapes):
        feeds[i.name] = np.zeros(tuple(int(d) for d in inp), dtype=_NUMPY_TYPES.get(i.type, "float32"))
    return s, feeds


def time_ort_child() -> None:
    """Entry of a fresh timing process: prints {"times", "faults", "reference"} (:func:`~roofline.measure.fresh.
    time_runs`)."""
    job = read_job(GraphJob)
    s, feeds = open_session(job)
    print(json.dumps(time_runs(lambda: s.run(None, feeds), job)))


def _profile_ort_child() -> None:
    """Entry of a fresh profiling process: prints {"nodes": [[name, op, seconds per run], ...]}."""
    job = read_job(GraphJob)
    with tempfile.TemporaryDirectory() as tmp:
        s, feeds = open_session(job, os.path.join(tmp, "ort"))
        for _ in range(job.warmup + job.runs):
            s.run(None, feeds)
        trace = Path(s.end_profiling())
        events = json.loads(trace.read_text())
    per: dict[tuple[str, str], list[float]] = {}
    for e in events[::-1]:  # the last job.runs runs of each node, not the warm-up ones
        if e.get("cat") == "Node" and str(e.get("name", "")).endswith("_kernel_time"):
            key = (e["name"][: -len("_kernel_time")], e.get("args", {}).get("op_name", ""))
            if len(per.setdefault(key, [])) < job.runs:
                per[key].append(float(e["dur"]) * 1e-6)
    print(json.dumps({"nodes": [[n, op, statistics.median(v)] for (n, op), v in per.items()]}))


def node_module(name: str) -> str:
    """The module path of an ONNX Runtime node name, by the rule the ONNX reader names rows with
    (:func:`roofline.trace.onnx_rules.layer_name`): ``/stage1/dw/act/Relu_output_0_nchwc`` -> ``stage1.dw.act``,
    ``/stem/stem.2/Relu_output_0_nchwc`` -> ``stem.2``; ``(model)`` for an op of the model's own forward, ``""``
    for a node ONNX Runtime added (``ReorderInput``)."""
    from types import SimpleNamespace

    from ..trace.onnx_rules import layer_name

    return layer_name(SimpleNamespace(name=name, op_type=""), 0) if name.startswith("/") else ""


def match_nodes(a: Analysis, nodes: list[list]) -> tuple[pd.DataFrame, float]:
    """Per module of the trace, its rows' predicted and the measured time of the nodes attributed to it (the
    longest module path of a row that the node's module path starts with); and the share of the measured time
    no row owns. A module's rows (``act``, ``act#2``: one per kernel the reader counts) are compared as one,
    as the node names say which module ran a node, not which of its kernels."""
    rows = a.layers.assign(name=a.layers["name"].str.replace(r"#\d+$", "", regex=True))
    names = sorted(set(rows["name"]), key=len, reverse=True)
    secs: dict[str, float] = {}
    total = unowned = 0.0
    for n, _op, s in nodes:
        total += s
        mod = node_module(str(n))
        owner = next((r for r in names if mod == r or mod.startswith(r + ".")), None) if mod else None
        if owner is None:
            unowned += s
        else:
            secs[owner] = secs.get(owner, 0.0) + s
    out = []
    pred = rows.groupby("name", sort=False).agg(op=("op", "first"), macs=("macs", "sum"),
                                                latency_s=("latency_s", "sum"))
    for name, r in pred.iterrows():
        if name in secs:
            out.append({"model": a.model, "name": name, "op": r["op"], "macs": int(r["macs"]),
                        "predicted_us": r["latency_s"] * 1e6, "measured_us": secs[name] * 1e6})
    return pd.DataFrame(out, columns=LAYER_COLUMNS), (unowned / total if total else 0.0)


def export_onnx(module, shape: tuple[int, ...] | tuple[tuple[int, ...], ...], folder: Path, name: str) -> Path:
    """``module`` exported by ``torch.onnx.export`` (eval mode, fixed input ``shape``, or one shape per input)
    into ``folder``."""
    import warnings

    import torch

    require_ort()
    path = folder / (name.replace(":", "_").replace("/", "_") + ".onnx")
    shapes = shape if shape and isinstance(shape[0], (tuple, list)) else (shape,)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module.eval(), tuple(torch.zeros(tuple(s)) for s in shapes), str(path), dynamo=False,
                              opset_version=17)
    except Exception as e:  # the exporter raises many types for a module it cannot export
        raise RooflineError(f"{name} could not be exported to ONNX: {str(e).splitlines()[0][:300]}") from None
    return path


def time_ort(name: str, a: Analysis, module, batch: int, resolution: int, width: float | None, runs: int,
             threads: int, processes: int, layers: bool) -> tuple[list[dict], pd.DataFrame | None, float]:
    """``name`` timed under ONNX Runtime in ``processes`` fresh processes (an ONNX file as it is, a PyTorch
    model exported first: ``module`` where the caller built it); with ``layers``, its nodes' times
    attributed to the rows of ``a`` (:func:`match_nodes`). Returns each process's timing, the per-layer
    frame (None without ``layers``) and the share of node time no row owns."""
    from ..trace.onnx_graph import is_onnx_model, onnx_path
    from ..zoo import build_model
    from .fresh import run_fresh

    with tempfile.TemporaryDirectory() as tmp:
        if is_onnx_model(name):
            path, shapes = onnx_path(name), [a.table.input_shape, *a.table.other_inputs]
        else:
            shape = (batch, 3, resolution, resolution)
            module = module if module is not None else build_model(name, width)
            path, shapes = export_onnx(module, shape, Path(tmp), name), [shape]
        job = GraphJob(str(path), [list(s) for s in shapes], runs, threads)
        out = [run_fresh(time_ort_child, job, f"timing {name} under ONNX Runtime") for _ in range(processes)]
        if not layers:
            return out, None, 0.0
        prof = GraphJob(job.path, job.shapes, max(3, min(runs, 10)), threads)
        nodes = run_fresh(_profile_ort_child, prof, f"profiling {name}'s nodes under ONNX Runtime")["nodes"]
    frame, unowned = match_nodes(a, nodes)
    return out, frame, unowned
