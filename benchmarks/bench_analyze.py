"""Wall time of `roofline analyze` from the shell, against `python -c "import torch"` in the same run.

The CLI's floor is torch's import; the target is at most 0.5 s above it. Runs alternate (torch,
analyze, torch, analyze, ...) so that load on a shared machine falls on both alike; prints each
median and their difference.
Run: python benchmarks/bench_analyze.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

ANALYZE = [sys.executable, "-m", "roofline.cli", "analyze", "mnv4-hybrid-l", "--hw", "pixel8-edgetpu"]
TORCH = [sys.executable, "-c", "import torch"]


def wall(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    wall(ANALYZE)  # warm the file cache
    torch_s, analyze_s = [], []
    for _ in range(args.runs):
        torch_s.append(wall(TORCH))
        analyze_s.append(wall(ANALYZE))
    t, a = statistics.median(torch_s), statistics.median(analyze_s)
    print(f"import torch: median {t:.2f} s ({', '.join(f'{x:.2f}' for x in torch_s)})")
    print(f"roofline analyze mnv4-hybrid-l --hw pixel8-edgetpu: median {a:.2f} s "
          f"({', '.join(f'{x:.2f}' for x in analyze_s)})")
    print(f"analyze - import torch: {a - t:+.2f} s (target <= +0.50 s): {'PASS' if a - t <= 0.5 else 'FAIL'}")


if __name__ == "__main__":
    main()
