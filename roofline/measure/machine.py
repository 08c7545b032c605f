"""The machine a profile is measured on: device checks, facts (CPU, caches, threads, versions),
torch dtypes, and true fp32 on CUDA."""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from pathlib import Path

import torch

from ..core.clock import today
from ..core.errors import RooflineError

TORCH_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "int8": torch.int8}


def llc_bytes() -> int | None:
    sizes = []
    for idx in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            text = (idx / "size").read_text().strip()
        except OSError:
            continue
        mult = {"K": 1024, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
        try:
            sizes.append(int(text.rstrip("KMG")) * mult)
        except ValueError:
            pass
    return max(sizes) if sizes else None


def machine_facts(device: str, threads: int) -> dict[str, object]:
    """CPU model, cores, threads used, caches, GPU name, torch version, date."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    facts: dict[str, object] = {"cpu": cpu, "logical_cpus": os.cpu_count() or 0, "threads_used": threads,
                                "torch": str(torch.__version__), "python": platform.python_version(),
                                "os": platform.platform(), "date": today()}
    llc = llc_bytes()
    if llc:
        facts["last_level_cache_bytes"] = llc
    if device == "cuda":
        facts["gpu"] = torch.cuda.get_device_name(0)
        facts["gpu_memory_bytes"] = int(torch.cuda.get_device_properties(0).total_memory)
    return facts


def check_device(device: str) -> None:
    if device not in ("cpu", "cuda"):
        raise RooflineError(f"device must be cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise RooflineError("--device cuda: no CUDA GPU is available on this machine (torch "
                            f"{torch.__version__}, cuda {torch.version.cuda or 'not built'})")


@contextlib.contextmanager
def true_fp32(device: str) -> Iterator[None]:
    """On CUDA, fp32 matmuls and convs may run as TF32 on tensor cores: switch that off while
    measuring fp32, so the fp32 peak is fp32's."""
    if device != "cuda":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` CPU threads (torch's count when None), restoring the count after."""
    if threads is None:
        yield
        return
    from ..core import checks

    saved = torch.get_num_threads()
    torch.set_num_threads(checks.threads(threads))
    try:
        yield
    finally:
        torch.set_num_threads(saved)
