"""Time counting the whole zoo at native resolution: roofline.trace against fvcore, same run.

Two comparisons, both printed with their ratio:
- end to end, from a model name to its counts: ours builds each model on the
  meta device and traces it; fvcore needs a real model, so its time includes
  building it on the CPU and running FlopCountAnalysis with a real input;
- counting only, on models built beforehand (ours on meta, fvcore's on CPU).
Run: python benchmarks/bench_trace.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

import roofline
from roofline.trace.api import _trace_zoo

ZOO = ["mnv1", "mnv2", "mnv3-l", "mnv3-s", "mnv4-conv-s", "mnv4-conv-m", "mnv4-conv-l",
       "mnv4-hybrid-m", "mnv4-hybrid-l"]


def shape(name: str) -> tuple[int, int, int, int]:
    res = roofline.model_card(name).resolution
    return (1, 3, res, res)


def fvcore_count(model: torch.nn.Module, name: str) -> int:
    from fvcore.nn import FlopCountAnalysis

    fa = FlopCountAnalysis(model, torch.randn(shape(name)))
    fa.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    return fa.total()


def clock(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``fn`` over ``repeat`` runs."""
    walls, cpus = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    def ours_end_to_end() -> None:
        _trace_zoo.cache_clear()
        for name in ZOO:
            roofline.trace(name)

    def fvcore_end_to_end() -> None:
        for name in ZOO:
            fvcore_count(roofline.build_model(name), name)

    first = clock(ours_end_to_end, 1)  # the first run after import, with one-time warm-up
    ours = clock(ours_end_to_end, args.repeat)
    fvcore_count(roofline.build_model("mnv4-conv-s"), "mnv4-conv-s")  # warm-up
    theirs = clock(fvcore_end_to_end, args.repeat)

    meta = {n: roofline.build_model(n, device="meta") for n in ZOO}
    real = {n: roofline.build_model(n) for n in ZOO}
    ours_only = clock(lambda: [roofline.trace(meta[n], shape(n)) for n in ZOO], args.repeat)
    theirs_only = clock(lambda: [fvcore_count(real[n], n) for n in ZOO], args.repeat)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {len(ZOO)} zoo models at "
          f"native resolution; median of {args.repeat} runs")
    print(f"roofline, first run after import (build on meta + trace): {first[0]:.3f} s wall, "
          f"{first[1]:.3f} s CPU")
    for label, (ow, oc), (fw, fc) in [("end to end (build + count)", ours, theirs),
                                      ("counting only (models prebuilt)", ours_only, theirs_only)]:
        print(f"{label}:")
        print(f"  roofline.trace : {ow:.3f} s wall, {oc:.3f} s CPU")
        print(f"  fvcore         : {fw:.3f} s wall, {fc:.3f} s CPU")
        print(f"  ratio fvcore / roofline: {fw / ow:.1f}x wall, {fc / oc:.1f}x CPU")


if __name__ == "__main__":
    main()
