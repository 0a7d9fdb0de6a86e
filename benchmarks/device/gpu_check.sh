#!/usr/bin/env bash
# The GPU check, one prepared run on a CUDA machine: GPU tests, the TorToiSe pipeline benchmark
# (evalkit vs the tortoise-tts reference) and the scoring benchmark. Run from the checkout's root,
# with .whl/ made by benchmarks/device/fetch_wheels.sh (see docs/development.md):
#   bash benchmarks/device/gpu_check.sh
# Everything it prints is also written under $OUT.
# REHEARSE=1 runs the same steps on the CPU with tiny models (same wheel install, same imports):
# run it first in a Python 3.12 venv with the CUDA machine's torch, so that a missing wheel shows
# up there and not on the GPU machine.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-check}
SITE=${SITE:-/tmp/site}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl || exit 1
export PYTHONPATH=$SITE:. HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
if [ "${REHEARSE:-0}" = 1 ]; then
  device=(--device cpu) bench=(--device cpu --size tiny --max-mel-tokens 10)
else
  device=(--device cuda) bench=(--device cuda)
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
fi
# Step limits add up to 570 s (under ten minutes); most important first, and
# every log is under $OUT as it is written, so a cut run still brings back what it measured.
step() {  # step NAME TIMEOUT_S CMD...: run, log to $OUT/NAME.log, never stop the script
  local name=$1 limit=$2; shift 2
  echo "=== $name"
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log" | tail -40
  echo "=== $name: exit ${PIPESTATUS[0]}"
}
step gpu-tests 110 python3 -m pytest -q -m gpu -p no:cacheprovider tests/tortoise
step bench-tortoise 190 python3 benchmarks/bench_tortoise.py "${bench[@]}" --presets ultra_fast,fast,standard
step bench-tortoise-reference 170 python3 benchmarks/bench_tortoise.py "${bench[@]}" --presets ultra_fast --reference
step bench-score 100 python3 benchmarks/bench_score.py "${device[@]}" --quick
