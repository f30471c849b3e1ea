"""Running exported models as an engine does: runners for TFLite / ONNX / SavedModel, the one
streaming loop, facts about export folders, and latency / budget measurement."""
