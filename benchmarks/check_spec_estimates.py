"""How the estimate of a spec-only profile holds on measurements no fit saw (issue 30).

For the H200 runs committed in reports/validation-h200 (eager PyTorch, 9 zoo models at batch 1 and
at batch 256, timed on the device by `roofline validate`), against the spec-only `nvidia-h200`
profile: the estimate `analyze` leads with (spec-only Eq. 1 x the gpu prior's median, band its
10th-90th percentile), and for comparison rtx3090's fitted terms transferred to the H200 spec sheet
(`roofline derive --like rtx3090`, which `analyze` does not do on its own). Prints per batch the
median |estimate / measured - 1| and the share of measurements inside the 80 % band.
Run: python benchmarks/check_spec_estimates.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import roofline
from roofline.hardware.transfer import transfer

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    h200 = roofline.load_hardware("nvidia-h200")
    moved = transfer(h200, "rtx3090")
    print(f"{'batch':>6s}{'models':>7s}  {'estimate':24s}{'median error':>13s}{'in band':>9s}")
    for folder, batch in (("batch1", 1), ("batch256", 256)):
        df = pd.read_csv(ROOT / "reports" / "validation-h200" / folder / "models.csv")
        measured = df["measured_ms"].to_numpy() / 1e3
        for label, hw in (("prior (what analyze does)", h200), ("rtx3090 transferred", moved)):
            est, lo, hi = [], [], []
            for m in df["model"]:
                a = roofline.analyze(m, hw, batch=batch)
                e = a.estimate
                est.append(e.seconds)
                lo.append(e.low_s)
                hi.append(e.high_s)
            est, lo, hi = map(np.array, (est, lo, hi))
            err = np.median(np.abs(est / measured - 1))
            inside = np.mean((measured >= lo) & (measured <= hi))
            print(f"{batch:6d}{len(df):7d}  {label:24s}{err:13.1%}{inside:9.0%}")


if __name__ == "__main__":
    main()
