#!/usr/bin/env bash
# One prepared GPU check (issue 9): profile the GPU, then validate the zoo at fp16 with CUDA-graph
# replay at batch 1 and batch 256. Results under $OUT (a tarball + logs). Runs the checkout in place.
# Usage on the device machine: OUT=/some/dir bash benchmarks/gpu_validate.sh [cpu]
# The CUDA validations time every model in this process (--processes 0, as reports/validation-h200 was
# made): a fresh process per model would start CUDA nine times per run, past the device's time budget.
set -uo pipefail
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
OUT="${OUT:-/tmp/gpu-out}"
mkdir -p "$OUT/reports"
dev="${1:-cuda}"
gpu=$(python3 -c "import torch; print(torch.cuda.get_device_name(0).split()[1].lower() if torch.cuda.is_available() else 'cpu')" 2>/dev/null)
name="${gpu:-gpu}"
if [ "$dev" = cuda ]; then
  timeout 170 python3 -m roofline.cli profile --device cuda --dtype fp16,fp32 --batch 1,256 --name "local-$name" \
    -o "$OUT/reports/profile-$name.yaml" > "$OUT/profile.log" 2>&1; echo "profile rc $?" >> "$OUT/status.txt"
  timeout 150 python3 -m roofline.cli validate --models zoo --hw "$OUT/reports/profile-$name.yaml" --device cuda --dtype fp16 \
    --channels-last --exec graph --batch 1 --calibrated --runs 20 --processes 0 -o "$OUT/reports/validation-$name-b1" \
    > "$OUT/validate-b1.log" 2>&1; echo "validate b1 rc $?" >> "$OUT/status.txt"
  timeout 160 python3 -m roofline.cli validate --models zoo --hw "$OUT/reports/profile-$name.yaml" --device cuda --dtype fp16 \
    --channels-last --exec graph --batch 256 --calibrated --runs 10 --processes 0 -o "$OUT/reports/validation-$name-b256" \
    > "$OUT/validate-b256.log" 2>&1; echo "validate b256 rc $?" >> "$OUT/status.txt"
  timeout 120 python3 -m roofline.cli validate --models zoo --hw "$OUT/reports/profile-$name.yaml" --device cuda --dtype fp16 \
    --channels-last --exec eager --batch 1 --calibrated --runs 20 --processes 0 -o "$OUT/reports/validation-$name-b1-eager" \
    > "$OUT/validate-b1-eager.log" 2>&1; echo "validate b1 eager rc $?" >> "$OUT/status.txt"
else  # the CPU path of this script, to check it before spending device time
  timeout 120 python3 -m roofline.cli profile --quick -o "$OUT/reports/profile-cpu.yaml" > "$OUT/profile.log" 2>&1
  echo "profile rc $?" >> "$OUT/status.txt"
  timeout 120 python3 -m roofline.cli validate mnv3-s mnv4-conv-s --hw "$OUT/reports/profile-cpu.yaml" --calibrated --runs 3 \
    -o "$OUT/reports/validation-cpu-b1" > "$OUT/validate-b1.log" 2>&1; echo "validate b1 rc $?" >> "$OUT/status.txt"
fi
tar -czf "$OUT/reports.tar.gz" -C "$OUT" reports && rm -rf "$OUT/reports"
cat "$OUT/status.txt"
