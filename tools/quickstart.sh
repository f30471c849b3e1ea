#!/usr/bin/env bash
# Set up and run the main job end to end on the embedded synthetic data (no download):
# dataset -> training (float + QAT) -> export with parity checks -> detect -> evaluate -> benchmark
# -> corrector training -> export -> correct -> compare with the DSP baseline -> retime with the
# shipped timing model and the slicing baseline.
# Trains into runs/quickstart and exports to saved_models/quickstart (the shipped default in
# saved_models/pitch_detector is left alone).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh requirements.txt
py=.venv/bin/python
# the real-timbre datasets need FluidSynth, the soundfonts and festival (tools/setup.sh installs them as root)
data=()
missing_bank=$($py -c "from pathlib import Path; from autotune_keras.data import gm; print(*[b for b in gm.DEFAULT_TRAINING_BANKS if not Path(b).is_file()])")
if ! $py -c "import fluidsynth" >/dev/null 2>&1 || ! command -v text2wave >/dev/null 2>&1 || [ -n "$missing_bank" ]; then
  echo "note: FluidSynth, the soundfonts or festival are missing: training on the synthetic data only"
  data=(--pipeline.mix= --pipeline.mix_weights=)
fi
echo "== 1/8 build the datasets (synthetic, soundfont instruments, sung voices) and train the pitch detector (resumes if interrupted)"
$py -m autotune_keras.train --config configs/pitch_detector.yaml --run_dir runs/quickstart "${data[@]}"
echo "== 2/8 export: SavedModel, float/INT8 TFLite, ONNX, C++ header, parity report"
$py -m autotune_keras.export --checkpoint runs/quickstart --out saved_models/quickstart --overwrite
echo "== 3/8 detect the pitch of a test phrase"
mkdir -p runs/quickstart/demo
$py - <<'PY'
from autotune_keras.audio import write_audio
from autotune_keras.config import SyntheticConfig
from autotune_keras.data.synth import synthesize_phrase
write_audio("runs/quickstart/demo/phrase.wav", synthesize_phrase(10_000, SyntheticConfig(phrase_seconds=6.0)).audio)
PY
$py -m autotune_keras.detect runs/quickstart/demo/phrase.wav --model saved_models/quickstart --plot --overwrite
head -5 runs/quickstart/demo/phrase.f0.csv
echo "== 4/8 evaluation report on the test split with noise at 20 dB SNR"
$py -m autotune_keras.evaluate --model saved_models/quickstart --snr_db 20 --out runs/quickstart/evaluation
echo "== 5/8 latency of the INT8 model, one thread, and the real-time budget check"
$py -m autotune_keras.benchmark --model saved_models/quickstart/pitch_detector_int8.tflite
$py -m autotune_keras.realtime --model saved_models/quickstart/pitch_detector_int8.tflite --seconds 20
litert-benchmark() { .venv/bin/litert-benchmark "$@"; }
litert-benchmark --model saved_models/quickstart/pitch_detector_int8.tflite --num_threads 1 --num_runs 1000
echo "== 6/8 the pitch corrector (the detector guiding a resampling core): train, export, correct the phrase, report"
$py -m autotune_keras.train --config configs/pitch_corrector.yaml --detector_run runs/quickstart --run_dir runs/quickstart_corrector --epochs 4 "${data[@]}"
$py -m autotune_keras.export --checkpoint runs/quickstart_corrector --model pitch_corrector --out saved_models/quickstart_corrector --overwrite
$py -m autotune_keras.correct runs/quickstart/demo/phrase.wav runs/quickstart/demo/phrase.corrected.wav --key C --scale MAJOR --model saved_models/quickstart_corrector --overwrite
$py -m autotune_keras.evaluate --model saved_models/quickstart_corrector --compare baseline --limit 4 --out runs/quickstart/evaluation_corrector
echo "== 7/8 move the phrase's notes onto a 1/16 grid with the shipped timing model, then with classical slicing"
$py -m autotune_keras.retime runs/quickstart/demo/phrase.wav runs/quickstart/demo/phrase.retimed.wav --tempo 120 --grid 1/16 --overwrite
$py -m autotune_keras.retime runs/quickstart/demo/phrase.wav runs/quickstart/demo/phrase.sliced.wav --tempo 120 --grid 1/16 --baseline --overwrite
echo "== 8/8 done: runs/quickstart* (tensorboard --logdir runs), saved_models/quickstart*,"
echo "   runs/quickstart/evaluation/report.md, runs/quickstart/evaluation_corrector/report.md"
