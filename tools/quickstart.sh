#!/usr/bin/env bash
# Set up and run the main job end to end on the embedded synthetic data (no download):
# dataset -> training (float + QAT) -> export with parity checks -> detect -> benchmark.
# Trains into runs/quickstart and exports to saved_models/quickstart (the shipped default in
# saved_models/pitch_detector is left alone).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh requirements.txt
py=.venv/bin/python
echo "== 1/5 build the synthetic dataset and train the pitch detector (resumes if interrupted)"
$py -m autotune_keras.train --config configs/pitch_detector.yaml --run_dir runs/quickstart
echo "== 2/5 export: SavedModel, float/INT8 TFLite, ONNX, C++ header, parity report"
$py -m autotune_keras.export --checkpoint runs/quickstart --out saved_models/quickstart --overwrite
echo "== 3/5 detect the pitch of a test phrase"
mkdir -p runs/quickstart/demo
$py - <<'PY'
from autotune_keras.audio import write_audio
from autotune_keras.config import SyntheticConfig
from autotune_keras.data.synth import synthesize_phrase
write_audio("runs/quickstart/demo/phrase.wav", synthesize_phrase(10_000, SyntheticConfig(phrase_seconds=6.0)).audio)
PY
$py -m autotune_keras.detect runs/quickstart/demo/phrase.wav --model saved_models/quickstart --plot
head -5 runs/quickstart/demo/phrase.f0.csv
echo "== 4/5 latency of the INT8 model, one thread"
$py -m autotune_keras.benchmark --model saved_models/quickstart/pitch_detector_int8.tflite
echo "== 5/5 done: runs/quickstart (tensorboard --logdir runs/quickstart/logs), saved_models/quickstart"
