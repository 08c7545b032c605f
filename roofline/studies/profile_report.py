"""Validated profiles: fit every shipped measurement set, check it held out, derive prior bands.

``roofline reproduce profiles -o reports/profile-validation`` fits the seven devices
of the MobileNetV4 paper's Table 6 (the full model set: zoo and timm rows) and the
RTX 3090 of timm's published benchmark table, each with the same fit users run
(``roofline fit``), and writes per profile:

- the cross-validated accuracy (held-out median and worst error, Spearman against
  MAC count's on the same rows);
- the coverage of the 80 % band on rows the band never saw: an outer 4-fold
  grouped split, where each training part runs the whole fit (term selection and
  band included) and its band is checked on the held-out part;
- a predicted-vs-measured plot of the held-out predictions;
- the fitted profile (``profiles/NAME.yaml``) and ``prior_bands.json``: for each
  kind of hardware, the band of spec-only predictions (Eq. 1 from the spec sheet)
  over every row of that kind's validated profiles.

With ``ship=True`` (a source checkout), the profiles and the prior bands are
also written where the package reads them (``hardware_profiles/``,
``roofline/engine/prior_bands.json``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.errors import RooflineError
from ..hardware import HardwareProfile, load_hardware, profile_to_yaml
from ..core.io import report_folder, write_atomic
from ..fit.selection import summary
from ..fit.table_fit import TableFit
from ..fit.terms import Params, predict
from .measured import DEVICES, SOURCE, table6
from ..core.stats import spearman

# Table 6 precision per the paper's Appendix B: INT8 TFLite on the mobile CPUs, Hexagon and EdgeTPU,
# FP16 on the mobile GPUs and CoreML on the iPhone 13
TABLE6_DTYPE = {"pixel6_cpu": "int8", "pixel8_edgetpu": "int8", "iphone13_coreml": "fp16",
                "pixel4_hexagon": "int8", "pixel7_gpu": "fp16", "s23_cpu": "int8", "s23_gpu": "fp16"}
OUTER_FOLDS = 4  # the nested check's outer folds (seed 1, as roofline fit runs it)
TIMM_TABLE = "timm-benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv"
TIMM_SOURCE = ("timm's published inference benchmark (pytorch-image-models results/, Apache-2.0): one NVIDIA "
               "RTX 3090, PyTorch 2.4 + CUDA 12.4, AMP fp16, eager, NCHW")


@dataclass(frozen=True)
class Dataset:
    profile: str          # the shipped profile it validates
    rows: pd.DataFrame    # as read_measurements gives
    data: str             # what the rows are, for the profile's validation block
    execution: str = "fused"


def table6_datasets() -> list[Dataset]:
    full = table6(full=True)
    out = []
    for col, profile in DEVICES.items():
        sub = full[["model", col]].dropna().reset_index(drop=True)
        rows = pd.DataFrame({"model": sub["model"], "resolution": None, "batch": 1, "dtype": TABLE6_DTYPE[col],
                             "width": None, "latency_s": sub[col].to_numpy(float) / 1e3,
                             "line": range(len(sub))})
        out.append(Dataset(profile, rows, f"{SOURCE}, column {col}: {len(rows)} models"))
    return out


def timm_rows(sample: int | None = None) -> pd.DataFrame:
    """timm's RTX 3090 NCHW table as measurement rows (``sample``: that many rows by an even stride
    over the file sorted by model and resolution, ``test_`` models dropped)."""
    path = resources.files("roofline") / "data" / TIMM_TABLE
    df = pd.read_csv(str(path))
    if sample:
        df = df[~df["model"].str.startswith("test_")].sort_values(["model", "infer_img_size"])
        df = df.reset_index(drop=True)
        df = df.iloc[[i * len(df) // sample for i in range(sample)]].reset_index(drop=True)
    return pd.DataFrame({"model": "timm:" + df["model"], "resolution": df["infer_img_size"].astype(int),
                         "batch": df["infer_batch_size"].astype(int), "dtype": "fp16", "width": None,
                         "latency_s": df["infer_batch_size"] / df["infer_samples_per_sec"], "line": df.index + 2})


def timm_dataset(sample: int | None = None) -> Dataset:
    rows = timm_rows(sample)
    return Dataset("rtx3090", rows, f"{TIMM_SOURCE}: {len(rows)} rows, {rows['model'].nunique()} models")


@dataclass(frozen=True)
class ProfileCheck:
    dataset: Dataset
    fit: TableFit
    coverage: float          # outer held-out rows inside their training part's 80 % band
    outer: pd.DataFrame      # per row: measured, outer held-out prediction, band
    spec_ratios: np.ndarray  # measured / spec-only Eq. 1, per row
    kind: str


def check(ds: Dataset, jobs: int = 1, progress: Callable[[str], None] | None = None) -> ProfileCheck:
    """Fit ``ds`` as ``roofline fit --convention auto --base PROFILE`` does, with its nested check on an
    outer grouped 4-fold split (each training part chooses its own convention, terms and band): the
    outer figures are the ones the fitted profile's validation block stores."""
    from ..fit.table_fit import fit_designs, measurement_designs

    base = load_hardware(ds.profile)
    traced = measurement_designs(ds.rows, "auto", ds.execution, jobs, True, progress)  # traced once
    f = fit_designs(*traced, data=ds.data, base=base, outer_folds=OUTER_FOLDS)
    designs = traced[1]
    d0 = next(iter(designs.values()))
    outer = f.nested.outer
    inside = outer["inside_band"].to_numpy(bool)
    spec = Params({dt: base.roof(dt, "spec").peak_macs_per_s for dt in d0.dtypes}, base.mem_bw_bytes_per_s.value)
    spec_ratios = d0.measured_s / predict(designs.get("default", d0), spec)
    return ProfileCheck(ds, f, float(inside.mean()), outer, spec_ratios, base.kind)


def prior_bands(checks: list[ProfileCheck]) -> dict:
    """Per kind (and for all kinds pooled): the 80 % band of measured / spec-only Eq. 1."""
    kinds: dict[str, dict] = {}
    for kind in sorted({c.kind for c in checks}) + ["all"]:
        sel = [c for c in checks if kind in ("all", c.kind)]
        ratios = np.concatenate([c.spec_ratios for c in sel])
        weights = np.concatenate([np.full(len(c.spec_ratios), 1.0 / len(c.spec_ratios)) for c in sel])
        lo, med, hi = weighted_quantiles(ratios, weights, (0.1, 0.5, 0.9))
        kinds[kind] = {"low": round(lo, 4), "median": round(med, 4), "high": round(hi, 4), "profiles": len(sel),
                       "rows": int(len(ratios)),
                       "from": [c.dataset.profile for c in sel]}
    return {"what": "80 % band of measured / spec-only Eq. 1 latency (spec peak and bandwidth, no overheads): "
                    "10th, 50th and 90th percentile over the measurements of the validated profiles of each kind, "
                    "each profile weighted equally (a device, not a table row, is the unit of variation)",
            "written_by": "roofline reproduce profiles", "kinds": kinds}


def weighted_quantiles(x: np.ndarray, w: np.ndarray, qs: tuple[float, ...]) -> tuple[float, ...]:
    """Quantiles of ``x`` with weights ``w`` (the smallest value whose cumulative weight reaches q)."""
    order = np.argsort(x)
    cum = np.cumsum(w[order]) / np.sum(w)
    return tuple(float(x[order][min(int(np.searchsorted(cum, q)), len(x) - 1)]) for q in qs)


def run(jobs: int = 1, timm_sample: int | None = None, progress: Callable[[str], None] | None = None
        ) -> list[ProfileCheck]:
    return [check(ds, jobs, progress) for ds in table6_datasets() + [timm_dataset(timm_sample)]]


def write_report(out_dir: str | Path, jobs: int = 1, timm_sample: int | None = None, ship: Path | None = None,
                 progress: Callable[[str], None] | None = None) -> Path:
    """Run every check and write the report folder (and with ``ship``, the package's profiles)."""
    from .reproduce import timm_available

    if not timm_available():
        raise RooflineError("reproduce profiles needs the timm extra (pip install \"roofline[timm]\"): the "
                            "profiles are fitted to timm's models and table too, and a fit without them would "
                            "replace the shipped ones with partial fits")
    checks = run(jobs, timm_sample, progress)
    priors = prior_bands(checks)
    profiles = {c.dataset.profile: _shipped(c) for c in checks}
    with report_folder(out_dir) as tmp:
        (tmp / "profiles").mkdir()
        for name, text in profiles.items():
            write_atomic(tmp / "profiles" / f"{name}.yaml", text)
        write_atomic(tmp / "prior_bands.json", json.dumps(priors, indent=2) + "\n")
        rows = []
        for c in checks:
            _plot(c, tmp / f"{c.dataset.profile}.png")
            rows.append(c.outer.assign(profile=c.dataset.profile))
        write_atomic(tmp / "heldout.csv", pd.concat(rows, ignore_index=True).to_csv(index=False))
        write_atomic(tmp / "README.md", _markdown(checks, priors))
    if ship is not None:
        for name, text in profiles.items():
            write_atomic(ship / "hardware_profiles" / f"{name}.yaml", text)
        write_atomic(ship / "roofline" / "engine" / "prior_bands.json", json.dumps(priors, indent=2) + "\n")
    return Path(out_dir)


def _shipped(c: ProfileCheck) -> str:
    """The shipped profile: its spec numbers and notes, with the fit's terms and validation."""
    base = load_hardware(c.dataset.profile)
    prof: HardwareProfile = c.fit.profile(base.name, base.kind, base)
    marker = ("# fitted, overhead and validation blocks: written by 'roofline reproduce profiles' "
              "(reports/profile-validation)")
    header = []
    if base.path and Path(base.path).is_file():
        for line in Path(base.path).read_text(encoding="utf-8").splitlines():
            if not line.startswith("#"):
                break
            if line != marker:  # written by an earlier run: once is enough
                header.append(line)
    header.append(marker)
    return "\n".join(header) + "\n" + profile_to_yaml(prof)


def _plot(c: ProfileCheck, path: Path) -> None:
    from ..present.plots import figure, label_log_axis, save_figure

    o = c.outer
    with figure((4.6, 4.2)) as fig:
        ax = fig.add_subplot()
        ms, pr = o["measured_s"] * 1e3, o["predicted_s"] * 1e3
        ax.errorbar(ms, pr, yerr=None, fmt="o", ms=3.5, color="#1f77b4", label="held-out prediction")
        out = ~o["inside_band"]
        ax.plot(ms[out], pr[out], "o", ms=5, mfc="none", color="#d62728", label="measured outside the 80 % band")
        lo, hi = float(min(ms.min(), pr.min())) * 0.8, float(max(ms.max(), pr.max())) * 1.25
        ax.plot([lo, hi], [lo, hi], color="#7f7f7f", lw=0.8, label="predicted = measured")
        ax.set_xscale("log")
        ax.set_yscale("log")
        label_log_axis(ax.xaxis)
        label_log_axis(ax.yaxis)
        ax.set_xlabel("measured latency (ms)")
        ax.set_ylabel("predicted latency, held out (ms)")
        s = summary(o["measured_s"].to_numpy(), o["predicted_s"].to_numpy())
        ax.set_title(f"{c.dataset.profile}: {len(o)} rows, outer 4-fold\nmedian error {s['median']:.1%}, "
                     f"band coverage {c.coverage:.0%}")
        fig.legend(loc="outside lower center", ncols=1, frameon=False)
        save_figure(fig, path)


def _markdown(checks: list[ProfileCheck], priors: dict) -> str:
    lines = ["# Validated hardware profiles", "",
             "Generated by `roofline reproduce profiles -o reports/profile-validation`; every number below is "
             "computed from the measurements named per profile. Each profile is fitted as `roofline fit` "
             "fits a user's table: roofline (peak, bandwidth), per-kernel and per-inference costs, a reduction "
             "half-length (layers with few MACs per output element run slower), per-op-class "
             "efficiency factors and per-family latency multipliers, the term set chosen by grouped cross-validation (leave-one-model-out below "
             "20 models, else 4-fold), least squares on log latency with a Huber loss (delta 0.15) and the "
             "factors shrunk toward 1, the peak and bandwidth within 0.01-10x and 0.01-100x of the profile's spec sheet "
             "(a candidate whose fit ends at a bound is dropped). The counting convention is chosen the same way (`--convention auto`): "
             "`default` (layers fused as an engine deploys them) or `unfused` (one row per aten op); execution "
             "is `fused` (one kernel per counted row).", "",
             "Columns: *in-sample* is the fit scored on its own rows (optimistic); *held out* is the "
             "cross-validation of the fit (each model predicted by a fit that never saw it); *outer* is a second, "
             "outer 4-fold grouped split in which each training part runs the whole procedure (term selection and "
             "band included), so its median error and its *band coverage* (share of measurements inside the "
             "training part's 80 % band) are fully held out; they are the nested check `roofline fit` runs and the "
             "profile's `validation.nested_*` keys store. *MACs r_s* ranks the same rows by MAC count.", "",
             "| profile | rows | models | convention | terms | in-sample median | held-out median | held-out worst "
             "| outer median | outer r_s | MACs r_s | 80 % band (measured / predicted) | band coverage (outer) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    verdicts = []
    for c in checks:
        f = c.fit
        ins, held = f.errors("insample_s"), f.errors("heldout_s")
        o = summary(c.outer["measured_s"].to_numpy(), c.outer["predicted_s"].to_numpy())
        macs_rs = spearman(c.outer["measured_s"], c.outer["macs"])
        lines.append(f"| {c.dataset.profile} | {f.n_rows} | {f.n_models} | {f.convention} | "
                     f"{', '.join(f.params.terms) or 'none'} "
                     f"| {ins['median']:.1%} | {held['median']:.1%} | {held['worst']:.0%} | {o['median']:.1%} | "
                     f"{o['spearman']:.3f} | {macs_rs:.3f} | {f.band[0]:.2f}-{f.band[1]:.2f}"
                     + (f" (another family: {f.new_family_band[0]:.2f}-{f.new_family_band[1]:.2f})"
                        if f.new_family_band else "") + f" | {c.coverage:.0%} |")
        verdicts.append((c.dataset.profile, o["median"] <= 0.15, o["spearman"] >= macs_rs, 0.65 <= c.coverage <= 0.95))
    ok = [p for p, a, b, cov in verdicts if a and b]
    bad = [p for p, a, b, cov in verdicts if not (a and b)]
    lines += ["", f"Outer held-out median error at most 15 % with a rank correlation at least MAC count's: "
                  f"{len(ok)} of {len(verdicts)} profiles ({', '.join(ok) or 'none'})"
              + (f"; not met by {', '.join(bad)}." if bad else "."), ""]
    cov = [c.coverage for c in checks]
    pooled = float(np.mean(np.concatenate([c.outer["inside_band"].to_numpy() for c in checks])))
    lines += [f"Band coverage over all outer held-out rows: {pooled:.0%} (per profile {min(cov):.0%} to "
              f"{max(cov):.0%}).", ""]
    allo = pd.concat([c.outer for c in checks], ignore_index=True)
    err_ = np.abs(allo["predicted_s"] / allo["measured_s"] - 1.0)
    fam = allo["family_multiplier"].to_numpy(bool)
    if fam.any():
        lines += ["A family multiplier applies to a held-out model only where the training part measured other "
                  "models of its family; otherwise the model is predicted without one, with the wider band of "
                  "the fit's held-out errors without multipliers. Over all outer held-out rows:", "",
                  "| held-out rows | rows | median error | band coverage |", "|---|---|---|---|"]
        for label, sel in (("family measured in the training part", fam), ("family not measured", ~fam)):
            if sel.any():
                lines.append(f"| {label} | {int(sel.sum())} | {float(np.median(err_[sel])):.1%} | "
                             f"{float(allo['inside_band'][sel].mean()):.0%} |")
        lines.append("")
    lines += ["## Where each profile's data comes from", ""]
    for c in checks:
        lines.append(f"- **{c.dataset.profile}**: {c.dataset.data}"
                     + (f"; {len(c.fit.dropped)} rows could not be traced and were dropped "
                        f"(first: {c.fit.dropped[0][0]}: {c.fit.dropped[0][1][:160]})" if c.fit.dropped else ""))
    lines += ["", "## Prior bands for profiles without measurements", "",
              "A spec-only profile's Eq. 1 (spec peak of the measured dtype and spec bandwidth, no overheads) "
              "is a lower bound, not an estimate: measured latency ran this many times it, 10th, 50th and 90th "
              "percentile over the measurements of the validated profiles of each kind, each profile weighted "
              "equally (`prior_bands.json`). Where `analyze` has nothing closer (no validated reading of the "
              "profile, no validated profile of its kind to transfer from), its estimate is Eq. 1 times the "
              "median, with the 10th-90th percentile as its band:", "",
              "| kind | validated profiles | measurements | median | band (measured / spec-only Eq. 1) |",
              "|---|---|---|---|---|"]
    for k, e in priors["kinds"].items():
        lines.append(f"| {k} | {', '.join(e['from'])} | {e['rows']} | {e['median']:.2f} | "
                     f"{e['low']:.2f}-{e['high']:.2f} |")
    lines += ["", "Per profile: the held-out plot `PROFILE.png`, the fitted profile `profiles/PROFILE.yaml`, and every "
                  "outer held-out prediction with its band in `heldout.csv`.", ""]
    return "\n".join(lines)
