#!/usr/bin/env bash
# Issue 27's ONNX Runtime acceptance: twelve models from other families than the profile's probes, given
# random weights (benchmarks/check_onnx_counts.py's randomize: the exporter merges initializers of equal value,
# which untrained models are full of) and exported to ONNX files (torch.onnx.export, opset 17, eval mode,
# fixed 1x3xRxR input), a fresh
# `roofline profile --runtime onnxruntime` (twice, to show run-to-run spread), then `roofline validate` of
# the ONNX files under ONNX Runtime, at the default thread count and at --threads 1.
# Writes reports/validation-onnxruntime/threads-N/ (the ONNX files are not kept: up to 87 MB each).
# Usage: bash benchmarks/ort_validate.sh [output folder, default reports/validation-onnxruntime]
set -euo pipefail
out="$(realpath -m "${1:-reports/validation-onnxruntime}")"
models=$(grep -v "^#" "$(dirname "$0")/validate_models.txt")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/onnx"
# shellcheck disable=SC2086
python - "$tmp/onnx" $models <<'PY'
import sys, warnings
from pathlib import Path

from roofline.measure.onnx_runtime import export_onnx
from roofline.zoo import build_model, model_card

sys.path.insert(0, "benchmarks")
from check_onnx_counts import randomize  # noqa: E402

warnings.simplefilter("ignore")
folder = Path(sys.argv[1])
for name in sys.argv[2:]:
    r = model_card(name).resolution
    export_onnx(randomize(build_model(name)), (1, 3, r, r), folder, name.replace(":", "-"))
    print(f"exported {name} at {r} px")
PY
here="$(cd "$(dirname "$0")" && pwd)"
cd "$tmp/onnx"  # the report names each model by its file name
bash "$here/profile_validate.sh" "$out" onnxruntime *.onnx
