"""Check latency predictions against latency measured on this machine.

Each model runs for real (eval mode, ``torch.inference_mode``, warm-up, repeated
timing, median; in fresh processes of its own by default, :func:`default_processes`)
in one of three ways, and is predicted with the matching
execution mode of the latency model (:mod:`roofline.engine.latency`):

- ``eager``: PyTorch eager, one kernel per aten op (predicted ``eager``, ``unfused`` bytes);
- ``graph``: CUDA-graph replay of the eager kernels (cuda only; predicted ``graph``);
- ``compile``: ``torch.compile`` (predicted ``fused``, ``default`` bytes).

Per-layer latency comes from ``torch.profiler`` in an eager run: each aten op's
time (CPU time on cpu, the device time of its kernels on cuda), attributed to
the innermost module scope it ran in and matched in order to the trace's rows of
that module. Synchronised hooks are not used: they add ~80 µs per layer on a GPU.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..engine import Analysis, analyze
from ..core.errors import RooflineError
from ..hardware import BYTES_PER_ELEMENT, HardwareProfile, load_hardware
from ..core.io import report_folder, write_atomic
from ..core.stats import spearman
from ..trace.user_model import USER_MODEL_RESOLUTION, check_spec, is_model_spec, load_factory
from ..zoo import build_model, model_card
from .fresh import minor_faults, run_fresh
from .machine import TORCH_DTYPES, check_device, torch_threads
from .timing import NOISY_SPREAD, cuda_graph, spread

EXECS = ("eager", "graph", "compile")
WARMUP = 3  # untimed runs before the timed ones
PREDICT_WITH = {"eager": "eager", "graph": "graph", "compile": "fused"}


@dataclass(frozen=True)
class Validation:
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

    def band_profile(self) -> HardwareProfile:
        """The profile with a ``validation`` block from these runs: every model is held out (the
        profile's microbenchmarks never ran it), the band the 80 % conformal band of measured /
        predicted over the models."""
        from dataclasses import replace

        from ..hardware import Validation as ProfileValidation
        from ..fit.selection import conformal_band

        m = self.models
        ratios = (m["measured_ms"] / m["predicted_ms"]).to_numpy()
        lo, hi = conformal_band(ratios)
        a = next(iter(self.analyses.values()))
        check_band_reading(self.profile, a.roof.dtype, a.roof.mode)
        block = ProfileValidation(
            "measured", f"roofline validate on this machine: {', '.join(m['model'])} ({self.setup})", len(m), len(m),
            len(m), f"real runs of models the profile's microbenchmarks never ran, read {a.roof.mode} with "
            f"{self.execution} execution and convention {a.convention.name}", self.median_abs_error, lo, hi, (),
            None, float(np.max(np.abs(m["error"]))), self.spearman_models if len(m) > 2 else None,
            self.spearman_macs if len(m) > 2 else None, None, "roofline validate --save-band")
        return replace(self.profile, validation=block)

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

    threads: int = 0
    processes: int = 0  # fresh processes each model was timed in; 0: all in the validating process

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
            "processes": self.processes,
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


# --- running and timing -------------------------------------------------------------------------------

def _sync(device: str) -> Callable[[], None]:
    return torch.cuda.synchronize if device == "cuda" else (lambda: None)


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
    sync = _sync(device)
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


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence what the profiler's native library prints on file descriptor 2 (start/stop lines)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _base(aten: str) -> str:
    """``aten.conv2d.default`` / ``aten::conv2d`` -> ``conv2d``."""
    return aten.replace("aten::", "").replace("aten.", "").split(".")[0]


def profile_layers(model: nn.Module, x: torch.Tensor, runs: int, device: str) -> dict[str, list[tuple[str, float]]]:
    """Per module scope, the (aten op, median seconds) of each op it ran, in order, from ``torch.profiler``.

    Each module's forward is wrapped in a ``record_function`` scope by pre/post
    hooks (no synchronisation); an op belongs to its innermost scope.
    """
    from torch.profiler import ProfilerActivity, profile, record_function

    names = {id(m): (n or "(model)") for n, m in model.named_modules()}
    open_scopes: list[Any] = []

    def pre(mod: nn.Module, _args: Any) -> None:
        r = record_function(f"roofline::{names[id(mod)]}")
        r.__enter__()
        open_scopes.append(r)

    def post(mod: nn.Module, _args: Any, _out: Any) -> None:
        open_scopes.pop().__exit__(None, None, None)

    handles = [h for m in model.modules() for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))]
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    try:
        model(x)
        _sync(device)()
        with _quiet_native_stderr(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Profiler clears events.*")
            with profile(activities=activities) as prof:
                for _ in range(runs):
                    model(x)
                _sync(device)()
    finally:
        for h in handles:
            h.remove()
    samples: dict[str, list[list[tuple[str, float]]]] = {}
    current: dict[str, list[tuple[str, float]]] = {}
    for ev in prof.events():
        parent = ev.cpu_parent
        if parent is None or not parent.name.startswith("roofline::") or ev.name.startswith("roofline::"):
            continue
        scope = parent.name[len("roofline::"):]
        secs = (ev.device_time_total if device == "cuda" else ev.cpu_time_total) / 1e6
        current.setdefault(scope, []).append((ev.name, secs))
    # split each scope's ops into the runs (every run executes the same ops in the same order)
    out: dict[str, list[tuple[str, float]]] = {}
    for scope, ops in current.items():
        per_run = len(ops) // runs if runs else 0
        if per_run == 0 or len(ops) % runs:
            continue
        samples[scope] = [ops[i * per_run:(i + 1) * per_run] for i in range(runs)]
        out[scope] = [(samples[scope][0][j][0], statistics.median(r[j][1] for r in samples[scope]))
                      for j in range(per_run)]
    return out


def match_layers(a: Analysis, scopes: dict[str, list[tuple[str, float]]]) -> pd.DataFrame:
    """Pair the analysis rows with the profiled ops of their module, in order, by aten op name."""
    rows = []
    queues = {k: list(v) for k, v in scopes.items()}
    for r in a.layers.itertuples():
        scope = r.name.split("#")[0]
        q = queues.get(scope)
        if not q:
            continue
        want = _base(r.aten)
        while q and _base(q[0][0]) != want:
            q.pop(0)  # ops the trace has no row for (views, flatten, dropout)
        if q:
            _, secs = q.pop(0)
            rows.append({"model": a.model, "name": r.name, "op": r.op, "macs": int(r.macs),
                         "predicted_us": r.latency_s * 1e6, "measured_us": secs * 1e6})
    return pd.DataFrame(rows, columns=["model", "name", "op", "macs", "predicted_us", "measured_us"])


def validate(models: list[str], hw: Any, *, device: str = "cpu", runs: int = 10, convention: str | None = None,
             mode: str = "auto", dtype: str | None = None, batch: int = 1, channels_last: bool = False,
             execution: str = "eager", layers: bool = True, threads: int | None = None,
             resolution: int | None = None, width: float | None = None, processes: int | None = None,
             progress: Callable[[str], None] | None = None) -> Validation:
    """Run each model for real on ``device`` and compare with its prediction on ``hw`` (at ``resolution``
    and ``width`` where given, else each model's own).

    Each model is timed in ``processes`` fresh Python processes (default :func:`default_processes`),
    its latency the median of their medians; 0 times it in this process, after whatever ran here
    before (see :mod:`roofline.measure.fresh`)."""
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
              progress: Callable[[str], None] | None) -> Validation:
    profile = load_hardware(hw)
    used = profile.machine.get("threads_used")
    if device == "cpu" and isinstance(used, int) and used != torch.get_num_threads():
        warnings_pre = [f"the profile was measured with {used} threads, this run uses "
                        f"{torch.get_num_threads()}: per-kernel costs and ceilings may not transfer"]
    else:
        warnings_pre = []
    roof = profile.roof(dtype, mode, batch=batch)
    run_dtype = roof.dtype if roof.dtype in ("fp32", "fp16", "bf16") else "fp32"
    if device == "cpu" and run_dtype != "fp32":
        run_dtype = "fp32"  # CPU fp16/bf16 kernels here are reference paths, not what deployments use
    predict = PREDICT_WITH[execution]
    model_rows, layer_frames, analyses, warnings = [], [], {}, warnings_pre
    for name in models:
        if progress:
            progress(name)
        a, module, res = _predict(name, profile, dtype=roof.dtype, convention=convention, mode=mode, batch=batch,
                                  execution=predict, resolution=resolution, width=width)
        analyses[a.model] = a
        job = {"name": name, "width": width, "resolution": res, "batch": batch, "device": device,
               "dtype": run_dtype, "channels_last": channels_last, "execution": execution, "runs": runs,
               "threads": torch.get_num_threads()}
        per_process = [run_fresh("roofline.measure.validate:_time_model_child", job, f"timing {name}")
                       for _ in range(processes)]
        profiled = layers and execution != "compile" and a.latency.execution != "fused"
        if not processes or profiled:
            model, x = _build(name, module, job)
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
        model_rows.append({"model": a.model, "macs": a.totals["macs"], "kernels": a.totals["kernels"],
                           "roofline_ms": a.roofline_latency_s * 1e3, "overhead_ms": a.overhead_s * 1e3,
                           "predicted_ms": a.total_latency_s * 1e3, "measured_ms": measured * 1e3,
                           "spread": sp, "process_spread": (max(medians) - min(medians)) / measured,
                           "page_faults": statistics.median(p["faults"] for p in per_process),
                           "error": a.total_latency_s / measured - 1.0})
    layer_df = (pd.concat(layer_frames, ignore_index=True) if layer_frames else
                pd.DataFrame(columns=["model", "name", "op", "macs", "predicted_us", "measured_us"]))
    return Validation(profile, device, run_dtype, runs, execution, batch, channels_last,
                      pd.DataFrame(model_rows), layer_df, analyses, warnings, torch.get_num_threads(), processes)


def _build(name: str, module: nn.Module | None, job: dict[str, Any]) -> tuple[nn.Module, torch.Tensor]:
    """The model of ``job`` (``module`` where the caller built it) and its input, ready to run."""
    device, dt = job["device"], TORCH_DTYPES[job["dtype"]]
    if module is None:
        module = load_factory(name) if is_model_spec(name) else build_model(name, job["width"], device=device)
    model = module.to(device=device, dtype=dt).eval()
    x = torch.randn(job["batch"], 3, job["resolution"], job["resolution"], device=device, dtype=dt)
    if job["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    return model, x


def _timed(model: nn.Module, x: torch.Tensor, job: dict[str, Any]) -> dict[str, Any]:
    """Seconds of each timed run and the minor page faults per timed run (the warm-up runs, which
    allocate what stays allocated, not counted), under ``torch.inference_mode``."""
    with torch.inference_mode():
        run = _runner(model, x, job["device"], job["execution"])
        for _ in range(WARMUP):
            run()
        _sync(job["device"])()
        f0 = minor_faults()
        times = time_model(run, job["runs"], job["device"], warmup=0)
        return {"times": times, "faults": (minor_faults() - f0) / job["runs"]}


def _time_model_child() -> None:
    """Entry of a fresh timing process (:func:`roofline.measure.fresh.run_fresh`)."""
    import json

    job = json.loads(sys.argv[1])
    torch.set_num_threads(int(job["threads"]))
    warnings.simplefilter("ignore")
    model, x = _build(job["name"], None, job)
    print(json.dumps(_timed(model, x, job)))


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


def load_validation(folder: str | Path, hw: Any) -> Validation:
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
        a = _predict(name, profile, dtype=pw.get("dtype", doc["dtype"]), convention=pw["convention"],
                     mode=pw["roofline"], batch=int(doc["batch"]), execution=pw["execution"])[0]
        row = models[models["model"] == name].iloc[0]
        if not np.isclose(a.total_latency_s * 1e3, row["predicted_ms"], rtol=1e-6):
            raise RooflineError(f"{folder}: {name} was predicted at {row['predicted_ms']:.6g} ms, the profile "
                                f"{profile.name} now gives {a.total_latency_s * 1e3:.6g} ms: not the same model")
        analyses[a.model] = a
    threads = int(profile.machine.get("threads_used", 0) or 0) if doc["device"] == "cpu" else 0
    return Validation(profile, doc["device"], doc["dtype"], int(doc["runs"]), doc["execution"], int(doc["batch"]),
                      bool(doc["channels_last"]), models, layers, analyses, list(doc.get("warnings", [])), threads,
                      int(doc.get("processes", 0)))


# --- the report ---------------------------------------------------------------------------------------

def write_report(v: Validation, out_dir: str | Path, profile_runs: list[dict] | None = None) -> Path:
    """Markdown + PNG + CSV + JSON report of a validation run in ``out_dir`` (built aside, then moved
    into place: an interrupted run leaves nothing)."""
    with report_folder(out_dir) as out:
        write_report_files(v, out, profile_runs)
    return Path(out_dir) / "README.md"


def write_report_files(v: Validation, out: Path, profile_runs: list[dict] | None = None) -> None:
    """Write the report's files into an existing folder ``out``."""
    import json

    from ..present.plots import OP_GROUPS, _figure, label_log_axis, op_group, place_labels, save_figure

    if not v.layers.empty:
        with _figure((7.5, 6)) as fig:
            ax = fig.add_subplot()
            groups = v.layers["op"].map(op_group)
            for g, (label, colour) in OP_GROUPS.items():
                sel = groups == g
                if sel.any():
                    ax.scatter(v.layers.loc[sel, "predicted_us"], v.layers.loc[sel, "measured_us"], s=10,
                               c=colour, label=label, alpha=0.7)
            lo = max(min(v.layers["predicted_us"].min(), v.layers["measured_us"].min()) / 2, 1e-3)
            hi = max(v.layers["predicted_us"].max(), v.layers["measured_us"].max()) * 2
            ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="measured = predicted")
            ax.set_xscale("log")
            ax.set_yscale("log")
            label_log_axis(ax.xaxis)
            label_log_axis(ax.yaxis)
            ax.set_xlabel("predicted latency (µs)")
            ax.set_ylabel("measured latency (µs)")
            ax.set_title(f"Per-layer latency, {len(v.models)} models: {v.setup}\n(profile {v.profile.name})")
            fig.legend(loc="outside right upper")
        save_figure(fig, out / "layers_predicted_vs_measured.png")

    with _figure((7.5, 5.2)) as fig:
        ax = fig.add_subplot()
        ax.scatter(v.models["predicted_ms"], v.models["measured_ms"], c="#1f77b4", label="latency model", zorder=3)
        ax.scatter(v.models["roofline_ms"], v.models["measured_ms"], c="#aaaaaa", marker="x",
                   label="Eq. 1 alone (no overhead terms)")
        cols = v.models[["roofline_ms", "predicted_ms", "measured_ms"]]
        lo, hi = cols.min().min() / 2, cols.max().max() * 2
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="measured = predicted")
        ax.set_xscale("log")
        ax.set_yscale("log")
        label_log_axis(ax.xaxis)
        label_log_axis(ax.yaxis)
        ax.set_xlabel("predicted latency (ms)")
        ax.set_ylabel("measured latency (ms)")
        ax.set_title(f"Model latency, predicted vs measured: {v.setup}")
        place_labels(ax, v.models["predicted_ms"].tolist(), v.models["measured_ms"].tolist(),
                     list(v.models["model"]), fontsize=7)
        fig.legend(loc="outside lower center", ncol=3)
    save_figure(fig, out / "models_predicted_vs_measured.png")

    write_atomic(out / "models.csv", v.models.to_csv(index=False))
    write_atomic(out / "layers.csv", v.layers.to_csv(index=False))
    write_atomic(out / "validation.json", json.dumps(v.to_dict(), indent=2))
    write_atomic(out / "README.md", markdown(v, profile_runs or []))


def _pct(x: float) -> str:
    return f"{x:.0%}" if abs(x) >= 0.1 else f"{x:.1%}"


def markdown(v: Validation, profile_runs: list[dict]) -> str:
    """The report's text, every sentence computed from the data."""
    a = next(iter(v.analyses.values()))
    roof = a.roof
    machine = v.profile.machine
    facts = "\n".join(f"- {k}: {val:.4g}" if isinstance(val, float) else f"- {k}: {val}"
                      for k, val in machine.items()) or "- (no machine facts in the profile)"
    runs_md = ""
    if profile_runs:
        table = pd.DataFrame(profile_runs)
        spread_between = {c: table[c].max() / table[c].min() - 1 for c in table.columns
                          if c != "profile" and table[c].notna().all()}
        runs_md = ("\n## Repeated runs of `roofline profile` on this machine\n\n"
                   + table.to_markdown(index=False, floatfmt=".4g") + "\n\nLargest difference between runs: "
                   + ", ".join(f"{k} {x:.1%}" for k, x in spread_between.items()) + ".\n")
    m = v.models.copy()
    err = m["error"]
    eq1_ratio = m["measured_ms"] / m["roofline_ms"]
    under = int((err < 0).sum())
    within = int((err.abs() <= 0.2).sum())
    worst = m.loc[err.abs().idxmax()]
    overhead_share = (m["overhead_ms"] / m["predicted_ms"])
    lines = [
        f"- Median |predicted / measured - 1| over the {len(m)} models: **{_pct(v.median_abs_error)}**; "
        f"{within} of {len(m)} within 20 %; the worst is {worst['model']} ({worst['error']:+.0%}). "
        f"{under} of {len(m)} predictions are below the measurement.",
        f"- Spearman rank correlation, predicted vs measured model latency: **{v.spearman_models:.3f}**; "
        f"MAC count vs measured: {v.spearman_macs:.3f}.",
        f"- Eq. 1 alone (no overhead terms): measured is {eq1_ratio.min():.2g}-{eq1_ratio.max():.2g}x it; "
        + ("it is a lower bound for every model here. " if (eq1_ratio >= 1).all() else
           f"it is above the measurement for {int((eq1_ratio < 1).sum())} of {len(m)} models. ")
        + f"The overhead terms make up {overhead_share.min():.0%}-{overhead_share.max():.0%} of the predictions.",
    ]
    if v.device == "cpu" and "page_faults" in m and v.execution == "eager":
        import mmap

        act = pd.Series({k: float(x.layers["activation_bytes"].sum()) for k, x in v.analyses.items()})
        fresh = m["page_faults"].to_numpy() * mmap.PAGESIZE / act[m["model"]].to_numpy()
        share = a.latency.fresh_memory_share
        lines.append(f"- Fresh memory: page faults per inference x {mmap.PAGESIZE} B over each model's activation "
                     f"bytes came to {fresh.min():.1%}-{fresh.max():.1%} (median {np.median(fresh):.1%}); "
                     + ("the profile charges none." if not a.latency.fresh_memory_s_per_byte else
                        f"the profile charges {share:.1%} for every model." if share is not None else
                        "the profile charges the largest layer's activations."))
    if not v.layers.empty:
        by_model = v.spearman_layers_by_model()
        lines.append(
            f"- Per layer ({len(v.layers)} layers matched to profiled ops): Spearman **{v.spearman_layers:.3f}**, "
            f"median |error| {_pct(v.median_abs_error_layers)}; per model: "
            + ", ".join(f"{k} {s:.2f}" for k, s in by_model.items()) + ".")
        ratio = v.layers.assign(ratio=v.layers["measured_us"] / v.layers["predicted_us"]).groupby("op")["ratio"]
        per_op = pd.DataFrame({"layers": ratio.size(), "median measured / predicted": ratio.median(),
                               "share measured >= predicted": v.layers.assign(
                                   ok=v.layers["measured_us"] >= v.layers["predicted_us"]).groupby("op")["ok"].mean()})
        per_layer_md = ("\n## Per layer\n\n![layers](layers_predicted_vs_measured.png)\n\n"
                        + per_op.reset_index().to_markdown(index=False, floatfmt=".3g") + "\n")
    else:
        per_layer_md = ("\n## Per layer\n\nNot measured: per-layer times come from a profiled eager run, "
                        f"and this run predicted `{a.latency.execution}` execution.\n")
    warn_md = ("\n**Warnings:**\n\n" + "\n".join(f"- {w}" for w in v.warnings) + "\n") if v.warnings else ""
    m["spread"] = m["spread"].map(lambda s: f"{s:.0%}")
    if "process_spread" in m:
        m["process_spread"] = m["process_spread"].map(lambda s: f"{s:.0%}")
        m["page_faults"] = m["page_faults"].map(lambda f: f"{f:.0f}")
    m["error"] = m["error"].map(lambda s: f"{s:+.1%}")
    if v.processes:
        ps = v.models["process_spread"]
        timing = (f"each model in {v.processes} fresh Python process{'es' if v.processes > 1 else ''} of its "
                  f"own, as a deployment runs one model: {v.runs} timed runs after {WARMUP} warm-up runs in each, "
                  f"the median of {'their medians' if v.processes > 1 else 'the runs'}"
                  + (f". Between processes a model's median moved by {ps.median():.0%} (median over models; "
                     f"at most {ps.max():.0%}, {v.models.loc[ps.idxmax(), 'model']})" if v.processes > 1 else "")
                  + "; `spread` is the interquartile range over the median of all its runs, `process_spread` "
                    "the range of its process medians over the median, `page_faults` the minor page faults "
                    "per inference (memory fresh from the OS; median over processes).")
    else:
        timing = (f"all in one process, one model after another, {v.runs} timed runs after {WARMUP} warm-up runs, "
                  f"median.")
    ceilings = ""
    if roof.mode == "calibrated":
        ceilings = (f"Per-op-class ceilings measured at batch {roof.ceilings_batch}: "
                    + ", ".join(f"{k} {x:.3g} MAC/s" for k, x in (roof.ceilings or {}).items())
                    + "".join(f", {k} {x:.3g} B/s" for k, x in (roof.ceiling_bytes or {}).items()) + "."
                    + (" Compute classes reach these only for large layers: rate = ceiling / ((1 + out_half / "
                       "output elements) x (1 + reduction_half / MACs per output) x (1 + reuse_half / MACs per "
                       "weight) x (1 + channels_half / output channels)), with (out_half, reduction_half, "
                       "reuse_half, channels_half): "
                       + ", ".join(f"{k} ({t.out_half:.3g}, {t.reduction_half:.3g}, {t.reuse_half:.3g}, "
                                   f"{t.channels_half:.3g})"
                                                       for k, t in roof.ceiling_shape.items()) + "."
                       if roof.ceiling_shape else "") + "\n")
    return f"""# Latency predictions against measured latency ({v.device})

Generated by `roofline validate` with the profile `{v.profile.name}`
({v.profile.description}). Models ran for real: {v.setup}, eval mode,
`torch.inference_mode`, {timing}
Per-layer times: `torch.profiler` op times in a profiled eager run
({'device time of each op' if v.device == 'cuda' else 'CPU time of each op'}), attributed to
the module that ran them.

**Predicted with:** {roof.mode} roofline, peak {roof.peak_macs_per_s:.4g} MAC/s, bandwidth
{roof.mem_bw_bytes_per_s:.4g} B/s (ridge point {roof.ridge_point:.2f} MACs/byte), dtype {roof.dtype};
convention `{a.convention.name}` ({a.convention.describe(BYTES_PER_ELEMENT[roof.dtype])});
latency model: {a.latency.describe()}.
{ceilings}
## The machine

{facts}
{runs_md}
## Per model

{m.to_markdown(index=False, floatfmt=".4g")}

{chr(10).join(lines)}
{warn_md}
![models](models_predicted_vs_measured.png)
{per_layer_md}
Data: `models.csv`, `layers.csv`, `validation.json`.
"""
