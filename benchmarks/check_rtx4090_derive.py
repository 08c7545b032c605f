"""Acceptance check of `roofline derive` on a GPU it never saw (issue 30): an RTX 4090 from its spec sheet.

`roofline derive rtx4090 --like rtx3090` (the CLI) with the RTX 4090's public spec numbers: 165.2 dense
fp16 tensor TFLOPS with fp32 accumulate (as AMP runs) = 8.26e13 MAC/s, 1,008 GB/s GDDR6X (NVIDIA Ada
GPU architecture whitepaper). Nothing is fitted to the 4090: the profile is the shipped rtx3090 fit's
shares of its spec sheet applied to the 4090's, with its reading and overheads, without its family
multipliers.

Measured: timm's published RTX 4090 inference table (benchmarks/data/, the sibling of the RTX 3090 table
the rtx3090 profile was fitted to: PyTorch 2.4 + CUDA 12.4, AMP fp16, eager, NCHW), rows converted as
``roofline.studies.profile_report.timm_rows`` does (latency = batch / samples per second, timm: names,
fp16), ``test_`` models dropped, an even stride of ``--sample`` rows over the table sorted by model and
resolution (default 300 of 1,441; ``--sample 0``: all of them, about 4 minutes on two cores). Every row is
predicted through ``roofline.analyze(model, profile, resolution=, batch=)``, one at a time.

Prints the rows used, the median |predicted / measured - 1| (target <= 25 %), the Spearman rank
correlation of predictions with measurements against MAC count's on the same rows (target: at least
MAC count's) and the share of measurements inside the printed 80 % band (target 65-95 %).
Run: python benchmarks/check_rtx4090_derive.py [--sample 300]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import roofline
from roofline.core.errors import RooflineError
from roofline.core.stats import spearman

TABLE = Path(__file__).parent / "data" / "timm-benchmark-infer-amp-nchw-pt240-cu124-rtx4090.csv"
SPEC = {"--peak": "fp16=8.26e13", "--bw": "1.008e12"}
SOURCE = ("NVIDIA Ada GPU architecture whitepaper: RTX 4090, 165.2 dense fp16 tensor TFLOPS with fp32 "
          "accumulate = 8.26e13 MAC/s, 1,008 GB/s GDDR6X")


def rows(sample: int | None) -> pd.DataFrame:
    """The 4090 table as measurement rows, as ``timm_rows`` converts the 3090 table."""
    df = pd.read_csv(TABLE)
    df = df[~df["model"].str.startswith("test_")].sort_values(["model", "infer_img_size"]).reset_index(drop=True)
    if sample and sample < len(df):
        df = df.iloc[[i * len(df) // sample for i in range(sample)]].reset_index(drop=True)
    return pd.DataFrame({"model": "timm:" + df["model"], "resolution": df["infer_img_size"].astype(int),
                         "batch": df["infer_batch_size"].astype(int),
                         "latency_s": df["infer_batch_size"] / df["infer_samples_per_sec"]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", type=int, default=300, help="rows by an even stride (0: all)")
    args = parser.parse_args()
    table = rows(args.sample or None)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        prof = Path(tmp) / "rtx4090.yaml"
        cmd = [sys.executable, "-m", "roofline.cli", "derive", "rtx4090", "--like", "rtx3090",
               *(x for kv in SPEC.items() for x in kv), "--description", "NVIDIA GeForce RTX 4090 (AD102)",
               "--source", SOURCE, "-o", str(prof)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"derive failed: {done.stderr.strip()}")
        p = roofline.load_hardware(prof)
    f = p.fitted
    print(f"derived rtx4090 from rtx3090: fitted peak {f.ridge_point_macs_per_byte * f.mem_bw_bytes_per_s:.3g} "
          f"MAC/s, bandwidth {f.mem_bw_bytes_per_s:.3g} B/s, convention {f.convention}, {f.execution} execution; "
          f"band {p.validation.ratio_p10:.3f}-{p.validation.ratio_p90:.3f} x")
    meas, pred, low, high, macs, skipped = [], [], [], [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for r in table.itertuples():
            try:
                a = roofline.analyze(r.model, p, resolution=int(r.resolution), batch=int(r.batch))
            except RooflineError as e:
                skipped.append(f"{r.model} ({str(e).splitlines()[0][:80]})")
                continue
            lo, hi = a.latency_band_s
            meas.append(r.latency_s)
            pred.append(a.total_latency_s)
            low.append(lo)
            high.append(hi)
            macs.append(a.table.macs)
    meas, pred, low, high = map(np.array, (meas, pred, low, high))
    ratio = meas / pred
    err = np.abs(pred / meas - 1)
    cover = np.mean((meas >= low) & (meas <= high))
    rs, rs_macs = spearman(meas, pred), spearman(meas, macs)
    print(f"rows used: {len(meas)} of {len(table)} sampled ({table['model'].nunique()} models; "
          f"{len(skipped)} not traceable{': ' + '; '.join(skipped[:5]) if skipped else ''}); "
          f"{time.perf_counter() - t0:.0f} s")
    print(f"median |predicted/measured - 1|: {np.median(err):.1%} (target <= 25 %); worst {err.max():.1%}; "
          f"median measured / predicted {np.median(ratio):.3f} x (10th-90th percentile "
          f"{np.percentile(ratio, 10):.3f}-{np.percentile(ratio, 90):.3f} x)")
    print(f"Spearman predicted vs measured: {rs:.3f}; MAC count vs measured on the same rows: {rs_macs:.3f} "
          f"(target: at least MAC count's)")
    print(f"80 % band coverage: {cover:.1%} (target 65-95 %); below the band {np.mean(meas < low):.1%}, above "
          f"{np.mean(meas > high):.1%}")
    ok = np.median(err) <= 0.25 and rs >= rs_macs and 0.65 <= cover <= 0.95
    print("PASS" if ok else "FAIL")


if __name__ == "__main__":
    main()
