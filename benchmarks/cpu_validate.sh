#!/usr/bin/env bash
# The CPU acceptance of issue 16: on a quiet machine, a fresh `roofline profile` (twice, to show
# run-to-run spread) and `roofline validate` of twelve models from other families than the profile's
# probes, at the default thread count and at --threads 1. Writes reports/validation-cpu/threads-N/.
# Usage: bash benchmarks/cpu_validate.sh [output folder, default reports/validation-cpu]
set -euo pipefail
out="${1:-reports/validation-cpu}"
models=$(grep -v "^#" "$(dirname "$0")/validate_models.txt")
# shellcheck disable=SC2086
bash "$(dirname "$0")/profile_validate.sh" "$out" torch $models
