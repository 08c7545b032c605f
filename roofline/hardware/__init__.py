"""Hardware profiles: peak MAC throughput and memory bandwidth, with sources, from YAML.

A profile file (``hardware_profiles/<name>.yaml``)::

    name: pixel6-cpu
    kind: cpu                      # cpu | gpu | dsp | npu
    description: Pixel 6 CPU (one Cortex-X1 core)
    default_dtype: int8            # int8 | fp16 | bf16 | fp32
    peak_macs_per_s:               # per dtype; one MAC = two vendor "ops"
      int8: {value: 1.79e+11, source: "...", confidence: medium}
    mem_bw_bytes_per_s: {value: 5.12e+10, source: "...", confidence: medium}
    on_chip_bytes: {value: 4194304, source: "...", confidence: medium}      # optional
    fitted:                        # optional: a roofline fitted to measured latency
      dtype: int8
      ridge_point_macs_per_byte: 31.2
      mem_bw_bytes_per_s: 1.1e+10  # optional effective bandwidth calibrated with the fit
      source: "..."
      confidence: medium
    overhead:                      # optional: fixed costs outside Eq. 1 (seconds); zero when absent
      per_inference_s: {value: 5.0e-04, source: "...", confidence: measured}
      per_kernel_s:                # per execution mode: fused | eager | graph
        eager: {value: 3.0e-06, source: "...", confidence: measured,
                by_op: {dwconv2d: 6.0e-05}}    # optional per-op-class costs where they differ
      fresh_memory_s_per_byte:     # optional, eager only: page-faulting fresh memory, per byte, paid
        value: 6.6e-10             # once per inference for fresh_memory_share of all the layers'
        source: "..."              # activation bytes (without a share: the largest layer's)
      fresh_memory_share: {value: 0.085, source: "...", confidence: medium}     # optional, 0 to 1
    ceilings:                      # optional: measured per-op-class rates, per batch size
      - batch: 1
        macs_per_s: {conv2d: 8.2e+10, conv1x1: 7.3e+10, dwconv2d: 1.4e+10, fc: 1.0e+10}
        bytes_per_s: {elementwise: 5.0e+10}
        shape: {conv2d: {out_half: 3.2e+4, reduction_half: 40}}  # optional: rate(shape), see
        source: "..."                                               # roofline.engine.shape

``ceilings_macs_per_s: {op: MAC/s}`` (older profiles) reads as the batch-1 ceilings.

Files are read with ``yaml.safe_load`` only. Validation names the file and the
field of every problem.
"""

from .load import builtin_profiles, list_hardware, load_hardware
from .patterns import expand_hardware
from .model import (BYTES_PER_ELEMENT, CONFIDENCE, EXECUTIONS, KINDS, Ceilings, Figure, Fitted, HardwareProfile,
                    KernelCost, Overhead, Roof, ShapeTerms, Validation)
from .write import profile_to_yaml, validation_to_dict

__all__ = ["BYTES_PER_ELEMENT", "CONFIDENCE", "EXECUTIONS", "KINDS", "Ceilings", "Figure", "Fitted",
           "HardwareProfile", "KernelCost", "Overhead", "Roof", "ShapeTerms", "Validation", "builtin_profiles",
           "expand_hardware", "list_hardware", "load_hardware", "profile_to_yaml", "validation_to_dict"]
