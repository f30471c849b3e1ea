"""Train the pitch corrector's learned part with the combined loss, streaming as an engine does.

    python -m autotune_keras.train --config configs/pitch_corrector.yaml [--epochs 3]

The corrector graph (autotune_keras/models/corrector.py) holds the trained detector network
(frozen: it is trained by configs/pitch_detector.yaml) and a learned envelope-correction FIR.
Each training example is streamed buffer after buffer through the corrector with its state
carried, at strength 1 towards the example's scale notes, and the output is scored against the
exactly-in-tune twin with ``loss.waveform`` MSE + ``loss.pitch`` (a frozen copy of the detector
network measures the output) + ``loss.mr_stft`` + ``loss.phase`` (autotune_keras/losses.py).
Every term goes to TensorBoard, with input / output / target audio each epoch. A killed run
started again resumes (BackupAndRestore). Writes to ``train.run_dir``: ``config.yaml``,
``envelope_taps.npy`` (what the exporter reads), ``best.weights.h5``, ``backup/``, ``logs/``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from autotune_keras import contract, losses
from autotune_keras.config import PipelineConfig, TrainConfig, _ranged
from autotune_keras.data.pipeline import make_dataset, read_manifest
from autotune_keras.ema import adam
from autotune_keras.files import atomic_write_bytes, atomic_write_text
from autotune_keras.models.pitch_corrector.core import CorrectorConfig
from autotune_keras.models.pitch_corrector.streaming import StreamingCorrector
from autotune_keras.models.pitch_detector import network as detector
from autotune_keras.models.pitch_detector.run import DetectorRun
from autotune_keras.tfk import keras
from autotune_keras.training import RunFolder, keras_callbacks

TAPS_FILE = "envelope_taps.npy"
TERMS = ("waveform", "pitch", "mr_stft", "phase")


@dataclass
class LossWeights:
    """Weights of the combined loss's terms."""

    waveform: float = _ranged(0.4, 0.0)
    pitch: float = _ranged(0.3, 0.0)
    mr_stft: float = _ranged(0.2, 0.0)
    phase: float = _ranged(0.1, 0.0)


@dataclass
class CorrectorExperiment:
    """Everything a corrector run needs (configs/pitch_corrector.yaml)."""

    task: str = "pitch_corrector"
    detector_run: str = "runs/pitch_detector"  # the trained detector (configs/pitch_detector.yaml)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    model: CorrectorConfig = field(default_factory=CorrectorConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    train: TrainConfig = field(default_factory=TrainConfig)
    buffers_per_example: int = _ranged(8, 2)  # buffers streamed per example (after the history)
    audio_summaries: int = _ranged(2, 0)  # validation examples written to TensorBoard as audio
    monitor: str = "val_loss"  # what the best checkpoint and early stopping minimise

    def validate(self) -> None:
        """Cross-section checks."""
        self.pipeline.validate()
        self.train.validate()
        if self.train.distribute != "none":  # 15 taps train in minutes on one core; nothing to spread
            raise ValueError("train.distribute: the corrector trains on one device; leave it at none")
        needed = self.model.history_samples + self.buffers_per_example * contract.BUFFER_SIZE
        if self.pipeline.window_samples < needed:
            raise ValueError(f"pipeline.window_samples must be >= history + buffers ({needed})")
        allowed = {"val_loss", *(f"val_{term}" for term in TERMS)}
        if self.monitor not in allowed:
            raise ValueError(f"monitor: {self.monitor!r}; expected one of {', '.join(sorted(allowed))}")
        if not self.pipeline.with_targets:
            raise ValueError("pipeline.with_targets must be true: the corrector learns from the in-tune twins")


class CorrectorTrainer(keras.Model):
    """Streams batches through the corrector and returns the combined loss and its terms."""

    def __init__(self, exp: CorrectorExperiment, detector_run: DetectorRun, label_hop: int):
        super().__init__(name="corrector_trainer")
        self.exp, self.label_hop = exp, label_hop
        self.detector_cfg = detector_run.experiment.model
        float_net, qat_net = detector_run.float_net, detector_run.qat_net
        self.taps = self.add_weight(name="envelope_taps", shape=[exp.model.envelope_taps], initializer="zeros")
        float_net.trainable = False
        self.judge = float_net  # measures the output's pitch (float, frozen)
        inner = qat_net or float_net  # the network the exported corrector runs
        inner.trainable = False
        self.inner = inner
        self.corrector = StreamingCorrector(inner, self.detector_cfg, exp.model, envelope_taps=self.taps, calibration=detector_run.calibration)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in ("loss", *TERMS)}
        self.built = True  # every weight exists now (BackupAndRestore restores before the first step)

    @property
    def metrics(self) -> list:
        """Epoch means of the loss and each term (Keras resets them every epoch)."""
        return list(self.trackers.values())

    def _report(self, terms: dict[str, tf.Tensor], total: tf.Tensor) -> dict[str, tf.Tensor]:
        for name, value in {"loss": total, **terms}.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def get_config(self) -> dict:
        return {"name": self.name}

    def stream(self, audio: tf.Tensor, target_f0: tf.Tensor) -> tf.Tensor:
        """Run the corrector over ``buffers_per_example`` buffers of ``audio`` [b, W] after its
        history (state carried), each buffer's target the label at its newest sample."""
        cfg, n = self.exp.model, contract.BUFFER_SIZE
        names = contract.PitchCorrectorTensors
        batch = tf.shape(audio)[0]
        state = audio[:, : cfg.history_samples]
        read_offset = tf.zeros([batch, 1])
        log2_ratio = tf.zeros([batch, 1])
        strength = tf.ones([batch, 1])
        outputs = []
        for k in range(self.exp.buffers_per_example):
            first = cfg.history_samples + k * n
            label = (first + n) // self.label_hop - 1
            result = self.corrector(
                audio[:, first : first + n], target_f0[:, label : label + 1], strength, state, read_offset, log2_ratio
            )
            outputs.append(result[names.CORRECTED_AUDIO])
            state, read_offset, log2_ratio = (result[contract.state_output(s)] for s in StreamingCorrector.STATE)
        return tf.concat(outputs, axis=1)

    def reference(self, track: tf.Tensor) -> tf.Tensor:
        """``track`` at the output's timing: delayed by the corrector's start delay."""
        first = self.exp.model.history_samples - self.exp.model.start_delay
        return track[:, first : first + self.exp.buffers_per_example * contract.BUFFER_SIZE]

    def output_pitch(self, output: tf.Tensor) -> tf.Tensor:
        """The judge's (soft-decoded) pitch [b, windows] of detector windows along ``output``."""
        width, n = self.detector_cfg.window_samples, contract.BUFFER_SIZE
        ends = range(width, output.shape[1] + 1, n)
        windows = tf.concat([output[:, end - width : end] for end in ends], axis=0)
        logits = self.judge(detector.network_inputs(windows, self.detector_cfg), training=False)["pitch_logits"]
        return tf.transpose(tf.reshape(detector.decode_pitch(logits, self.detector_cfg), [len(ends), -1]))

    def output_pitch_targets(self, target_f0: tf.Tensor, length: int) -> tf.Tensor:
        """The target note [b, windows] under each judged window (the label its pitch refers to)."""
        width, n, cfg = self.detector_cfg.window_samples, contract.BUFFER_SIZE, self.exp.model
        labels = [
            (cfg.history_samples - cfg.start_delay + end - self.detector_cfg.latency_samples) // self.label_hop
            for end in range(width, length + 1, n)
        ]
        return tf.gather(target_f0, labels, axis=1)

    def loss_terms(self, batch: dict) -> dict[str, tf.Tensor]:
        """Each term of the combined loss on one batch."""
        output = self.stream(batch["audio"], batch["target_f0_hz"])
        target = self.reference(batch["target_audio"])
        measured = self.output_pitch(output)
        return {
            "waveform": losses.waveform_mse(output, target),
            "pitch": losses.pitch_semitone_error(measured, self.output_pitch_targets(batch["target_f0_hz"], output.shape[1])),
            "mr_stft": losses.mr_stft(output, target),
            "phase": losses.phase_coherence(output, target),
        }

    def _total(self, terms: dict[str, tf.Tensor]) -> tf.Tensor:
        return tf.add_n([getattr(self.exp.loss, name) * terms[name] for name in TERMS])

    def train_step(self, batch: dict) -> dict[str, tf.Tensor]:
        with tf.GradientTape() as tape:
            terms = self.loss_terms(batch)
            total = self._total(terms)
        self.optimizer.apply_gradients(zip(tape.gradient(total, [self.taps]), [self.taps], strict=True))
        return self._report(terms, total) | {"taps_norm": tf.norm(self.taps)}

    def test_step(self, batch: dict) -> dict[str, tf.Tensor]:
        terms = self.loss_terms(batch)
        return self._report(terms, self._total(terms))


class AudioSummaries(keras.callbacks.Callback):
    """Each epoch: input, corrected output and in-tune target of fixed validation examples as
    TensorBoard audio."""

    def __init__(self, examples: dict[str, tf.Tensor], log_dir: Path):
        super().__init__()
        self.examples = examples
        self.writer = tf.summary.create_file_writer(str(log_dir / "audio"))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        trainer: CorrectorTrainer = self.model
        output = trainer.stream(self.examples["audio"], self.examples["target_f0_hz"])
        tracks = {
            "input": trainer.reference(self.examples["audio"]),
            "output": output,
            "target": trainer.reference(self.examples["target_audio"]),
        }
        with self.writer.as_default():
            for name, audio in tracks.items():
                peak = tf.reduce_max(tf.abs(audio)) + 1e-9
                tf.summary.audio(name, (audio / peak)[:, :, None], contract.SAMPLE_RATE, step=epoch, max_outputs=len(audio))


def _batches(exp: CorrectorExperiment, split: str) -> tf.data.Dataset:
    keep = ("audio", "target_audio", "target_f0_hz")
    return make_dataset(exp.pipeline, split).map(lambda b: {k: b[k] for k in keep})


def train(exp: CorrectorExperiment) -> Path:
    """Fit the corrector's learned part (resuming a killed run); returns the run dir."""
    from autotune_keras.models.pitch_detector.run import load_run as load_detector_run

    keras.utils.set_random_seed(exp.train.seed)
    run = RunFolder(exp.train.run_dir).start(exp)
    log_dir = run.path / "logs"
    detector_run = load_detector_run(exp.detector_run)
    if not (Path(exp.pipeline.records) / "manifest.json").is_file():
        raise FileNotFoundError(
            f"{exp.pipeline.records}: no dataset; build it with python -m autotune_keras.dataset or train the detector first"
        )
    hop = int(read_manifest(exp.pipeline.records)["label_hop"])
    trainer = CorrectorTrainer(exp, detector_run, hop)
    trainer.compile(optimizer=adam(exp.train.learning_rate, exp.train.ema_momentum))
    train_ds, validation = _batches(exp, "train"), _batches(exp, "validation")
    validation = validation.take(exp.train.validation_steps).cache()
    evaluators = []
    if exp.audio_summaries:  # heard with the weights the epoch is judged by
        examples = next(iter(validation.unbatch().batch(exp.audio_summaries)))
        evaluators.append(AudioSummaries(examples, log_dir))
    callbacks = keras_callbacks(
        run.path, "", monitor=exp.monitor, mode="min", patience=exp.train.early_stopping_patience, log_dir=log_dir,
        evaluators=evaluators,
    )  # fmt: skip
    print(
        f"pitch corrector: {exp.model.envelope_taps} learned taps around the frozen detector network "
        f"({exp.detector_run}); {exp.buffers_per_example} buffers streamed per example"
    )
    history = trainer.fit(
        train_ds,
        epochs=exp.train.epochs,
        steps_per_epoch=exp.train.steps_per_epoch,
        validation_data=validation,
        callbacks=callbacks,
        verbose=2,
    )
    taps = io.BytesIO()
    np.save(taps, trainer.taps.numpy())
    atomic_write_bytes(run.path / TAPS_FILE, taps.getvalue())
    summary = {k: [float(v) for v in values] for k, values in history.history.items()}
    atomic_write_text(run.path / "history.json", json.dumps(summary, indent=1) + "\n")
    print(f"done: {run.path} (TensorBoard: tensorboard --logdir {log_dir})")
    print(f"export: python -m autotune_keras.export --checkpoint {run.path} --out saved_models/pitch_corrector")
    return run.path
