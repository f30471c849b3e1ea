"""Exporters: SavedModel, float and INT8 TFLite, ONNX, the C++ header, and parity checks."""
