"""Check latency predictions against latency measured on this machine.

Each model runs for real (eval mode, ``torch.inference_mode``, warm-up, repeated
timing, median; in fresh processes of its own by default, :func:`default_processes`)
in one of three ways, and is predicted with the matching
execution mode of the latency model (:mod:`roofline.engine.latency`):

- ``eager``: PyTorch eager, one kernel per aten op (predicted ``eager``, ``unfused`` bytes);
- ``graph``: CUDA-graph replay of the eager kernels (cuda only; predicted ``graph``);
- ``compile``: ``torch.compile`` (predicted ``fused``, ``default`` bytes).

Per-layer latency comes from ``torch.profiler`` in an eager run
(:mod:`roofline.measure.attribution`). The report is written by
:mod:`roofline.present.validate_report`; :func:`load_validation` reads a saved run back.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..core.errors import RooflineError
from ..core.reading import Execution
from ..core.stats import spearman
from ..engine import Analysis, analyze, resolve_reading
from ..fit.selection import conformal_band
from ..hardware import HardwareProfile, Validation, load_hardware
from ..trace.user_model import USER_MODEL_RESOLUTION, check_spec, is_model_spec, load_factory
from ..zoo import build_model, model_card
from .attribution import LAYER_COLUMNS, device_sync, match_layers, profile_layers
from .fresh import hold_memory, minor_faults, read_job, run_fresh
from .machine import TORCH_DTYPES, check_device, torch_threads
from .peaks import reference_rate
from .timing import NOISY_SPREAD, cuda_graph, spread

EXECS = ("eager", "graph", "compile", "onnxruntime", "litert")
GRAPH_EXECS = ("onnxruntime", "litert")  # runtimes that run a graph file (validated in measure/runtimes.py)
WARMUP = 3  # untimed runs before the timed ones
PREDICT_WITH = {"eager": Execution.EAGER, "graph": Execution.GRAPH, "compile": Execution.FUSED,  # analyze's
                "onnxruntime": Execution.FUSED, "litert": Execution.FUSED}
# --save-band: an 80 % band needs this many models. With n models even the widest band the runs give (their
# lowest to highest measured / predicted) holds a new model's ratio with probability (n - 1) / (n + 1)
# (conformal, exchangeable models): under 80 % below 9 models
MIN_BAND_MODELS = 9


def check_band_models(n: int) -> None:
    """Refuse a band from fewer than :data:`MIN_BAND_MODELS` models (before any run, where the count is
    known)."""
    if n < MIN_BAND_MODELS:
        raise RooflineError(f"--save-band needs at least {MIN_BAND_MODELS} models for an 80 % band, got {n}: with "
                            f"{n}, even the runs' lowest to highest measured / predicted holds a new model only "
                            f"{100 * max(n - 1, 0) / (n + 1):.0f} % of the time; validate more models")


@dataclass(frozen=True)
class ValidationRun:
    """Predicted against measured latency, per model and per layer."""

    profile: HardwareProfile
    device: str
    run_dtype: str
    runs: int
    execution: str
    batch: int
    channels_last: bool
    models: pd.DataFrame  # model, macs, kernels, roofline_ms, overhead_ms, predicted_ms, measured_ms, spread, error
    layers: pd.DataFrame  # model, name, op, macs, predicted_us, measured_us
    analyses: dict[str, Analysis]
    warnings: list[str] = field(default_factory=list)
    threads: int = 0
    processes: int = 0  # fresh processes each model was timed in; 0: all in the validating process
    memory_held: bool = False  # each timing process kept the memory it freed (fresh.hold_memory)

    def band_profile(self) -> HardwareProfile:
        """The profile with a ``validation`` block from these runs: every model is held out (the
        profile's microbenchmarks never ran it), the band the 80 % conformal band of measured /
        predicted over the models, from at least :data:`MIN_BAND_MODELS` models. A band holds the
        prediction it is applied to: where the runs' band leaves out 1 (the profile reads biased), it
        is widened to 1 and its method says so; one of no width is refused; and what would be written
        must load back with the band as computed."""
        from ..hardware.transfer import check_loads

        m = self.models
        check_band_models(int(m["model"].nunique()))
        ratios = (m["measured_ms"] / m["predicted_ms"]).to_numpy()
        lo, hi = conformal_band(ratios)
        a = next(iter(self.analyses.values()))
        check_band_reading(self.profile, a.roof.dtype, a.roof.mode)
        widened = ""
        if not lo <= 1.0 <= hi:
            widened = (f"; the runs' 80 % band {lo:.3g}-{hi:.3g} x left out the prediction itself (measured ran "
                       f"{'slower' if lo > 1 else 'faster'} than predicted on most models): widened to 1")
            lo, hi = min(lo, 1.0), max(hi, 1.0)
        block = Validation(
            "measured", f"roofline validate on this machine: {', '.join(m['model'])} ({self.setup})", len(m), len(m),
            len(m), f"real runs of models the profile's microbenchmarks never ran, read {a.roof.mode} with "
            f"{self.execution} execution and convention {a.convention.name}{widened}", self.median_abs_error, lo,
            hi, (), None, float(np.max(np.abs(m["error"]))), self.spearman_models if len(m) > 2 else None,
            self.spearman_macs if len(m) > 2 else None, None, "roofline validate --save-band", reading=a.roof.mode)
        banded = replace(self.profile, validation=block)
        back = check_loads(banded, f"the profile {self.profile.name} with the band of these runs").validation
        if not back.ratio_p10 < back.ratio_p90:
            raise RooflineError(f"--save-band: the runs' measured / predicted ratios give a band of no width "
                                f"({back.ratio_p10:g}-{back.ratio_p90:g} x as written): it says nothing about a new "
                                f"model; nothing is written")
        return banded

    @property
    def median_abs_error(self) -> float:
        """Median over models of |predicted / measured - 1|."""
        return float(np.median(np.abs(self.models["error"])))

    @property
    def spearman_models(self) -> float:
        return spearman(self.models["predicted_ms"], self.models["measured_ms"])

    @property
    def spearman_macs(self) -> float:
        return spearman(self.models["macs"], self.models["measured_ms"])

    @property
    def spearman_layers(self) -> float:
        if self.layers.empty:
            return float("nan")
        return spearman(self.layers["predicted_us"], self.layers["measured_us"])

    @property
    def median_abs_error_layers(self) -> float:
        if self.layers.empty:
            return float("nan")
        return float(np.median(np.abs(self.layers["predicted_us"] / self.layers["measured_us"] - 1)))

    def spearman_layers_by_model(self) -> pd.Series:
        if self.layers.empty:
            return pd.Series(dtype=float)
        return self.layers.groupby("model", sort=False).apply(
            lambda g: spearman(g["predicted_us"], g["measured_us"]), include_groups=False)

    @property
    def setup(self) -> str:
        threads = ""
        if self.device == "cpu" and self.threads:
            threads = f" ({self.threads} thread{'' if self.threads == 1 else 's'})"
        return (f"{self.execution} execution on {self.device}{threads}, batch {self.batch}, {self.run_dtype}"
                f"{', channels_last' if self.channels_last else ''}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``roofline validate --format json``."""
        a = next(iter(self.analyses.values()))
        return {
            "profile": self.profile.name, "device": self.device, "execution": self.execution,
            "predicted_with": {"execution": a.latency.execution, "convention": a.convention.name,
                               "roofline": a.roof.mode, "dtype": a.roof.dtype,
                               "latency_model": a.latency.describe()},
            "batch": self.batch, "dtype": self.run_dtype, "channels_last": self.channels_last, "runs": self.runs,
            "processes": self.processes, "memory_held": self.memory_held,
            "summary": {"median_abs_error": self.median_abs_error, "spearman_models": self.spearman_models,
                        "spearman_macs": self.spearman_macs, "spearman_layers": _nan_none(self.spearman_layers),
                        "median_abs_error_layers": _nan_none(self.median_abs_error_layers),
                        "spearman_layers_by_model": {k: _nan_none(v) for k, v in
                                                     self.spearman_layers_by_model().items()}},
            "warnings": list(self.warnings),
            "models": _records(self.models), "layers": _records(self.layers),
        }


def _nan_none(v: float) -> float | None:
    return None if v != v else float(v)


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in df.to_dict("records")]


@dataclass(frozen=True)
class TimingJob:
    """One model to time: what a fresh timing process (:func:`_time_model_child`) builds and runs."""

    name: str
    width: float | None
    resolution: int
    batch: int
    device: str
    dtype: str
    channels_last: bool
    execution: str
    runs: int
    threads: int


# --- running and timing -------------------------------------------------------------------------------

def _runner(model: nn.Module, x: torch.Tensor, device: str, execution: str) -> Callable[[], object]:
    """A callable running one inference the way ``execution`` says."""
    if execution == "eager":
        return lambda: model(x)
    if execution == "compile":
        try:
            compiled = torch.compile(model)
            compiled(x)
        except Exception as e:  # noqa: BLE001  (inductor raises many types; report the first line)
            raise RooflineError(f"--exec compile: torch.compile failed on this machine: "
                                f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        return lambda: compiled(x)
    if device != "cuda":
        raise RooflineError("--exec graph replays CUDA graphs: it needs --device cuda")
    return cuda_graph(lambda: model(x))


def time_model(run: Callable[[], object], runs: int, device: str, warmup: int = 3) -> list[float]:
    """Seconds of each of ``runs`` inferences after ``warmup`` (synchronised on CUDA)."""
    sync = device_sync(device)
    for _ in range(warmup):
        run()
    sync()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - t0)
    return times


def validate(models: list[str], hw: Any, *, device: str = "cpu", runs: int = 10, convention: str | None = None,
             mode: str = "auto", dtype: str | None = None, batch: int = 1, channels_last: bool = False,
             execution: str | None = None, layers: bool = True, threads: int | None = None,
             resolution: int | None = None, width: float | None = None, processes: int | None = None,
             progress: Callable[[str], None] | None = None) -> ValidationRun:
    """Run each model for real on ``device`` and compare with its prediction on ``hw`` (at ``resolution``
    and ``width`` where given, else each model's own).

    ``execution``: eager, graph, compile (PyTorch), onnxruntime (ONNX Runtime's CPU provider: an ONNX
    file as it is, a PyTorch model exported by ``torch.onnx.export``) or litert (LiteRT's interpreter with
    XNNPACK, end to end: a TFLite file as it is, a PyTorch model converted to float32 TFLite by
    :mod:`roofline.measure.tflite_export`); default the graph files' runtime, else eager
    (:mod:`roofline.measure.runtimes`).

    Each model is timed in ``processes`` fresh Python processes (default :func:`default_processes`),
    its latency the median of their medians; 0 times it in this process, after whatever ran here
    before (see :mod:`roofline.measure.fresh`)."""
    from .runtimes import check_runtime

    execution = check_runtime(models, execution, device) or "eager"
    check_device(device)
    if execution not in EXECS:
        raise RooflineError(f"unknown --exec {execution!r}; use one of {', '.join(EXECS)}")
    if execution == "graph" and device != "cuda":
        raise RooflineError("--exec graph replays CUDA graphs: it needs --device cuda")
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise RooflineError(f"--runs must be a positive integer, got {runs}")
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= 4096:
        raise RooflineError(f"--batch must be an integer from 1 to 4096, got {batch}")
    if not models:
        raise RooflineError("no models to validate")
    if processes is None:
        processes = default_processes(device)
    if isinstance(processes, bool) or not isinstance(processes, int) or not 0 <= processes <= 20:
        raise RooflineError(f"--processes must be an integer from 0 to 20, got {processes}")
    for name in models:
        if is_model_spec(name):
            check_spec(name)
    if threads is not None:
        from ..core import checks

        checks.threads(threads)
    with torch_threads(threads):
        return _validate(models, hw, device, runs, convention, mode, dtype, batch, channels_last, execution,
                         layers, resolution, width, processes, progress)


def default_processes(device: str) -> int:
    """Fresh processes per model: 3 on CPU, where the allocator's page faults make a process's
    latency vary (on a 2-core VM a model's three process medians ranged over a median 5-8 % of
    their median, up to 24 %, in five quiet runs of twelve models); 1 on CUDA, whose caching allocator
    reuses device memory."""
    return 3 if device == "cpu" else 1


def _validate(models: list[str], hw: Any, device: str, runs: int, convention: str | None, mode: str,
              dtype: str | None, batch: int, channels_last: bool, execution: str, layers: bool,
              resolution: int | None, width: float | None, processes: int,
              progress: Callable[[str], None] | None) -> ValidationRun:
    profile = load_hardware(hw)
    used = profile.machine.get("threads_used")
    if device == "cpu" and isinstance(used, int) and used != torch.get_num_threads():
        warnings_pre = [f"the profile was measured with {used} threads, this run uses "
                        f"{torch.get_num_threads()}: per-kernel costs and ceilings may not transfer"]
    else:
        warnings_pre = []
    through = str(profile.machine.get("runtime", "torch")).split(" ")[0]  # what timed the profile's kernels
    runs_on = execution if execution in GRAPH_EXECS else "torch"
    if profile.kind == "cpu" and "date" in profile.machine and through != runs_on:
        warnings_pre.append(f"the profile's kernels were timed through {through}, these runs are {runs_on}'s: its "
                            f"per-kernel costs and ceilings may not transfer (roofline profile --runtime {runs_on})")
    predict = PREDICT_WITH[execution]
    if dtype is None and execution in GRAPH_EXECS:
        from .runtimes import graph_dtype

        dtype = graph_dtype(models, profile)  # int8 graph files read at int8
    roof = resolve_reading(profile, mode, convention, predict, dtype, batch).roof  # what analyze reads
    run_dtype = roof.dtype if roof.dtype in ("fp32", "fp16", "bf16") else "fp32"
    if device == "cpu" and run_dtype != "fp32":
        run_dtype = "fp32"  # CPU fp16/bf16 kernels here are reference paths, not what deployments use
    if execution in GRAPH_EXECS and roof.dtype == "int8":
        run_dtype = "int8"  # quantized graph files run in their own types
    model_rows, layer_frames, analyses, warnings, held = [], [], {}, warnings_pre, []
    ref = profile.machine.get("reference_macs_per_s") if device == "cpu" else None
    ref = float(ref) if isinstance(ref, (int, float)) and ref > 0 else None
    for name in models:
        if progress:
            progress(name)
        a, module, res = _predict(name, profile, dtype=roof.dtype, convention=convention, mode=mode, batch=batch,
                                  execution=predict, resolution=resolution, width=width)
        analyses[a.model] = a
        job = TimingJob(name, width, res, batch, device, run_dtype, channels_last, execution, runs,
                        torch.get_num_threads())
        if execution in GRAPH_EXECS:
            from .runtimes import time_in_runtime

            per_process, frame = time_in_runtime(name, a, module, execution, job.batch, res, width, runs, job.threads,
                                                 max(processes, 1), layers, warnings)
            if frame is not None:
                layer_frames.append(frame)
        else:
            per_process = [run_fresh(_time_model_child, job, f"timing {name}") for _ in range(processes)]
            held += [bool(p.get("memory_held")) for p in per_process]
        profiled = (layers and execution not in ("compile", *GRAPH_EXECS)
                    and a.latency.execution is not Execution.FUSED)
        if execution not in GRAPH_EXECS and (not processes or profiled):
            model, x = _build(job, module)
            with torch.inference_mode():
                if not processes:
                    per_process.append(_timed(model, x, job))
                if profiled:
                    layer_frames.append(match_layers(a, profile_layers(model, x, max(3, min(runs, 10)), device)))
            del model, x
        medians = [statistics.median(p["times"]) for p in per_process]
        measured = statistics.median(medians)
        sp = spread([t for p in per_process for t in p["times"]])
        if sp > NOISY_SPREAD:
            warnings.append(f"{a.model}: run-to-run spread {sp:.0%} (interquartile range / median): the "
                            f"machine was loaded; its measured latency is uncertain")
        speed = ({"machine_speed": statistics.median(p["reference"] for p in per_process) / ref}
                 if ref and all("reference" in p for p in per_process) else {})
        model_rows.append({"model": a.model, "macs": a.totals["macs"], "kernels": a.totals["kernels"],
                           "roofline_ms": a.roofline_latency_s * 1e3, "overhead_ms": a.overhead_s * 1e3,
                           "predicted_ms": a.total_latency_s * 1e3, "measured_ms": measured * 1e3,
                           "spread": sp, "process_spread": (max(medians) - min(medians)) / measured,
                           "page_faults": statistics.median(p["faults"] for p in per_process),
                           "error": a.total_latency_s / measured - 1.0} | speed)
    _warn_speed(model_rows, warnings)
    layer_df = pd.concat(layer_frames, ignore_index=True) if layer_frames else pd.DataFrame(columns=LAYER_COLUMNS)
    return ValidationRun(profile, device, run_dtype, runs, execution, batch, channels_last,
                         pd.DataFrame(model_rows), layer_df, analyses, warnings, torch.get_num_threads(), processes,
                         bool(held) and all(held))


# The machine's speed (the reference matmul after each model over the profile's) further than this from
# 1 is said in a warning: the host drifted between profile and validation
SPEED_DRIFT = 0.05


def _warn_speed(rows: list[dict], warnings: list[str]) -> None:
    speeds = [r["machine_speed"] for r in rows if "machine_speed" in r]
    if speeds and abs(statistics.median(speeds) - 1.0) > SPEED_DRIFT:
        s = statistics.median(speeds)
        warnings.append(f"the machine ran a reference matmul at {s:.2f}x (median over models; "
                        f"{min(speeds):.2f}-{max(speeds):.2f}x) the rate it had when the profile was measured: "
                        f"the host's speed drifted, and predictions are off by about that much for that reason")


def _build(job: TimingJob, module: nn.Module | None = None) -> tuple[nn.Module, torch.Tensor]:
    """The model of ``job`` (``module`` where the caller built it) and its input, ready to run."""
    device, dt = job.device, TORCH_DTYPES[job.dtype]
    if module is None:
        name = job.name
        module = load_factory(name) if is_model_spec(name) else build_model(name, job.width, device=device)
    model = module.to(device=device, dtype=dt).eval()
    x = torch.randn(job.batch, 3, job.resolution, job.resolution, device=device, dtype=dt)
    if job.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    return model, x


def _timed(model: nn.Module, x: torch.Tensor, job: TimingJob) -> dict[str, Any]:
    """Seconds of each timed run and the minor page faults per timed run (the warm-up runs, which
    allocate what stays allocated, not counted), under ``torch.inference_mode``."""
    with torch.inference_mode():
        run = _runner(model, x, job.device, job.execution)
        for _ in range(WARMUP):
            run()
        device_sync(job.device)()
        f0 = minor_faults()
        times = time_model(run, job.runs, job.device, warmup=0)
        faults = (minor_faults() - f0) / job.runs
    # the machine's speed just after the model ran (the profile timed the same at its start and end)
    return {"times": times, "faults": faults} | ({"reference": reference_rate()} if job.device == "cpu" else {})


def _time_model_child() -> None:
    """Entry of a fresh timing process (:func:`roofline.measure.fresh.run_fresh`)."""
    import json

    held = hold_memory()
    job = read_job(TimingJob)
    torch.set_num_threads(int(job.threads))
    warnings.simplefilter("ignore")
    model, x = _build(job)
    print(json.dumps(_timed(model, x, job) | {"memory_held": held}))


def check_band_reading(profile: HardwareProfile, dtype: str | None, mode: str) -> None:
    """A saved band describes the profile's default reading (the one ``analyze`` uses): refuse runs that
    read it another way (``mode``)."""
    default, used = profile.roof(dtype).mode, profile.roof(dtype, mode).mode
    if used != default:
        raise RooflineError(f"--save-band records the band of the profile's default reading ({default}); these "
                            f"runs read it {used}: validate without --spec/--fitted/--calibrated")


def _predict(name: str, profile: HardwareProfile, *, dtype: str, convention: str | None, mode: str, batch: int,
             execution: str, resolution: int | None = None, width: float | None = None
             ) -> tuple[Analysis, nn.Module | None, int]:
    """The prediction of ``name`` (a zoo or library name, or a user's ``file.py:factory``: then also its
    Module, built here with random weights, which time as trained ones do) and its input resolution."""
    from ..trace.graph_file import graph_format

    if graph_format(name) is not None:
        a = analyze(name, profile, dtype=dtype, convention=convention, mode=mode, batch=batch, execution=execution,
                    resolution=resolution)
        return a, None, int(a.table.input_shape[-1])
    if not is_model_spec(name):
        a = analyze(name, profile, dtype=dtype, convention=convention, mode=mode, batch=batch, execution=execution,
                    resolution=resolution, width=width)
        return a, None, resolution or model_card(name, width).resolution
    if width is not None:
        raise RooflineError(f"--width scales zoo models; {name} is a model file: build the width you want there")
    module = load_factory(name)
    res = resolution or USER_MODEL_RESOLUTION
    a = analyze(module, profile, dtype=dtype, convention=convention, mode=mode, execution=execution,
                input_shape=(batch, 3, res, res))
    return replace(a, model=name, table=replace(a.table, model=name)), module, res  # named as the user named it


def load_validation(folder: str | Path, hw: Any) -> ValidationRun:
    """A validation back from its report folder (``validation.json``, ``models.csv``, ``layers.csv``)
    and the profile it was predicted with: the measurements as they were, the predictions recomputed
    (they must agree: the report is then re-rendered with today's text and figures, nothing re-run)."""
    import json

    folder = Path(folder)
    try:
        doc = json.loads((folder / "validation.json").read_text(encoding="utf-8"))
        models = pd.read_csv(folder / "models.csv")
        layers = pd.read_csv(folder / "layers.csv")
    except (OSError, ValueError) as e:
        raise RooflineError(f"{folder} is not a validation report folder: {e}") from None
    profile = load_hardware(hw)
    pw = doc["predicted_with"]
    analyses = {}
    for name in models["model"]:
        if is_model_spec(str(name)):  # a report's table names model files by path; it never imports a module
            from ..trace.user_model import check_data_spec

            check_data_spec(str(name), f"{folder / 'models.csv'}")
        a = _predict(name, profile, dtype=pw.get("dtype", doc["dtype"]), convention=pw["convention"],
                     mode=pw["roofline"], batch=int(doc["batch"]), execution=pw["execution"])[0]
        row = models[models["model"] == name].iloc[0]
        if not np.isclose(a.total_latency_s * 1e3, row["predicted_ms"], rtol=1e-6):
            raise RooflineError(f"{folder}: {name} was predicted at {row['predicted_ms']:.6g} ms, the profile "
                                f"{profile.name} now gives {a.total_latency_s * 1e3:.6g} ms: not the same model")
        analyses[a.model] = a
    threads = int(profile.machine.get("threads_used", 0) or 0) if doc["device"] == "cpu" else 0
    return ValidationRun(profile, doc["device"], doc["dtype"], int(doc["runs"]), doc["execution"],
                         int(doc["batch"]), bool(doc["channels_last"]), models, layers, analyses,
                         list(doc.get("warnings", [])), threads, int(doc.get("processes", 0)),
                         bool(doc.get("memory_held", False)))
