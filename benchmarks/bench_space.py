"""Search-space latency (issue 28): 10,000 sampled MobileNetV4-space candidates on the 8 validated
profiles, cold (empty layer-cost cache: every block traced) and warm, against the baseline of building,
tracing and analysing each candidate (timed on a few, extrapolated), and the largest relative
difference against ``analyze`` on 100 of them (must be <= 1e-9).

Targets: <= 60 s cold, <= 10 s warm on 2 cores, peak memory <= 2 GB.
Run: python benchmarks/bench_space.py [--n 10000] [--check 100]
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import sys
import time

import roofline
from roofline.studies import space_cost
from roofline.zoo.builder import build_arch

PROFILES = ["pixel6-cpu", "pixel8-edgetpu", "iphone13-ane", "pixel4-dsp", "pixel7-gpu", "s23-cpu", "s23-gpu",
            "rtx3090"]


def analyze_candidate(sp, row, i: int, tables: dict) -> dict[str, float]:
    """The baseline: build the candidate, trace it (once per convention), analyze it on every profile."""
    spec = sp.arch(row)
    res = spec.resolution
    model = build_arch(spec).eval()
    out = {}
    for hw in PROFILES:
        fuse = roofline.engine.reading.resolve_reading(roofline.load_hardware(hw)).convention.fused
        if fuse not in tables:
            tables[fuse] = roofline.trace(model, (1, 3, res, res), fuse=fuse)
        table = dataclasses.replace(tables[fuse], model=sp.candidate_name(i))
        out[hw] = roofline.analyze(table, hw).total_latency_s * 1e3
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--check", type=int, default=100)
    args = parser.parse_args()
    sp = roofline.space("mnv4")
    cands = sp.sample(args.n, seed=0)
    space_cost.clear_cache()
    t = time.perf_counter()
    lat = sp.latency(cands, PROFILES)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    lat = sp.latency(cands, PROFILES)
    warm = time.perf_counter() - t
    print(f"{args.n:,} candidates x {len(PROFILES)} profiles: cold {cold:.1f} s ({args.n / cold:,.0f} candidates/s, "
          f"{space_cost.CACHE.traces:,} block traces), warm {warm:.2f} s ({args.n / warm:,.0f} candidates/s)")
    worst = 0.0
    t = time.perf_counter()
    for i in range(args.check):
        ref = analyze_candidate(sp, cands.iloc[i], i, {})
        for hw, ms in ref.items():
            worst = max(worst, abs(lat.loc[i, f"{hw}_ms"] / ms - 1.0))
    per = (time.perf_counter() - t) / max(args.check, 1)
    print(f"largest relative difference against analyze on {args.check} candidates x {len(PROFILES)} profiles: "
          f"{worst:.3g} ({'ok' if worst <= 1e-9 else 'FAIL'}: <= 1e-9)")
    print(f"baseline (build + trace + analyze per candidate, all profiles): {per * 1e3:.0f} ms per candidate, "
          f"{per * args.n:,.0f} s extrapolated to {args.n:,} ({per * args.n / cold:.0f}x the cold run, "
          f"{per * args.n / warm:.0f}x the warm one)")
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak memory: {peak_kb / 1024:.0f} MB (target <= 2048 MB); targets: cold <= 60 s "
          f"{'ok' if cold <= 60 else 'MISSED'}, warm <= 10 s {'ok' if warm <= 10 else 'MISSED'}")
    sys.exit(0 if worst <= 1e-9 else 1)


if __name__ == "__main__":
    main()
