#!/usr/bin/env bash
# The GPU check, as one prepared script for a CUDA machine: GPU tests, the TorToiSe pipeline per preset
# against tortoise-tts 3.0.0 in the same process, the scorers, and one real run through the harness; then
# every figure assembled into one results file (benchmarks/device/collect_results.py).
#
#   bash benchmarks/device/fetch_wheels.sh          # on a machine with PyPI: the wheels the CUDA machine lacks
#   bash benchmarks/device/gpu_check.sh             # on the CUDA machine, from the repository root
#   PARTS=tortoise bash benchmarks/device/gpu_check.sh   # or in two calls of under 10 minutes each:
#   PARTS=score bash benchmarks/device/gpu_check.sh      # "tortoise" (~7 min), then "score" (~4 min)
#
# The CUDA machine needs Python 3.12 with torch + torchaudio (CUDA), numpy, scipy, transformers, tiktoken,
# einops, numba (benchmarks/device/image-packages.txt lists what it is assumed to have) and the wheels in
# .whl/. Everything is logged and written under $OUT (default /tmp/gpu-check); the results file is
# $OUT/results.json, to be committed as benchmarks/results/<yyyy-mm-dd>-<gpu>.json.
#
# REHEARSE=1 runs the same steps on the CPU with tiny models and few codes (same wheel install, same
# imports, same files written): run it first, in a Python 3.12 venv with the CUDA machine's torch, so that no
# GPU minute is lost on a missing wheel (docs/development.md).
set -uo pipefail
OUT=${OUT:-/tmp/gpu-check}
SITE=${SITE:-/tmp/site}
PARTS=${PARTS:-tortoise,score}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl || exit 1
export PYTHONPATH=$SITE:. HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 EVALKIT_CACHE=$OUT/cache EVALKIT_WEIGHTS=$OUT/weights
if [ "${REHEARSE:-0}" = 1 ]; then
  device=cpu bench=(--device cpu --size tiny --max-mel-tokens 10) score=(--clips 4 --seconds 4 --tokens 8)
  whisper_size=tiny.en
  harness=(--option size=tiny --option max_mel_tokens=10 --limit 2)
else
  device=cuda bench=(--device cuda) score=() whisper_size=large-v3
  harness=()
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
fi
python3 - "$OUT/env.json" "${REHEARSE:-0}" <<'PY'
import datetime, json, subprocess, sys, torch
cuda = torch.cuda.is_available()
sha = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip() or None
json.dump({"git_commit": sha, "gpu": torch.cuda.get_device_name() if cuda else "cpu (rehearsal)",
           "torch": torch.__version__, "cuda": torch.version.cuda, "rehearsal": sys.argv[2] == "1",
           "date": datetime.date.today().isoformat()}, open(sys.argv[1], "w"), indent=1)
PY
# Each part's step limits add up to under 600 s; most important first, and every log and JSON is under
# $OUT as soon as it is written, so a cut run still brings back what it measured.
step() {  # step NAME TIMEOUT_S CMD...: run, log to $OUT/NAME.log, never stop the script
  local name=$1 limit=$2; shift 2
  echo "=== $name"
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log" | tail -40
  echo "=== $name: exit ${PIPESTATUS[0]}"
}
if [[ ,$PARTS, == *,tortoise,* ]]; then
  step gpu-tests 100 python3 -m pytest -q -m gpu -p no:cacheprovider tests/tortoise
  # ultra_fast and fast beside tortoise-tts 3.0.0's own tts() in the same process, then standard alone
  step tortoise-reference 270 python3 benchmarks/bench_tortoise.py "${bench[@]}" --presets ultra_fast,fast \
    --reference ultra_fast,fast --json-out "$OUT/tortoise-reference.json"
  step tortoise-standard 100 python3 benchmarks/bench_tortoise.py "${bench[@]}" --presets standard \
    --json-out "$OUT/tortoise-standard.json"
fi
if [[ ,$PARTS, == *,score,* ]]; then
  step bench-score 120 python3 benchmarks/bench_score.py --device "$device" --quick "${score[@]}" --json-out "$OUT/score.json"
  # The harness end to end: official-size TorToiSe on random weights, Whisper large-v3 and ECAPA at their
  # official sizes on random weights (no hub here), on the GPU: runner, per-stage RTF, peak memory, warm-up.
  scorers=$(python3 benchmarks/device/random_scorers.py /tmp/random-scorers --size "$whisper_size" | tail -1)
  # shellcheck disable=SC2086 # two "--metric-option KEY=PATH" pairs
  step harness 240 python3 -m evalkit run --suite smoke --system tortoise --device "$device" --seed 0 \
    --option random_weights=true --metrics wer,sim,rtf,clvp,stops $scorers --out "$OUT/harness" "${harness[@]}"
fi
python3 benchmarks/device/collect_results.py "$OUT" --out "$OUT/results.json" --markdown | tee "$OUT/results.md"
