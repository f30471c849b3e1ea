"""One way to load an exported model (TFLite, ONNX or SavedModel) and stream audio through it
buffer by buffer, carrying the state tensors exactly as an engine would."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from autotune_keras import contract

STATE_SUFFIX = "_out"  # a state input X comes back as output X_out
# Values for control inputs (neither audio nor state) when a tool streams without a score: a
# steady note at full strength, a mid tempo.
CONTROL_DEFAULTS = {
    contract.PitchCorrectorTensors.TARGET_PITCH: 220.0,
    contract.PitchCorrectorTensors.CORRECTION_STRENGTH: 1.0,
    contract.TimingTensors.TARGET_TEMPO: 120.0,
}
DEFAULT_FILE = "{name}_int8.tflite"
REPORT_FILE = "export_report.json"


class ModelLoadError(ValueError):
    """A model path cannot be loaded; the message names it."""


class TFLiteRunner:
    """LiteRT interpreter through its signature runner (tensor names are the contract's)."""

    def __init__(self, path: Path, threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter  # no TensorFlow import: fast start, small RSS

        self.path = path
        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.interpreter.allocate_tensors()
        signature = self.interpreter.get_signature_runner()
        inputs, outputs = signature.get_input_details(), signature.get_output_details()
        self.inputs = {name: tuple(int(d) for d in detail["shape"]) for name, detail in inputs.items()}
        self.outputs = list(outputs)
        # tensor indices resolved once: set_tensor / invoke / get_tensor is what an engine does
        self._input_index = {name: detail["index"] for name, detail in inputs.items()}
        self._output_index = {name: detail["index"] for name, detail in outputs.items()}

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for name, value in feeds.items():
            self.interpreter.set_tensor(self._input_index[name], value)
        self.interpreter.invoke()
        return {name: self.interpreter.get_tensor(index) for name, index in self._output_index.items()}


class OnnxRunner:
    """onnxruntime CPU session."""

    def __init__(self, path: Path, threads: int = 1):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.path = path
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name: tuple(1 if not isinstance(d, int) else d for d in i.shape) for i in self.session.get_inputs()}
        self.outputs = [o.name for o in self.session.get_outputs()]

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(self.outputs, self.session.run(self.outputs, feeds), strict=True))


class SavedModelRunner:
    """TensorFlow SavedModel's serving signature."""

    def __init__(self, path: Path, threads: int = 1):
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow already started in this process: keep its setting
            pass
        self.path = path
        self.model = tf.saved_model.load(str(path))
        self.function = self.model.signatures["serving_default"]
        specs = self.function.structured_input_signature[1]
        self.inputs = {name: tuple(1 if d is None else d for d in spec.shape) for name, spec in specs.items()}
        self.outputs = list(self.function.structured_outputs)

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: v.numpy() for k, v in self.function(**feeds).items()}


def export_report(model: str | Path) -> dict | None:
    """The exporter's report for an export folder, or for a model file / SavedModel inside one."""
    model = Path(model)
    for folder in (model, model.parent):
        if (folder / REPORT_FILE).is_file():
            return json.loads((folder / REPORT_FILE).read_text())
    return None


def load_runner(path: str | Path, threads: int = 1, name: str = "pitch_detector"):
    """A runner for a .tflite / .onnx file, a SavedModel folder, or an export folder (its INT8 TFLite)."""
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"{path}: no such model file or folder")
    if path.is_dir() and (path / REPORT_FILE).is_file():
        report = json.loads((path / REPORT_FILE).read_text())
        path = path / DEFAULT_FILE.format(name=report.get("model", name))
    try:
        if path.suffix == ".tflite":
            return TFLiteRunner(path, threads)
        if path.suffix == ".onnx":
            return OnnxRunner(path, threads)
        if path.is_dir() and (path / "saved_model.pb").is_file():
            return SavedModelRunner(path, threads)
    except Exception as error:  # noqa: BLE001 - report which file failed and why
        raise ModelLoadError(f"{path}: cannot load model ({error})") from None
    raise ModelLoadError(f"{path}: not a .tflite, .onnx, SavedModel or export folder")


class Stream:
    """Feeds 512-sample buffers to a runner, keeping every state tensor between calls."""

    def __init__(self, runner, buffer_input: str = contract.PitchDetectorTensors.AUDIO_BUFFER):
        self.runner = runner
        self.buffer_input = buffer_input
        self.state_names = [name for name in runner.inputs if name != buffer_input and name + STATE_SUFFIX in runner.outputs]
        self.reset()

    def reset(self) -> None:
        """Zero every state (the start of a new stream)."""
        self.state = {name: np.zeros((1, *self.runner.inputs[name][1:]), np.float32) for name in self.state_names}

    def control_feeds(self) -> dict[str, np.ndarray]:
        """Constant :data:`CONTROL_DEFAULTS` (else 0) for inputs that are neither audio nor state."""
        return {
            name: np.full((1, *shape[1:]), CONTROL_DEFAULTS.get(name, 0.0), np.float32)
            for name, shape in self.runner.inputs.items()
            if name != self.buffer_input and name not in self.state_names
        }

    def process(self, buffer: np.ndarray, **extra: np.ndarray) -> dict[str, np.ndarray]:
        """Run one buffer; returns the non-state outputs with the batch axis removed."""
        feeds = {self.buffer_input: np.asarray(buffer, np.float32).reshape(1, -1), **self.state, **extra}
        outputs = self.runner(feeds)
        for name in self.state_names:
            self.state[name] = outputs[name + STATE_SUFFIX]
        return {k: v[0] for k, v in outputs.items() if not k.endswith(STATE_SUFFIX)}

    def run(self, audio: np.ndarray) -> dict[str, np.ndarray]:
        """Stream a whole signal (the last partial buffer is zero-padded); outputs stacked per buffer."""
        audio = np.asarray(audio, np.float32)
        n = int(np.ceil(len(audio) / contract.BUFFER_SIZE))
        padded = np.zeros(n * contract.BUFFER_SIZE, np.float32)
        padded[: len(audio)] = audio
        results = [self.process(padded[i * contract.BUFFER_SIZE : (i + 1) * contract.BUFFER_SIZE]) for i in range(n)]
        return {k: np.stack([r[k] for r in results]) for k in results[0]} if results else {}
