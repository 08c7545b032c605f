"""Time a TFLite graph under LiteRT (``ai-edge-litert``'s interpreter) in a process of its own: ``roofline
validate`` of a ``.tflite`` file.

- The interpreter: LiteRT's default op resolver, which hands every op XNNPACK takes to the XNNPACK delegate
  (fp32 and int8 kernels) and runs the rest on LiteRT's builtin kernels, as a deployment on a phone's CPU does;
  ``num_threads`` pinned to the run's thread count. Inputs are resized to the shapes the trace pinned, zeros
  of their own element types.
- Timing: as for PyTorch and ONNX Runtime (:mod:`roofline.measure.validate`): warm-up invocations, timed
  invocations, minor page faults per invocation, then the machine's reference matmul.
- End to end only: LiteRT's Python interpreter exposes no per-op profile (its op profiler is a C++ build
  option and the benchmark tool's flag), so a LiteRT run reports no per-layer times, and says so.
"""

from __future__ import annotations

import json

from ..core.errors import RooflineError
from .fresh import GraphJob, read_job, time_runs

MISSING = 'running a TFLite file needs the tflite extra: pip install -e ".[tflite]"'


def require_litert():
    """LiteRT's interpreter module, or one clear error naming the extra to install."""
    try:
        from ai_edge_litert import interpreter
    except ImportError:
        raise RooflineError(MISSING) from None
    return interpreter


def runtime_label(threads: int) -> str:
    from importlib.metadata import version

    return (f"litert {version('ai-edge-litert')} (LiteRT's ai_edge_litert interpreter, default delegates: XNNPACK, "
            f"{threads} thread{'' if threads == 1 else 's'})")


def open_interpreter(path: str, shapes: list | None, threads: int):
    """An interpreter for the graph at ``path`` at ``threads`` threads, its inputs resized to ``shapes`` (where
    given) and set to zeros: call ``invoke()``."""
    lite = require_litert()
    import numpy as np

    try:
        it = lite.Interpreter(model_path=str(path), num_threads=int(threads))
        inputs = it.get_input_details()
        for d, s in zip(inputs, shapes or []):
            if list(d["shape"]) != list(s):
                it.resize_tensor_input(d["index"], [int(x) for x in s], strict=False)
        it.allocate_tensors()
        for d in it.get_input_details():
            it.set_tensor(d["index"], np.zeros(tuple(d["shape"]), dtype=d["dtype"]))
    except (RuntimeError, ValueError) as e:  # LiteRT's errors for a graph it cannot run
        raise RooflineError(f"LiteRT cannot run {path}: {str(e).splitlines()[0][:300]}") from None
    return it


def time_litert_child() -> None:
    """Entry of a fresh timing process: prints {"times", "faults", "reference"} (:func:`~roofline.measure.fresh.
    time_runs`)."""
    job = read_job(GraphJob)
    it = open_interpreter(job.path, job.shapes, job.threads)
    print(json.dumps(time_runs(it.invoke, job)))


def time_litert(name: str, shapes: list, runs: int, threads: int, processes: int) -> list[dict]:
    """The TFLite file ``name`` (``tflite:PATH`` or ``PATH.tflite``) timed under LiteRT in ``processes`` fresh
    processes at inputs of ``shapes``: each process's timing."""
    from ..trace.graph_file import graph_path
    from .fresh import run_fresh

    job = GraphJob(str(graph_path(name)), [list(s) for s in shapes], runs, threads)
    return [run_fresh(time_litert_child, job, f"timing {name} under LiteRT") for _ in range(processes)]
