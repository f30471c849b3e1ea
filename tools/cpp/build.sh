#!/usr/bin/env bash
# Build the C++ harness against an exported model's header, with only what pip and the system
# compiler provide: the TensorFlow wheel's C API header and libtensorflow_cc.so.2.
#
#   tools/cpp/build.sh [EXPORT_DIR] [OUT_DIR]     (defaults: saved_models/pitch_detector build/cpp)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
EXPORT_DIR="$(cd "${1:-$ROOT/saved_models/pitch_detector}" && pwd)"
OUT_DIR="${2:-$ROOT/build/cpp}"
PYTHON="${PYTHON:-$( [ -x "$ROOT/.venv/bin/python" ] && echo "$ROOT/.venv/bin/python" || echo python3 )}"
CXX="${CXX:-g++}"
command -v "$CXX" >/dev/null || { echo "error: no C++ compiler ($CXX) on PATH" >&2; exit 1; }
NAME="$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["model"])' "$EXPORT_DIR/export_report.json")"
TF_DIR="$("$PYTHON" -c 'import importlib.util; print(importlib.util.find_spec("tensorflow").submodule_search_locations[0])')"
[ -f "$TF_DIR/include/tensorflow/c/c_api.h" ] || { echo "error: $TF_DIR has no include/tensorflow/c/c_api.h" >&2; exit 1; }
mkdir -p "$OUT_DIR"
"$CXX" -std=c++17 -O2 -Wall -Wextra -Werror \
  -DMODEL_HEADER="\"$EXPORT_DIR/$NAME.h\"" -DMODEL_NAMESPACE="$NAME" \
  -isystem "$TF_DIR/include" "$ROOT/tools/cpp/stream_savedmodel.cc" -o "$OUT_DIR/stream_savedmodel.tmp" \
  -L "$TF_DIR" -l:libtensorflow_cc.so.2 -l:libtensorflow_framework.so.2 -Wl,-rpath,"$TF_DIR"
mv "$OUT_DIR/stream_savedmodel.tmp" "$OUT_DIR/stream_savedmodel"
echo "$OUT_DIR/stream_savedmodel"
