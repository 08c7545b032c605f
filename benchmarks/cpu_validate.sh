#!/usr/bin/env bash
# The CPU acceptance of issue 16: on a quiet machine, a fresh `roofline profile` (twice, to show
# run-to-run spread) and `roofline validate` of twelve models from other families than the profile's
# probes, at the default thread count and at --threads 1. Writes reports/validation-cpu/threads-N/.
# Usage: bash benchmarks/cpu_validate.sh [output folder, default reports/validation-cpu]
set -euo pipefail
out="${1:-reports/validation-cpu}"
models=$(grep -v "^#" "$(dirname "$0")/validate_models.txt")
default=$(python -c "import torch; print(torch.get_num_threads())")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for threads in "$default" 1; do
  dir="$tmp/threads-$threads"
  mkdir -p "$dir"
  for run in 1 2; do
    roofline profile --threads "$threads" -o "$dir/profile-run$run.yaml" > /dev/null
  done
  # shellcheck disable=SC2086
  roofline validate $models --hw "$dir/profile-run1.yaml" --calibrated --threads "$threads" --runs 20 \
    --profile-run "$dir/profile-run1.yaml" --profile-run "$dir/profile-run2.yaml" -o "$dir/report" | tail -n 1
  cp "$dir/profile-run1.yaml" "$dir/profile-run2.yaml" "$dir/report/"
done
rm -rf "$out" && mkdir -p "$out"
for threads in "$default" 1; do mv "$tmp/threads-$threads/report" "$out/threads-$threads"; done
echo "wrote $out"
