"""Acceptance check of `roofline derive` on a GPU it never saw (issue 30): a newer GPU from its spec sheet.

`roofline derive GPU --like rtx3090` (the CLI) with the GPU's public spec numbers (dense fp16 tensor throughput
with fp32 accumulate, as AMP runs, and memory bandwidth; ``GPUS`` below, each with its source). Nothing is fitted
to the target: the profile is the shipped rtx3090 fit's shares of its spec sheet applied to the target's, with
its reading and overheads, without its family multipliers; the band is the transfer rule's (the source's band
widened), unchanged between targets.

Measured: timm's published inference table of that GPU (benchmarks/data/; AMP fp16, eager, NCHW, as the RTX 3090
table the rtx3090 profile was fitted to): the RTX 4090's on the 3090 table's own stack (PyTorch 2.4 + CUDA 12.4),
the RTX 5090's on a newer one (PyTorch 2.9.1 + CUDA 13.0), and the RTX 4090's again on PyTorch 2.9.1 + CUDA 12.8
(``rtx4090-pt291``); mostly batch 1024 in all. Rows converted as
``roofline.studies.profile_report.timm_rows`` does (latency = batch / samples per second, timm: names, fp16),
``test_`` models dropped, an even stride of ``--sample`` rows over the table sorted by model and resolution
(default 300; ``--sample 0``: all of them, minutes on two cores). Every row is predicted through
``roofline.analyze(model, profile, resolution=, batch=)``, one at a time.

Prints the rows used, the median |predicted / measured - 1| (target <= 25 %), the Spearman rank
correlation of predictions with measurements against MAC count's on the same rows (target: at least
MAC count's) and the share of measurements inside the printed 80 % band (target 65-95 %).
Run: python benchmarks/check_gpu_derive.py [--gpu rtx4090|rtx4090-pt291|rtx5090] [--sample 300]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from heldout import predict_rows

import roofline

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Target:
    table: Path
    peak: str  # --peak: dense fp16 tensor MAC/s with fp32 accumulate
    bw: str  # --bw: B/s
    description: str
    source: str


GPUS = {
    "rtx4090": Target(DATA / "timm-benchmark-infer-amp-nchw-pt240-cu124-rtx4090.csv", "fp16=8.26e13", "1.008e12",
                      "NVIDIA GeForce RTX 4090 (AD102)",
                      "NVIDIA Ada GPU architecture whitepaper: RTX 4090, 165.2 dense fp16 tensor TFLOPS with fp32 "
                      "accumulate = 8.26e13 MAC/s, 1,008 GB/s GDDR6X"),
    "rtx4090-pt291": Target(DATA / "timm-benchmark-infer-amp-nchw-pt291-cu128-4090.csv", "fp16=8.26e13", "1.008e12",
                            "NVIDIA GeForce RTX 4090 (AD102)",
                            "NVIDIA Ada GPU architecture whitepaper: RTX 4090, 165.2 dense fp16 tensor TFLOPS with "
                            "fp32 accumulate = 8.26e13 MAC/s, 1,008 GB/s GDDR6X"),
    "rtx5090": Target(DATA / "timm-benchmark-infer-amp-nchw-pt291-cu130-5090.csv", "fp16=1.0475e14", "1.792e12",
                      "NVIDIA GeForce RTX 5090 (GB202)",
                      "RTX 5090: 209.5 dense fp16 TFLOPS (codesota.com/hardware/rtx-5090, 1.27x the 4090's 165.2 with "
                      "fp32 accumulate; = 838.4 sparse fp16 TFLOPS / 2 for sparsity / 2 for fp32 accumulate, "
                      "spheron.network/blog/nvidia-rtx-5090-specs) = 1.0475e14 MAC/s, 1,792 GB/s GDDR7 (both pages)"),
}


def rows(table: Path, sample: int | None) -> pd.DataFrame:
    """A timm table as measurement rows, as ``timm_rows`` converts the 3090 table."""
    df = pd.read_csv(table)
    df = df[~df["model"].str.startswith("test_")].sort_values(["model", "infer_img_size"]).reset_index(drop=True)
    if sample and sample < len(df):
        df = df.iloc[[i * len(df) // sample for i in range(sample)]].reset_index(drop=True)
    return pd.DataFrame({"model": "timm:" + df["model"], "resolution": df["infer_img_size"].astype(int),
                         "batch": df["infer_batch_size"].astype(int),
                         "latency_s": df["infer_batch_size"] / df["infer_samples_per_sec"]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpu", choices=sorted(GPUS), default="rtx4090", help="the target GPU and its table")
    parser.add_argument("--sample", type=int, default=300, help="rows by an even stride (0: all)")
    args = parser.parse_args()
    gpu = GPUS[args.gpu]
    table = rows(gpu.table, args.sample or None)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        prof = Path(tmp) / f"{args.gpu}.yaml"
        cmd = [sys.executable, "-m", "roofline.cli", "derive", args.gpu, "--like", "rtx3090", "--peak", gpu.peak,
               "--bw", gpu.bw, "--description", gpu.description, "--source", gpu.source, "-o", str(prof)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"derive failed: {done.stderr.strip()}")
        p = roofline.load_hardware(prof)
    f = p.fitted
    print(f"derived {args.gpu} from rtx3090 ({gpu.table.name}): fitted peak {f.ridge_point_macs_per_byte * f.mem_bw_bytes_per_s:.3g} "
          f"MAC/s, bandwidth {f.mem_bw_bytes_per_s:.3g} B/s, convention {f.convention}, {f.execution} execution; "
          f"band {p.validation.ratio_p10:.3f}-{p.validation.ratio_p90:.3f} x")
    held = predict_rows(table, p)
    meas, skipped = held.rows["measured_s"].to_numpy(), held.skipped
    low, high = held.rows["low_s"].to_numpy(), held.rows["high_s"].to_numpy()
    ratio = meas / held.rows["predicted_s"].to_numpy()
    err, cover = held.errors, held.coverage
    rs, rs_macs = held.rank_correlations
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
