"""Count 40+ timm and torchvision models: roofline.trace against torch's FlopCounterMode on meta and
fvcore, in the same run.

For each model (built once on the meta device, reparameterized, at its default
resolution) it checks that traced MACs equal FlopCounterMode's (2 flops per MAC;
the math SDPA backend, weight-only subgraphs counted apart as ``folded_macs``),
lists models with unsupported ops, and times counting only:
- roofline.trace on the meta model;
- FlopCounterMode running the same meta model;
- fvcore's FlopCountAnalysis on the model built on the CPU with a real input
  (``--no-fvcore`` skips it; it needs real weights and takes minutes).
Run: python benchmarks/bench_trace_timm.py [--repeat N] [--no-fvcore] (needs the timm and torchvision
extras)
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

import roofline
from roofline.zoo import build_model

MODELS = [
    # CNNs
    "resnet18", "resnet50", "mobilenetv2_100", "mobilenetv3_large_100", "mobilenetv4_conv_small",
    "mobilenetv4_conv_medium", "efficientnet_b0", "efficientnet_lite0", "regnety_016", "convnext_tiny",
    "convnext_small", "ghostnet_100", "mnasnet_100", "densenet121", "repvgg_a2", "mobileone_s0",
    "mobileone_s4", "rexnet_100", "lcnet_100", "tinynet_a",
    # ViTs and hybrids
    "vit_tiny_patch16_224", "vit_small_patch16_224", "deit_small_patch16_224", "levit_128", "fastvit_t8",
    "fastvit_s12", "fastvit_sa12", "efficientvit_b1.r224_in1k", "efficientvit_b2.r256_in1k",
    "mobilevit_s", "mobilevitv2_100", "nextvit_small", "coat_lite_tiny", "poolformer_s12",
    "mobilenetv4_hybrid_medium",
]
TORCHVISION = ["resnet18", "mobilenet_v3_small", "efficientnet_v2_s", "regnet_y_400mf", "convnext_tiny",
               "vit_b_16", "swin_t", "maxvit_t", "inception_v3", "shufflenet_v2_x1_0", "squeezenet1_1"]
NAMES = [f"timm:{n}" for n in MODELS] + [f"torchvision:{n}" for n in TORCHVISION]


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def flop_counter_macs(model: torch.nn.Module, shape: tuple[int, ...]) -> int:
    with FlopCounterMode(display=False) as fc, sdpa_kernel(SDPBackend.MATH):
        model(torch.empty(shape, device="meta"))
    return fc.get_total_flops() // 2


def fvcore_macs(name: str, shape: tuple[int, ...]) -> int:
    from fvcore.nn import FlopCountAnalysis

    real = build_model(name)
    fa = FlopCountAnalysis(real, torch.randn(shape))
    fa.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    return fa.total()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-fvcore", action="store_true")
    args = parser.parse_args()
    ours_t = theirs_t = fv_t = 0.0
    mismatches, unsupported = [], []
    for name in NAMES:
        model = build_model(name, device="meta")
        shape = (1, 3, *(roofline.model_card(name).resolution,) * 2)
        table = roofline.trace(model, shape)
        with sdpa_kernel(SDPBackend.MATH):
            ours = median_time(lambda: roofline.trace(model, shape), args.repeat)
        on_meta = model if all(p.is_meta for p in model.parameters()) else copy.deepcopy(model).to("meta")
        torch_macs = flop_counter_macs(on_meta, shape)
        theirs = median_time(lambda: flop_counter_macs(on_meta, shape), args.repeat)
        ours_t, theirs_t = ours_t + ours, theirs_t + theirs
        total = table.macs + table.folded_macs
        if total != torch_macs:
            mismatches.append(f"{name}: ours {total:,} vs FlopCounterMode {torch_macs:,}")
        if table.unsupported:
            unsupported.append(f"{name}: {', '.join(table.unsupported)}")
        line = (f"{name:38s} {shape[-1]:4d} px  {table.macs / 1e9:8.3f} GMACs  folded {table.folded_macs:>10,}  "
                f"ours {ours * 1e3:7.1f} ms  FlopCounterMode {theirs * 1e3:7.1f} ms")
        if not args.no_fvcore:
            t0 = time.perf_counter()
            fvcore_macs(name, shape)
            fv = time.perf_counter() - t0
            fv_t += fv
            line += f"  fvcore {fv * 1e3:7.0f} ms"
        print(line, flush=True)
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads; {len(NAMES)} models, counting "
          f"only (models prebuilt), median of {args.repeat} runs each")
    print(f"roofline.trace total {ours_t:.2f} s; FlopCounterMode on meta {theirs_t:.2f} s: "
          f"{theirs_t / ours_t:.1f}x" + (f"; fvcore (CPU model, one run) {fv_t:.1f} s: {fv_t / ours_t:.1f}x"
                                          if not args.no_fvcore else ""))
    print(f"MACs equal to FlopCounterMode's: {len(NAMES) - len(mismatches)} of {len(NAMES)}")
    for m in mismatches:
        print("  differs:", m)
    print(f"models with an unsupported op: {len(unsupported)} of {len(NAMES)}")
    for u in unsupported:
        print("  ", u)


if __name__ == "__main__":
    main()
