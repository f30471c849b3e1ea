#!/usr/bin/env bash
# Set up and run the main job end to end on the embedded synthetic data (no download):
# build the TFRecord shards, then stream augmented batches through the tf.data pipeline.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh requirements.txt
py=.venv/bin/python
echo "== 1/2 build the synthetic dataset (tf_records/demo)"
$py -m autotune_keras.dataset --source synthetic --out tf_records/demo
echo "== 2/2 stream augmented batches through the pipeline"
$py tools/bench_pipeline.py --records tf_records/demo --batches 20
