"""How wide must a transferred band be? Transfers between the paper's phones of the same kind (issue 30).

`roofline derive` (``roofline.hardware.transfer``) carries a validated profile's reading to a device with
only a spec sheet, and gives it the source's band (its new-family band where it has one) with its log
width times sqrt(2) about its centre. The RTX 4090 and 5090 checks (check_gpu_derive.py) are transfers; this script
looks at the four others the shipped profiles allow, each between two phones of the same kind in the
MobileNetV4 paper's Table 6: s23-cpu <-> pixel6-cpu (int8) and s23-gpu <-> pixel7-gpu (fp16). The target
keeps only its spec numbers (its fit, band and overheads removed), gets the source's terms, and predicts
every model of its own Table 6 column. No fit sees the target's column.

Prints per transfer the rows, the median |predicted / measured - 1|, the range of measured / predicted,
and the share of rows inside the band at four widening factors k of the log width (1: the source's band
as it is; sqrt(2): what transfer uses, since the GPU checks found 2 too wide). It is evidence for the widening rule, not a target: if no single k
covers 65-95 % of every pair, the rule cannot be calibrated on these pairs, and a transferred band is a
statement about the source, not a checked one about the target.
Run: python benchmarks/check_phone_transfer.py  (about a minute)
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np

import roofline
from roofline.core.errors import RooflineError
from roofline.hardware import Overhead, load_hardware
from roofline.hardware.transfer import transfer
from roofline.studies.profile_report import table6_datasets

PAIRS = (("s23-cpu", "pixel6-cpu"), ("pixel6-cpu", "s23-cpu"), ("s23-gpu", "pixel7-gpu"), ("pixel7-gpu", "s23-gpu"))
FACTORS = (1.0, math.sqrt(2.0), 2.0, 3.0)


def main() -> None:
    warnings.simplefilter("ignore")
    datasets = {d.profile: d for d in table6_datasets()}
    print(f"{'transfer':28s}{'rows':>5s}{'median':>8s}{'meas/pred':>13s}  " +
          "".join(f"{'k=' + format(k, '.2g'):>18s}" for k in FACTORS))
    for src, tgt in PAIRS:
        like, target = load_hardware(src), load_hardware(tgt)
        bare = replace(target, fitted=None, validation=None, overhead=Overhead())
        prof = transfer(bare, like)
        v = like.validation
        new_family = v.new_family_ratio_p10 is not None and bool(like.fitted.family)
        p10, p90 = (v.new_family_ratio_p10, v.new_family_ratio_p90) if new_family else (v.ratio_p10, v.ratio_p90)
        ratios = []
        for _, row in datasets[tgt].rows.iterrows():
            try:
                a = roofline.analyze(row["model"], prof, dtype=row["dtype"], estimate=False)
            except RooflineError:
                continue
            ratios.append(row["latency_s"] / a.total_latency_s)
        r = np.array(ratios)
        centre, cells = math.sqrt(p10 * p90), []
        for k in FACTORS:
            w = (p90 / p10) ** (k / 2)
            lo, hi = min(centre / w, 1.0), max(centre * w, 1.0)
            cells.append(f"{np.mean((r >= lo) & (r <= hi)):4.0%} [{lo:.2g}-{hi:.2g}]")
        print(f"{src + ' -> ' + tgt:28s}{len(r):5d}{np.median(np.abs(1 / r - 1)):8.0%}"
              f"{f'{r.min():.2f}-{r.max():.2f}':>13s}  " + "".join(f"{c:>18s}" for c in cells))


if __name__ == "__main__":
    main()
