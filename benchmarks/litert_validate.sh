#!/usr/bin/env bash
# Issue 27's LiteRT acceptance: int8 TFLite files of nine Keras architectures (benchmarks/make_int8_tflite.py,
# which needs TensorFlow in an environment of its own: the files are not kept, 3-26 MB each), a fresh
# `roofline profile --runtime litert --dtype int8` (twice, to show run-to-run spread), then `roofline validate`
# of the files under LiteRT (XNNPACK), at the default thread count and at --threads 1.
# Writes reports/validation-litert-int8/threads-N/.
# With --fp32 first: the float files (make_int8_tflite.py --fp32) and a fresh `--dtype fp32` profile instead, into
# reports/validation-litert-fp32.
# Usage: bash benchmarks/litert_validate.sh [--fp32] MODEL_FOLDER [output folder, default reports/validation-litert-DTYPE]
set -euo pipefail
dtype=int8
if [ "${1:-}" = "--fp32" ]; then dtype=fp32; shift; fi
models="$(realpath "$1")"
out="$(realpath -m "${2:-reports/validation-litert-$dtype}")"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$models"  # the report names each model by its file name
PROFILE_ARGS="--dtype $dtype" bash "$here/profile_validate.sh" "$out" litert *.tflite
