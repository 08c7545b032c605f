"""How hard ``roofline profile`` measures: matrix size, conv size, bandwidth buffer, trials."""

from __future__ import annotations

from dataclasses import dataclass

CPU_BUFFER_CAP = 96 << 20  # bytes per bandwidth buffer on a CPU


@dataclass
class Budget:
    """How hard to measure: matrix size, conv size, bandwidth buffer, trials."""

    matmul_n: int
    conv_hw: int
    buffer_bytes: int
    trials: int
    warmup: int = 2

    @classmethod
    def for_mode(cls, quick: bool, llc_bytes: int | None, device: str) -> Budget:
        big = max(4 * (llc_bytes or 32 << 20), 64 << 20)
        if device == "cuda":
            return cls(8192 if not quick else 4096, 112, 1 << 30 if not quick else 256 << 20, 20 if not quick else 5)
        # three buffers of at most CPU_BUFFER_CAP keep the run within 1 GB of memory. VMs report the
        # host's whole L3 (272 MB here) though one core complex holds far less: on this 2-core VM,
        # triad over 3 x 96 MiB gave 29-30 GB/s, over 3 x 1 GiB 28.3 GB/s
        if quick:
            return cls(1024, 28, min(max(2 * (llc_bytes or 16 << 20), 32 << 20), CPU_BUFFER_CAP), 3, 1)
        return cls(2048, 56, min(big, CPU_BUFFER_CAP), 7)
