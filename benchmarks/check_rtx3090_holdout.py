"""Held-out check of `roofline fit` on timm's RTX 3090 NCHW inference table (issue: trust the number).

80 rows by an even stride over the table (sorted by model and resolution, ``test_`` models dropped);
`roofline fit` (the CLI, on a CSV of model, ms, resolution, batch) on every 4th row; the other 60
predicted through ``roofline.analyze(model, profile, resolution=, batch=)``. Prints the held-out median
|predicted / measured - 1|, Spearman (and MAC count's on the same rows) and the share of measurements
inside the fitted profile's 80 % band, and any fit (the one on every training row, each nested outer fold's)
that failed or ended with a parameter at a bound or fell back to the plain roofline (target: none). Targets:
median <= 15 %, Spearman >= 0.97, coverage 65-95 %.
Run: python benchmarks/check_rtx3090_holdout.py [--jobs 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from heldout import predict_rows

from roofline.studies.profile_report import timm_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    rows = timm_rows(sample=80)
    train, test = rows.iloc[::4], rows.drop(index=rows.index[::4])
    with tempfile.TemporaryDirectory() as tmp:
        csv, prof = Path(tmp) / "train.csv", Path(tmp) / "rtx3090-fit.yaml"
        train.assign(ms=train["latency_s"] * 1e3)[["model", "ms", "resolution", "batch"]].to_csv(csv, index=False)
        cmd = [sys.executable, "-m", "roofline.cli", "fit", str(csv), "--dtype", "fp16", "--kind", "gpu",
               "--convention", "auto", "--jobs", str(args.jobs), "-o", str(prof)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        print(done.stdout)
        if done.returncode:
            sys.exit(f"fit failed: {done.stderr.strip().splitlines()[-1]}")
        bad = degenerate(done.stdout, done.stderr)
        held = predict_rows(test, prof)
    err, cover = held.errors, held.coverage
    rs, rs_macs = held.rank_correlations
    if held.skipped:
        sys.exit(f"held-out rows no trace could read: {'; '.join(held.skipped)}")
    print(f"fitted on {len(train)} rows, predicted {len(test)} held-out rows through roofline.analyze")
    print(f"held-out median |predicted/measured - 1|: {np.median(err):.1%} (target <= 15 %); worst {err.max():.1%}")
    print(f"held-out Spearman: {rs:.3f} (target >= 0.97); MAC count on the same rows: {rs_macs:.3f}")
    print(f"80 % band coverage on the held-out rows: {cover:.0%} (target 65-95 %)")
    print("fits (on every training row, each nested outer fold's) that ended with a parameter at a bound or fell "
          "back to the plain roofline: " + ("none" if not bad else f"{len(bad)}"))
    for line in bad:
        print(f"  {line}")
    ok = np.median(err) <= 0.15 and rs >= 0.97 and 0.65 <= cover <= 0.95 and not bad
    print("PASS" if ok else "FAIL")


def degenerate(out: str, err: str) -> list[str]:
    """What `roofline fit` printed about fits at a bound: its chosen candidate dropped (only when every one
    was: the plain roofline's fallback), and each outer fold's choice at a bound or fallen back."""
    lines = [x.strip() for x in out.splitlines()]
    bad = [x for x in lines if x.endswith("<- chosen") and "(dropped:" in x]
    bad += [x for x in lines if x.startswith("outer fold ") and ("(at a bound:" in x or "every candidate" in x)]
    bad += [x for x in err.splitlines() if "every candidate term set was dropped" in x]
    return bad


if __name__ == "__main__":
    main()
