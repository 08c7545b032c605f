"""``roofline fit``: read a CSV of measured latencies, fit a roofline, build a profile from it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .errors import RooflineError
from .fit import FitResult, fit_roofline, model_costs
from .hardware import BYTES_PER_ELEMENT, KINDS, Figure, Fitted, HardwareProfile, load_hardware, profile_to_yaml
from .trace import trace
from .zoo import model_name, resolve


def read_measured(path: str, models_col: str = "model", latency_col: str = "ms") -> pd.DataFrame:
    """``model`` (canonical) and ``latency_s`` from a CSV with latency in milliseconds."""
    if not Path(path).is_file():
        raise RooflineError(f"measured-latency file {path} does not exist")
    try:
        df = pd.read_csv(path, comment="#")
    except (OSError, ValueError, pd.errors.ParserError) as e:
        raise RooflineError(f"cannot read {path} as CSV: {e}") from None
    for col in (models_col, latency_col):
        if col not in df.columns:
            raise RooflineError(f"{path} has no column {col!r} (columns: {', '.join(map(str, df.columns))}); "
                                f"set --models-col / --latency-col")
    ms = pd.to_numeric(df[latency_col], errors="coerce")
    bad = df.loc[ms.isna(), latency_col]
    if len(bad):
        raise RooflineError(f"{path}: latency {bad.iloc[0]!r} in column {latency_col!r} is not a number")
    if (ms <= 0).any():
        raise RooflineError(f"{path}: latency {ms[ms <= 0].iloc[0]:g} ms in column {latency_col!r} is not positive")
    models = [model_name(*resolve(str(m))) for m in df[models_col]]
    return pd.DataFrame({"model": models, "latency_s": ms.to_numpy(np.float64) / 1e3})


def fit_measured_csv(path: str, models_col: str, latency_col: str, convention: str, dtype: str,
                     name: str, kind: str) -> tuple[FitResult, HardwareProfile]:
    if dtype not in BYTES_PER_ELEMENT:
        raise RooflineError(f"unknown dtype {dtype!r}; use one of {', '.join(BYTES_PER_ELEMENT)}")
    if kind not in KINDS:
        raise RooflineError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    m = read_measured(path, models_col, latency_col)
    if len(m) < 3:
        raise RooflineError(f"{path} has {len(m)} measurements; fitting a ridge point and a bandwidth "
                            f"needs at least 3 models")
    costs = model_costs([trace(x) for x in m["model"]], convention, dtype)
    res = fit_roofline(costs, m["latency_s"].to_numpy(), list(m["model"]))
    how = (f"roofline fit on {date.today().isoformat()}: least squares on log latency over {res.n_models} "
           f"models measured in {Path(path).name}, convention {convention}, {dtype}")
    profile = HardwareProfile(
        name=name, kind=kind, description=f"fitted to measured latency ({Path(path).name})",
        default_dtype=dtype,
        peak_macs_per_s={dtype: Figure(res.peak_macs_per_s, f"fitted: ridge point x bandwidth ({how})",
                                       "measured")},
        mem_bw_bytes_per_s=Figure(res.mem_bw_bytes_per_s, f"fitted effective bandwidth ({how})", "measured"),
        fitted=Fitted(dtype, res.ridge_point_macs_per_byte, res.mem_bw_bytes_per_s, how, "measured"),
    )
    load_hardware(yaml.safe_load(profile_to_yaml(profile)))  # what will be written must load back
    return res, profile
