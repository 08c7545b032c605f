#!/usr/bin/env bash
# The loop the CPU, ONNX Runtime and LiteRT acceptances share: at the default thread count and at --threads 1,
# two fresh `roofline profile --runtime RUNTIME $PROFILE_ARGS` runs (to show run-to-run spread), then
# `roofline validate` of MODELS with the first, both profiles listed in the report, into OUT/threads-N/.
# Run from the folder the models are named from (a report names a model file as it was given).
# Usage: PROFILE_ARGS="--dtype int8" bash benchmarks/profile_validate.sh OUT RUNTIME MODELS...
set -euo pipefail
out="$(realpath -m "$1")"
runtime="$2"
shift 2
default=$(python -c "import torch; print(torch.get_num_threads())")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for threads in "$default" 1; do
  dir="$tmp/threads-$threads"
  mkdir -p "$dir"
  for run in 1 2; do
    # shellcheck disable=SC2086
    roofline profile --runtime "$runtime" ${PROFILE_ARGS:-} --threads "$threads" -o "$dir/profile-run$run.yaml" \
      > /dev/null
  done
  roofline validate "$@" --hw "$dir/profile-run1.yaml" --calibrated --threads "$threads" --runs 20 \
    --profile-run "$dir/profile-run1.yaml" --profile-run "$dir/profile-run2.yaml" -o "$dir/report" | tail -n 1
  cp "$dir/profile-run1.yaml" "$dir/profile-run2.yaml" "$dir/report/"
done
rm -rf "$out" && mkdir -p "$out"
for threads in "$default" 1; do mv "$tmp/threads-$threads/report" "$out/threads-$threads"; done
echo "wrote $out"
