"""Peak memory (RSS) and wall time of `roofline profile`, quick and full, each in a fresh process.

Targets (issue 16, 2-core CPU): peak RSS <= 1 GB, --quick <= 20 s, full <= 90 s. Each run is its own
process, so its peak RSS is the kernel's high-water mark for that process alone (ru_maxrss of the
waited child), start-up and imports included.
Run: python benchmarks/bench_profile.py [--threads N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in bytes) of one `roofline profile` in a child process."""
    with tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        p = subprocess.Popen([sys.executable, "-m", "roofline.cli", "profile", *args], stdout=subprocess.DEVNULL,
                             stderr=err)
        _, status, usage = os.wait4(p.pid, 0)  # reaps the child: its own rusage, not all children's
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode:
            err.seek(0)
            sys.exit(f"profile {' '.join(args)} failed: {err.read().strip()[-300:]}")
    return wall, usage.ru_maxrss * 1024  # Linux reports kilobytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=None)
    a = parser.parse_args()
    threads = ["--threads", str(a.threads)] if a.threads else []
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra, limit in (("quick", ["--quick"], 20.0), ("full", [], 90.0)):
            wall, rss = run([*extra, *threads, "-o", str(Path(tmp) / f"{label}.yaml")])
            ok = rss <= 1e9 and wall <= limit
            print(f"{label}: {wall:.1f} s (target <= {limit:.0f} s), peak RSS {rss / 1e9:.2f} GB (target <= 1 GB): "
                  f"{'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
