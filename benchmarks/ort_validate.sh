#!/usr/bin/env bash
# Issue 27's ONNX Runtime acceptance: twelve models from other families than the profile's probes, given
# random weights (benchmarks/check_onnx_counts.py's randomize: the exporter merges initializers of equal value,
# which untrained models are full of) and exported to ONNX files (torch.onnx.export, opset 17, eval mode,
# fixed 1x3xRxR input), a fresh
# `roofline profile --runtime onnxruntime` (twice, to show run-to-run spread), then `roofline validate` of
# the ONNX files under ONNX Runtime, at the default thread count and at --threads 1.
# Writes reports/validation-onnxruntime/threads-N/ (the ONNX files are not kept: up to 87 MB each).
# With --int8 first: each file quantized by roofline.measure.onnx_quantize (ONNX Runtime's static quantizer, QDQ,
# U8S8, per-channel) and a fresh `--dtype int8` profile instead, into reports/validation-onnxruntime-int8.
# Usage: bash benchmarks/ort_validate.sh [--int8] [output folder, default reports/validation-onnxruntime[-int8]]
set -euo pipefail
dtype=fp32
if [ "${1:-}" = "--int8" ]; then dtype=int8; shift; fi
suffix=$([ "$dtype" = int8 ] && echo "-int8" || true)
out="$(realpath -m "${1:-reports/validation-onnxruntime$suffix}")"
models=$(grep -v "^#" "$(dirname "$0")/validate_models.txt")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/onnx"
# shellcheck disable=SC2086
python - "$tmp/onnx" "$dtype" $models <<'PY'
import sys, warnings
from pathlib import Path

from roofline.measure.onnx_quantize import quantize_onnx
from roofline.measure.onnx_runtime import export_onnx
from roofline.zoo import build_model, model_card

sys.path.insert(0, "benchmarks")
from check_onnx_counts import randomize  # noqa: E402

warnings.simplefilter("ignore")
folder, dtype = Path(sys.argv[1]), sys.argv[2]
for name in sys.argv[3:]:
    r = model_card(name).resolution
    path = export_onnx(randomize(build_model(name)), (1, 3, r, r), folder, name.replace(":", "-"))
    if dtype == "int8":
        float_path = path.rename(folder / "float.onnx.tmp")
        quantize_onnx(float_path, path)
        float_path.unlink()
    print(f"exported {name} at {r} px" + (", quantized" if dtype == "int8" else ""))
PY
here="$(cd "$(dirname "$0")" && pwd)"
cd "$tmp/onnx"  # the report names each model by its file name
PROFILE_ARGS="--dtype $dtype" bash "$here/profile_validate.sh" "$out" onnxruntime *.onnx
