"""Which runtime ``validate`` times each model under, and the timing of the graph runtimes:

- an ONNX file runs under ONNX Runtime (:mod:`roofline.measure.onnx_runtime`), and with ``--runtime onnxruntime``
  so do PyTorch models, exported first;
- a TFLite file runs under LiteRT (:mod:`roofline.measure.litert_runtime`), end to end, and with ``--runtime
  litert`` so do PyTorch models, converted first to float32 TFLite (:mod:`roofline.measure.tflite_export`: the ops
  of convolutional networks; one clear error for an op it has no rule for).
"""

from __future__ import annotations

import pandas as pd

from ..core.errors import RooflineError
from ..engine import Analysis

GRAPH_RUNTIMES = {"onnx": "onnxruntime", "tflite": "litert"}  # a graph file's format -> the runtime it runs on
LABELS = {"onnxruntime": "ONNX Runtime", "litert": "LiteRT"}


def check_runtime(models: list[str], execution: str | None, device: str) -> str | None:
    """The execution ``validate`` runs ``models`` with (None: PyTorch eager) after checking that graph files
    and runtimes agree; raises one clear error where they do not."""
    from ..trace.graph_file import graph_format, label

    formats = {m: graph_format(m) for m in models}
    graphs = {m: f for m, f in formats.items() if f is not None}
    wanted = sorted({GRAPH_RUNTIMES[f] for f in graphs.values()})
    if len(wanted) > 1:
        raise RooflineError("one validate run takes ONNX files or TFLite files, not both: their runtimes differ")
    if execution is None:  # a graph file runs under its runtime (and the run's other models, exported)
        execution = wanted[0] if wanted else None
    for m, f in graphs.items():
        if execution != GRAPH_RUNTIMES[f]:
            raise RooflineError(f"{m} is {label(f)} file: it runs under {LABELS[GRAPH_RUNTIMES[f]]}, not with "
                                f"--exec {execution}")
    if execution == "litert":
        from .litert_runtime import require_litert

        require_litert()
        if any(f is None for f in formats.values()):  # PyTorch models: exported to ONNX, then converted here
            from .onnx_runtime import require_ort

            require_ort()
    if execution in LABELS and device != "cpu":
        raise RooflineError(f"--runtime {execution} runs on the CPU: use --device cpu")
    if execution == "onnxruntime":
        from .onnx_runtime import require_ort

        require_ort()
    return execution


def time_in_runtime(name: str, a: Analysis, module, execution: str, batch: int, resolution: int,
                    width: float | None, runs: int, threads: int, processes: int, layers: bool,
                    warnings: list[str]) -> tuple[list[dict], pd.DataFrame | None]:
    """``name`` timed under ``execution``'s runtime in ``processes`` fresh processes: each process's timing, and
    with ``layers`` the per-layer frame where the runtime gives one (None otherwise). What the runtime could not
    attribute, or that it gives no per-layer times, goes into ``warnings``."""
    if execution == "litert":
        from ..trace.graph_file import graph_format
        from .litert_runtime import time_litert

        if graph_format(name) is not None:
            out = time_litert(name, [a.table.input_shape, *a.table.other_inputs], runs, threads, processes)
        else:
            import tempfile
            from pathlib import Path

            from ..zoo import build_model
            from .tflite_export import convert, nhwc_shape

            shape = (batch, 3, resolution, resolution)
            with tempfile.TemporaryDirectory() as tmp:
                path = convert(module if module is not None else build_model(name, width), shape, Path(tmp), name)
                out = time_litert(str(path), [nhwc_shape(shape)], runs, threads, processes)
        note = "LiteRT's Python interpreter gives no per-op times: these runs are end to end only"
        if layers and note not in warnings:
            warnings.append(note)
        return out, None
    from .onnx_runtime import time_ort

    out, frame, unowned = time_ort(name, a, module, batch, resolution, width, runs, threads, processes, layers)
    if unowned > 0.05:
        warnings.append(f"{a.model}: {unowned:.0%} of ONNX Runtime's node time belongs to no row of the trace (its "
                        f"layout reorders, nodes named outside the graph's modules): per-layer times leave it out")
    return out, frame


def graph_dtype(models: list[str], profile) -> str | None:
    """``int8`` where every model is a quantized graph file (int8 or uint8 activations) and ``profile`` has an int8
    peak: a run's models are predicted at one dtype, the graphs' own; else None (the profile's default)."""
    from ..trace import trace
    from ..trace.graph_file import graph_format

    if not models or any(graph_format(m) is None for m in models) or "int8" not in profile.peak_macs_per_s:
        return None
    return "int8" if all(getattr(trace(m), "dtype", None) in ("int8", "uint8") for m in models) else None
