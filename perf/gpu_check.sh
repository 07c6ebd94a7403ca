#!/usr/bin/env bash
# One command for a machine with a CUDA GPU (about 5 minutes on an H100/H200; at most 7):
#   1. the GPU tests: benchmark/tests/test_gpu.py (NR and PSCR runs, and one run of each
#      text-image kind, text and clipscore, on the tiny CLIP of the tests) and the training
#      library's CUDA test;
#   2. per backbone x model kind, the project's training step against a plain-PyTorch
#      ceiling of the same backbone (random input already on the device, bf16 +
#      channels_last, same batch), as a ratio;
#   3. an end-to-end run on the AGIQA-3K sample (NR and FR, resnet18 and resnet50), its
#      epoch time split into training and evaluation, and its ratio to the ceiling.
# Usage: perf/gpu_check.sh [extra perf/gpu_throughput.py flags, e.g. --batch-size 128]
# Env: PYTHON (default .venv/bin/python), AGIQA3K_SAMPLE (default ../shared/data/agiqa3k-sample
# or ./shared/data/agiqa3k-sample). Exits 2 at once, with a message, where CUDA is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check: no CUDA GPU here (torch.cuda.is_available() is False); nothing was run." >&2
    exit 2
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
"$PY" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)'

sample=${AGIQA3K_SAMPLE:-}
for candidate in ../shared/data/agiqa3k-sample shared/data/agiqa3k-sample; do
    if [ -z "$sample" ] && [ -f "$candidate/data.csv" ]; then sample=$candidate; fi
done

started=$SECONDS
echo "== GPU tests"
status=0
timeout 150 "$PY" -m pytest -q -p no:cacheprovider \
    benchmark/tests/test_gpu.py \
    "benchmark/training/tests/test_end_to_end.py::test_gpu_amp_channels_last" || status=$?
echo "== throughput against the plain-PyTorch ceiling (GPU tests took $((SECONDS - started)) s)"
if [ -n "$sample" ]; then
    timeout 330 "$PY" perf/gpu_throughput.py --data-dir "$sample" "$@" || status=$?
else
    echo "gpu_check: AGIQA-3K sample not found (set AGIQA3K_SAMPLE); end-to-end part skipped" >&2
    timeout 330 "$PY" perf/gpu_throughput.py --end-to-end "" "$@" || status=$?
fi
echo "== done in $((SECONDS - started)) s, exit status $status"
exit $status
