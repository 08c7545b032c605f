"""Run a timing job in a Python process of its own, as a user's process runs one model.

Eager PyTorch on CPU allocates each activation from the C allocator, and what that costs
depends on the process's history: glibc raises its mmap and trim thresholds after large
frees, so a model run after bigger ones page-faults less than it does alone (on a 2-core
Xeon VM, ConvNeXt-femto took 13.8 ms after eleven other models in one process and
15.2-17.4 ms in fresh ones, with 1,700-3,200 minor page faults per inference). Timing
in fresh processes measures what a deployment sees, whatever ran before in the caller.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..core.errors import RooflineError
from ..core.interrupts import die_with_parent  # noqa: F401  (run in each timing process)

TIMEOUT_S = 600

Job = TypeVar("Job")


def run_fresh(entry: Callable[[], None], job: Any, what: str, error: type[RooflineError] = RooflineError) -> Any:
    """The JSON that ``entry`` (a module-level function, which reads its job with :func:`read_job` and
    prints one JSON line last) prints for ``job`` (a dataclass of JSON values, sent as a JSON object of
    its fields), run by this interpreter in a new process that imports this checkout of roofline. A
    failure or a run over :data:`TIMEOUT_S` raises ``error`` naming ``what``."""
    module, func = entry.__module__, entry.__name__
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    code = f"from roofline.measure.fresh import die_with_parent; die_with_parent({os.getpid()}); " \
           f"from {module} import {func}; {func}()"
    try:
        r = subprocess.run([sys.executable, "-c", code, json.dumps(dataclasses.asdict(job))],
                           capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        raise error(f"{what} in a fresh process took over {TIMEOUT_S // 60} minutes") from None
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["no message"])[-1]
        raise error(f"{what} in a fresh process failed: {last}")
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise error(f"{what} in a fresh process printed no result") from None


def read_job(cls: type[Job]) -> Job:
    """In a fresh process: the job of dataclass ``cls`` that :func:`run_fresh` sent it."""
    return cls(**json.loads(sys.argv[1]))


def minor_faults() -> int:
    """Minor page faults of this process so far (memory fresh from the OS); 0 where unknown."""
    try:
        import resource
    except ImportError:  # not on Windows
        return 0
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)


@dataclasses.dataclass(frozen=True)
class GraphJob:
    """One graph file to time in a fresh process, under ONNX Runtime (:func:`roofline.measure.onnx_runtime.
    time_ort_child`) or LiteRT (:func:`roofline.measure.litert_runtime.time_litert_child`), or to profile per node."""

    path: str
    shapes: list  # each input's pinned shape, in the graph's input order
    runs: int
    threads: int
    warmup: int = 3


def time_runs(run: Callable[[], object], job: GraphJob) -> dict[str, Any]:
    """In a fresh timing process: ``job.warmup`` untimed calls of ``run``, ``job.runs`` timed ones, the minor page
    faults per timed call, then the machine's reference matmul at ``job.threads`` threads: {"times", "faults",
    "reference"}."""
    import time

    import torch

    from .peaks import reference_rate

    torch.set_num_threads(int(job.threads))  # the reference matmul's threads
    for _ in range(job.warmup):
        run()
    f0 = minor_faults()
    times = []
    for _ in range(job.runs):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return {"times": times, "faults": (minor_faults() - f0) / job.runs, "reference": reference_rate()}
