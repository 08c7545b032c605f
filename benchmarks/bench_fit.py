"""Time `roofline fit` on timm's whole RTX 3090 NCHW table (~1,400 rows), cold and warm.

Cold: an empty trace cache (every row traced, ``--jobs`` at a time); warm: the same command again,
every trace read back from the cache. Both are the real CLI in a subprocess, in the same run; the
ratio is the cache's speed-up. Targets (2 cores): cold <= 5 min, warm <= 30 s, for the fit alone
(``--outer-folds 0``, the default here: the nested check, on by default in ``roofline fit`` from 12
models, runs the whole selection once more per outer fold, 5x the selection's time with 4 folds).
Run: python benchmarks/bench_fit.py [--jobs 2] [--convention default] [--outer-folds 0]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from roofline.studies.profile_report import TIMM_TABLE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--convention", default="default", help="default, unfused or auto (traces both)")
    parser.add_argument("--outer-folds", type=int, default=0, help="the nested check's folds (0: off)")
    args = parser.parse_args()
    table = str(resources.files("roofline") / "data" / TIMM_TABLE)
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, ROOFLINE_CACHE_DIR=str(Path(tmp) / "cache"))
        cmd = [sys.executable, "-m", "roofline.cli", "fit", table, "--source", "timm",
               "--throughput-col", "infer_samples_per_sec", "--resolution-col", "infer_img_size",
               "--batch-col", "infer_batch_size", "--dtype", "fp16", "--kind", "gpu", "--convention",
               args.convention, "--jobs", str(args.jobs), "--outer-folds", str(args.outer_folds), "-o", str(Path(tmp) / "rtx3090.yaml")]
        times = []
        for label in ("cold", "warm"):
            t0 = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True, env=env)
            times.append(time.perf_counter() - t0)
            if done.returncode:
                sys.exit(f"{label} fit failed: {done.stderr.strip().splitlines()[-1]}")
            rows = next(line for line in done.stdout.splitlines() if line.startswith("fitted"))
            print(f"{label}: {times[-1]:.1f} s ({rows.split(';')[0]})")
    print(f"cold {times[0]:.1f} s (target <= 300 s), warm {times[1]:.1f} s (target <= 30 s); "
          f"cache speed-up {times[0] / times[1]:.1f}x; --jobs {args.jobs}, {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
