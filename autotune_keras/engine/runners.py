"""One way to load an exported model (TFLite, ONNX, SavedModel, or a live ``tf.Module``) behind one
interface: ``inputs`` (name -> shape, batch 1), ``outputs`` (names), ``signature`` and
``__call__(feeds) -> outputs``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autotune_keras import contract
from autotune_keras.engine.exports import DEFAULT_FILE, REPORT_FILE, export_report, signature_from_report


class ModelLoadError(ValueError):
    """A model path cannot be loaded; the message names it."""


def infer_signature(inputs: dict[str, tuple], outputs: list[str], model: str = "") -> contract.Signature:
    """A signature read off the tensors alone (no export report): a state input X has an output
    X_out; the audio input is a contract audio name, else the widest remaining input."""
    state = tuple(name for name in inputs if contract.state_output(name) in outputs)
    plain = [name for name in inputs if name not in state]
    if not plain:
        raise ModelLoadError(f"{model or 'model'}: no audio input among {sorted(inputs)}")
    audio = next((name for name in contract.AUDIO_INPUTS if name in plain), None)
    audio = audio or max(plain, key=lambda name: inputs[name][-1] if inputs[name] else 0)
    state_outs = {contract.state_output(name) for name in state}
    return contract.Signature(
        model=model,
        audio_input=audio,
        buffer_size=int(inputs[audio][-1]),
        inputs=tuple(plain),
        outputs=tuple(name for name in outputs if name not in state_outs),
        state=state,
    )


class TFLiteRunner:
    """LiteRT interpreter through its signature runner (tensor names are the contract's)."""

    def __init__(self, path: Path, threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter  # no TensorFlow import: fast start, small RSS

        self.path = Path(path)
        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.interpreter.allocate_tensors()
        signature = self.interpreter.get_signature_runner()
        inputs, outputs = signature.get_input_details(), signature.get_output_details()
        self.inputs = {name: tuple(int(d) for d in detail["shape"]) for name, detail in inputs.items()}
        self.outputs = list(outputs)
        # tensor indices resolved once: set_tensor / invoke / get_tensor is what an engine does
        self._input_index = {name: detail["index"] for name, detail in inputs.items()}
        self._output_index = {name: detail["index"] for name, detail in outputs.items()}
        self.signature = infer_signature(self.inputs, self.outputs)

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        for name, value in feeds.items():
            self.interpreter.set_tensor(self._input_index[name], value)
        self.interpreter.invoke()
        return {name: self.interpreter.get_tensor(index) for name, index in self._output_index.items()}

    def output_shape(self, name: str) -> tuple[int, ...]:
        """Shape of output ``name`` (batch 1)."""
        return tuple(int(d) for d in self.interpreter.get_tensor(self._output_index[name]).shape)


class OnnxRunner:
    """onnxruntime CPU session."""

    def __init__(self, path: Path, threads: int = 1):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name: tuple(1 if not isinstance(d, int) else d for d in i.shape) for i in self.session.get_inputs()}
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.signature = infer_signature(self.inputs, self.outputs)

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
        self.path = Path(path)
        self.model = tf.saved_model.load(str(path))
        self.function = self.model.signatures["serving_default"]
        specs = self.function.structured_input_signature[1]
        self.inputs = {name: tuple(1 if d is None else d for d in spec.shape) for name, spec in specs.items()}
        self.outputs = list(self.function.structured_outputs)
        self.signature = infer_signature(self.inputs, self.outputs)

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {k: v.numpy() for k, v in self.function(**feeds).items()}


class ModuleRunner:
    """A live streaming ``tf.Module`` (``input_signature(batch)``, ``__call__(**inputs) -> dict``)
    behind the runner interface: the exporter streams it as it streams the exported files."""

    def __init__(self, module, signature: contract.Signature):
        import tensorflow as tf

        self.path = Path(getattr(module, "name", "module"))
        self.module = module
        self.inputs = {spec.name: tuple(spec.shape) for spec in module.input_signature(1)}
        self.outputs = list(signature.all_outputs)
        self.signature = signature
        self._tf = tf

    def __call__(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        result = self.module(**{name: self._tf.constant(value) for name, value in feeds.items()})
        return {name: value.numpy() for name, value in result.items()}


def load_runner(path: str | Path, threads: int = 1):
    """A runner for a .tflite / .onnx file, a SavedModel folder, or an export folder (its INT8
    TFLite); its ``signature`` comes from the export report beside it when there is one."""
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"{path}: no such model file or folder")
    report = export_report(path)
    if path.is_dir() and (path / REPORT_FILE).is_file():
        path = path / DEFAULT_FILE.format(name=report["model"])
    try:
        if path.suffix == ".tflite":
            runner = TFLiteRunner(path, threads)
        elif path.suffix == ".onnx":
            runner = OnnxRunner(path, threads)
        elif path.is_dir() and (path / "saved_model.pb").is_file():
            runner = SavedModelRunner(path, threads)
        else:
            raise ModelLoadError(f"{path}: not a .tflite, .onnx, SavedModel or export folder")
    except ModelLoadError:
        raise
    except Exception as error:  # noqa: BLE001 - report which file failed and why
        raise ModelLoadError(f"{path}: cannot load model ({error})") from None
    if report is not None:
        runner.signature = signature_from_report(report)
    return runner
