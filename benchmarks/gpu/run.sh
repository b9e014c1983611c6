#!/usr/bin/env bash
# The GPU benchmark of issue #21 in one command, for a bare H100/H200 (about 6-8 minutes at the default size).
#
#   benchmarks/gpu/run.sh                     # 14B random-weight transformer, 832x480, 81 frames, bf16
#   PRESET=tiny SIZE=64x64 FRAMES=17 benchmarks/gpu/run.sh   # the CPU dry run: same code path
#
# diffusers and its one missing dependency travel as wheels in the git-ignored .whl/ (docs/benchmarks.md says
# how to fetch them); the project itself runs from src/. Writes $OUT/gpu_bench.json ($OUT defaults to outputs/).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-outputs}"
mkdir -p "$OUT"
PYTHON="${PYTHON:-python3}"
if compgen -G ".whl/*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONPATH="$PWD/src:${PYTHONPATH:-}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
"$PYTHON" benchmarks/gpu/bench_gpu.py --preset "${PRESET:-wan2.1-i2v-14b}" --size "${SIZE:-832x480}" \
    --frames "${FRAMES:-81}" --budget-s "${BUDGET_S:-480}" --out "$OUT/gpu_bench.json" "$@"
