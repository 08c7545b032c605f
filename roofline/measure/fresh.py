"""Run a timing job in a Python process of its own, as a user's process runs one model.

Eager PyTorch on CPU allocates each activation from the C allocator, and what that costs
depends on the process's history: glibc raises its mmap and trim thresholds after large
frees, so a model run after bigger ones page-faults less than it does alone (on a 2-core
Xeon VM, ConvNeXt-femto took 13.8 ms after eleven other models in one process and
15.2-17.4 ms in fresh ones, with 1,700-3,200 minor page faults per inference). Timing
in fresh processes measures what a deployment sees, whatever ran before in the caller.

Which of those states a fresh process settles in also varies from process to process (the same
network faulted 9.3 % or 18.5 % of its activation bytes), and no count of a model's layers predicts
it. So a PyTorch timing process first makes glibc keep what it frees (:func:`hold_memory`), as a
serving process tuned for steady latency does (or a runtime's memory arena: ONNX Runtime's, LiteRT's):
each inference then reuses the memory of the one before, with no page faults, and a model's time is
its layers' (on a 2-core Xeon VM at one thread, MobileNetV2 took 16.9-17.3 ms with glibc's defaults,
22-28 MB faulted per inference, and 11.5-11.8 ms with memory held, none).
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

# mallopt(3) parameters and what hold_memory sets them to: glibc returns a free chunk at the top of the heap to the
# OS once it exceeds the trim threshold, and serves a request above the mmap threshold with a mapping of its own
# that it unmaps when freed. 32 MiB is the largest mmap threshold every glibc accepts.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
HOLD_TRIM_BYTES, HOLD_MMAP_BYTES = 1 << 30, 32 << 20

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


def can_hold_memory() -> bool:
    """Whether :func:`hold_memory` can work here: glibc (Linux), whose ``mallopt`` sets these thresholds."""
    import platform

    return sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def hold_memory() -> bool:
    """Make this process's C allocator keep the memory it frees (glibc: trim threshold 1 GiB, mmap threshold
    32 MiB, which also stops glibc moving them after large frees), so that a tensor of up to 32 MiB freed by one
    inference is reused by the next instead of being returned to the OS and page-faulted in again. Called first
    in a timing process; it changes the process for good, so never in the caller's. Returns whether both took."""
    if not can_hold_memory():
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_TRIM_THRESHOLD, HOLD_TRIM_BYTES)) and bool(mallopt(M_MMAP_THRESHOLD, HOLD_MMAP_BYTES))


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
