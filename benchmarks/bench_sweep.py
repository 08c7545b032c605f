"""Time a 501-point ridge-point sweep (RP 0..500, step 1) over the 13 models of the paper's Figure 2.

Tracing happens first and is not timed (it is cached per process). Baseline in
the same run: the same sweep as a Python loop of one ``roofline.analyze`` call
per (model, RP), on a sample of RPs, scaled to 501. Prints both and the ratio.
Run: python benchmarks/bench_sweep.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import roofline
from roofline.studies.sweep import MODEL_GROUPS, sweep

MODELS = list(MODEL_GROUPS["paper-fig2"])
RPS = np.arange(0, 501, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    tables = [roofline.trace(m) for m in MODELS]  # trace once, outside the timing
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        df = sweep(tables, RPS, convention="mnv4-paper")
        times.append(time.perf_counter() - t0)
    assert len(df) == len(MODELS) * len(RPS)
    ours = statistics.median(times)
    sample = RPS[1::50]  # 10 positive RPs
    t0 = time.perf_counter()
    for rp in sample:
        hw = {"name": "rp", "kind": "npu", "default_dtype": "int8", "peak_macs_per_s": {"int8": rp * 40e9},
              "mem_bw_bytes_per_s": 40e9}
        for t in tables:
            roofline.analyze(t, hw, convention="mnv4-paper").total_latency_s
    loop = (time.perf_counter() - t0) / len(sample) * len(RPS)
    print(f"{len(RPS)}-point sweep over {len(MODELS)} models ({len(df)} latencies), after tracing, "
          f"median of {args.repeat}:")
    print(f"  roofline.studies.sweep (vectorised)       : {ours * 1e3:.1f} ms")
    print(f"  loop of roofline.analyze per RP   : {loop * 1e3:.0f} ms (estimated from {len(sample)} RPs)")
    print(f"  ratio: {loop / ours:.0f}x")


if __name__ == "__main__":
    main()
