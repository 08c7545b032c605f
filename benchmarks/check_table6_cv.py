"""Held-out check of the seven Table 6 devices (MobileNetV4 paper), full model set, outer 4-fold.

For each device: its measured latencies (zoo and timm rows), fitted as `roofline fit --convention auto`
fits (convention, terms and band chosen inside each training part), each outer fold predicted by a fit
that never saw its models. Prints per device the held-out median |predicted / measured - 1| (target
<= 15 %), Spearman against MAC count's on the same rows (target: at least as high) and the 80 % band's
coverage; then the pooled coverage (target 65-95 %), and every fit (each device's, each outer fold's) that
failed or ended with a parameter at a bound, or fell back to the plain roofline (target: none). The same
numbers are in reports/profile-validation (written by `roofline reproduce profiles`) and in each fitted
profile's validation block (nested_*).
Run: python benchmarks/check_table6_cv.py [--jobs 2]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from roofline.core.errors import RooflineError
from roofline.fit.selection import summary
from roofline.studies.profile_report import check, table6_datasets
from roofline.core.stats import spearman


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    inside, passed, bad = [], 0, []
    print(f"{'device':16s}{'rows':>5s}{'median':>9s}{'worst':>8s}{'r_s':>7s}{'MACs r_s':>10s}{'coverage':>10s}")
    for ds in table6_datasets():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                c = check(ds, args.jobs)
        except RooflineError as e:
            bad.append(f"{ds.profile}: the fit failed: {e}")
            print(f"{ds.profile:16s}  fit failed")
            continue
        bad += degenerate(ds.profile, c.fit)
        o = c.outer
        s = summary(o["measured_s"].to_numpy(), o["predicted_s"].to_numpy())
        rs_macs = spearman(o["measured_s"], o["macs"])
        ok = s["median"] <= 0.15 and s["spearman"] >= rs_macs
        passed += ok
        inside.append(o["inside_band"].to_numpy())
        print(f"{ds.profile:16s}{len(o):5d}{s['median']:9.1%}{s['worst']:8.0%}{s['spearman']:7.3f}{rs_macs:10.3f}"
              f"{c.coverage:10.0%}  {'pass' if ok else 'FAIL'}")
    pooled = float(np.mean(np.concatenate(inside)))
    print(f"{passed} of 7 devices meet median <= 15 % with r_s >= MAC count's; pooled 80 % band coverage "
          f"{pooled:.0%} (target 65-95 %)")
    print("fits (each device's, each outer fold's) that failed, ended with a parameter at a bound or fell back to "
          "the plain roofline: " + ("none" if not bad else f"{len(bad)}"))
    for line in bad:
        print(f"  {line}")


def degenerate(device: str, f) -> list[str]:
    """The fits of ``f`` (the device's own and each nested outer fold's) left at a bound or fallen back."""
    out = []
    if f.params.at_bound or f.note:
        out.append(f"{device}, the fit on every row: {'; '.join(f.params.at_bound) or f.note}")
    for r in f.nested.fits.itertuples():
        if r.at_bound or r.note:
            out.append(f"{device}, outer fold {r.fold}: {r.at_bound or r.note}")
    return out


if __name__ == "__main__":
    main()
