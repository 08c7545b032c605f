"""Does a measured CPU profile hold every run? (issue 30, item 6)

Runs ROUNDS fresh rounds at each thread count (1 and torch's default): each round a fresh
`roofline profile --threads N` (its own process, its own probes), then `roofline validate` of twelve
models of other families than the profile's probes (the list of benchmarks/cpu_validate.sh), read
calibrated with eager execution, each model timed in fresh processes. Prints one line per round:
median and worst |predicted / measured - 1| over the models, Spearman of predicted vs measured
(and MAC count's), and the profile's self-check error; then per thread count the spread of the
medians. Targets (issue 30): every median <= 15 %, worst <= 35 %, Spearman >= 0.9.

Needs a quiet machine: about 6-10 minutes per round on 2 cores (10 rounds: 1-1.5 hours).
Run: python benchmarks/bench_profile_rounds.py [--rounds 5] [--threads 1,2] [--smoke]
(--smoke: profile --quick and three models, to check the script itself, not the targets.)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

MODELS = ["mnv1", "mnv4-conv-m", "timm:resnet34", "timm:efficientnet_b1", "timm:convnext_femto",
          "timm:deit_tiny_patch16_224", "timm:regnety_004", "timm:mobilevitv2_050", "timm:repvit_m1",
          "timm:fastvit_t8", "timm:edgenext_xx_small", "torchvision:mnasnet1_0"]
CLI = [sys.executable, "-m", "roofline.cli"]


def one_round(folder: Path, threads: int, smoke: bool) -> dict:
    prof = folder / "profile.yaml"
    subprocess.run(CLI + ["profile", "--threads", str(threads), "-o", str(prof)] + (["--quick"] if smoke else []),
                   check=True, stdout=subprocess.DEVNULL)
    models = MODELS[:3] if smoke else MODELS
    subprocess.run(CLI + ["validate", *models, "--hw", str(prof), "--calibrated", "--threads", str(threads),
                          "--runs", "5" if smoke else "20", "-o", str(folder / "report")],
                   check=True, stdout=subprocess.DEVNULL)
    doc = json.loads((folder / "report" / "validation.json").read_text())
    errors = [abs(m["error"]) for m in doc["models"]]
    machine = yaml.safe_load(prof.read_text()).get("machine", {})
    return {"median": doc["summary"]["median_abs_error"], "worst": max(errors),
            "spearman": doc["summary"]["spearman_models"], "spearman_macs": doc["summary"]["spearman_macs"],
            "self_check": machine.get("self_check_error")}


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", default=f"1,{torch.get_num_threads()}")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    counts = [int(t) for t in args.threads.split(",")]
    print(f"{'threads':>7s}{'round':>6s}{'median':>8s}{'worst':>7s}{'r_s':>7s}{'MACs r_s':>9s}{'self-check':>11s}")
    failed = 0
    for threads in counts:
        medians = []
        for r in range(1, args.rounds + 1):
            with tempfile.TemporaryDirectory() as tmp:
                s = one_round(Path(tmp), threads, args.smoke)
            ok = s["median"] <= 0.15 and s["worst"] <= 0.35 and s["spearman"] >= 0.9
            failed += not ok
            medians.append(s["median"])
            check = "" if s["self_check"] is None else f"{s['self_check']:+.1%}"
            print(f"{threads:7d}{r:6d}{s['median']:8.1%}{s['worst']:7.0%}{s['spearman']:7.3f}"
                  f"{s['spearman_macs']:9.3f}{check:>11s}  {'pass' if ok else 'FAIL'}", flush=True)
        print(f"  threads {threads}: medians {min(medians):.1%}-{max(medians):.1%} over {len(medians)} rounds")
    total = len(counts) * args.rounds
    print(f"{total - failed} of {total} rounds meet median <= 15 %, worst <= 35 %, Spearman >= 0.9")


if __name__ == "__main__":
    main()
