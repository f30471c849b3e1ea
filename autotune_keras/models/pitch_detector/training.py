"""Train the pitch detector: float training, then quantization-aware fine-tuning.

    python -m autotune_keras.train --config configs/pitch_detector.yaml [--epochs 3] [--key.sub value]

Builds the synthetic default dataset first if the configured records are absent. A killed run
started again with the same command resumes (Keras BackupAndRestore). Writes to ``train.run_dir``:
``config.yaml``, ``float.weights.h5``, ``qat.weights.h5``, ``checkpoints/``, ``logs/`` (TensorBoard).
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from autotune_keras import contract, losses
from autotune_keras.config import DatasetConfig, PipelineConfig, QATConfig, TrainConfig, _ranged, load, to_dict
from autotune_keras.data.pipeline import make_dataset, read_manifest
from autotune_keras.ema import adam
from autotune_keras.evaluation import clips as held_out
from autotune_keras.evaluation.pitch_metrics import SUMMARY_KEYS, pitch_metrics
from autotune_keras.files import atomic_write_text
from autotune_keras.models.pitch_detector import network as detector
from autotune_keras.tfk import keras
from autotune_keras.training import RunFolder, distribution_strategy, keras_callbacks, load_weights

N_HARMONIC_WINDOW = 1024
FLOAT_WEIGHTS = "float.weights.h5"
CALIBRATION_FILE = "calibration.json"
QAT_WEIGHTS = "qat.weights.h5"


@dataclass
class DetectorLoss:
    """Weights of the detector's loss terms."""

    voicing: float = _ranged(0.3, 0.0)
    harmonics: float = _ranged(0.1, 0.0)
    octave: float = _ranged(0.5, 0.0)  # extra cost of probability an octave or a twelfth away


@dataclass
class DetectorExperiment:
    """Everything a pitch detector run needs (configs/pitch_detector.yaml)."""

    task: str = "pitch_detector"
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    model: detector.DetectorConfig = field(default_factory=detector.DetectorConfig)
    loss: DetectorLoss = field(default_factory=DetectorLoss)
    train: TrainConfig = field(default_factory=TrainConfig)
    qat: QATConfig = field(default_factory=QATConfig)

    def validate(self) -> None:
        """Cross-section checks."""
        self.dataset.validate()
        self.pipeline.validate()
        self.train.validate()
        if self.model.stem_kernel % self.model.stem_stride or self.model.window_samples % self.model.stem_stride:
            raise ValueError("model.stem_kernel and the window must be multiples of model.stem_stride")
        if not self.model.block_filters or len(self.model.block_filters) != len(self.model.block_kernels):
            raise ValueError("model.block_filters and model.block_kernels: one or more blocks, as many kernels as filters")
        if self.model.width <= 0:
            raise ValueError(f"model.width: {self.model.width} must be above 0")
        if any(k < 2 for k in self.model.subharmonics):
            raise ValueError(f"model.subharmonics: {list(self.model.subharmonics)}: divisors of 2 or more (2 = an octave)")
        if any(k < 2 for k in self.model.superharmonics):
            raise ValueError(f"model.superharmonics: {list(self.model.superharmonics)}: multipliers of 2 or more (2 = an octave)")


def label_frame(cfg: detector.DetectorConfig, hop: int) -> int:
    """Index of the label frame (centre of the labelled buffer) inside the model's window."""
    centre = cfg.window_samples - contract.BUFFER_SIZE // 2 - cfg.lookahead_buffers * contract.BUFFER_SIZE
    return centre // hop


def harmonic_amplitudes(audio: tf.Tensor, f0_hz: tf.Tensor, n_harmonics: int) -> tf.Tensor:
    """Relative amplitudes (max 1) of harmonics 1..N of ``f0_hz`` in the window's last 1024 samples."""
    segment = audio[:, -N_HARMONIC_WINDOW:] * tf.signal.hann_window(N_HARMONIC_WINDOW)[None, :]
    n = tf.range(N_HARMONIC_WINDOW, dtype=tf.float32)
    k = tf.range(1, n_harmonics + 1, dtype=tf.float32)
    freqs = f0_hz[:, None] * k[None, :]  # [b, N]
    phase = 2.0 * math.pi * freqs[:, :, None] * n[None, None, :] / contract.SAMPLE_RATE
    real = tf.reduce_sum(segment[:, None, :] * tf.cos(phase), axis=-1)
    imag = tf.reduce_sum(segment[:, None, :] * tf.sin(phase), axis=-1)
    amplitude = tf.sqrt(real**2 + imag**2) * tf.cast(freqs < contract.SAMPLE_RATE / 2, tf.float32)
    return amplitude / (tf.reduce_max(amplitude, axis=-1, keepdims=True) + 1e-9)


def detector_io(batch: dict, cfg: detector.DetectorConfig, hop: int):
    """Pipeline batch -> (normalised window, targets, sample weights) for Keras fit."""
    frame = label_frame(cfg, hop)
    voiced = tf.cast(batch["voicing"][:, frame] > 0.5, tf.float32)
    f0 = batch["f0_hz"][:, frame] * voiced
    x = detector.network_inputs(batch["audio"], cfg)
    y = {
        "pitch_logits": detector.pitch_targets(f0, cfg),
        "voicing_logit": voiced[:, None],
        "harmonics": harmonic_amplitudes(batch["audio"], f0, cfg.n_harmonics),
    }
    weights = {"pitch_logits": voiced, "voicing_logit": tf.ones_like(voiced), "harmonics": voiced}
    return x, y, weights


def datasets(exp: DetectorExperiment):
    """Training and validation datasets of (x, y, weights), from the configured records (the
    project's default folders are built first when missing)."""
    from autotune_keras.data.build import ensure_dataset

    for folder in (exp.pipeline.records, *exp.pipeline.mix):
        ensure_dataset(folder, exp.dataset)
    records = Path(exp.pipeline.records)
    hop = int(read_manifest(records)["label_hop"])
    window = exp.model.window_samples
    pipeline = load(PipelineConfig, None, overrides=to_dict(exp.pipeline) | {"window_samples": window, "with_targets": False})
    train = make_dataset(pipeline, "train").map(lambda b: detector_io(b, exp.model, hop), num_parallel_calls=tf.data.AUTOTUNE)
    validation = make_dataset(pipeline, "validation").map(lambda b: detector_io(b, exp.model, hop)).cache()
    return train.prefetch(tf.data.AUTOTUNE), validation.repeat()


def compile_network(network: keras.Model, learning_rate, exp: DetectorExperiment) -> None:
    """Adam; BCE on pitch bins (CREPE) with an octave penalty, BCE on voicing, MSE on harmonics."""
    network.compile(
        optimizer=adam(learning_rate, exp.train.ema_momentum),
        loss={
            "pitch_logits": losses.pitch_bin_loss(exp.loss.octave, 1.0 / exp.model.cents_per_bin),
            "voicing_logit": keras.losses.BinaryCrossentropy(from_logits=True),
            "harmonics": keras.losses.MeanSquaredError(),
        },
        loss_weights={"pitch_logits": 1.0, "voicing_logit": exp.loss.voicing, "harmonics": exp.loss.harmonics},
    )


def decode_numpy(outputs: dict, cfg: detector.DetectorConfig) -> tuple[np.ndarray, np.ndarray]:
    """Network outputs -> (Hz, confidence) with the exported model's decoding."""
    pitch = detector.decode_pitch(tf.convert_to_tensor(outputs["pitch_logits"]), cfg).numpy()[:, 0]
    confidence = tf.sigmoid(outputs["voicing_logit"]).numpy()[:, 0]
    return pitch, confidence


def validation_arrays(validation, steps: int, cfg: detector.DetectorConfig) -> tuple[dict, np.ndarray, np.ndarray]:
    """``steps`` fixed validation batches as (network inputs, reference Hz, reference voicing)."""
    batches = list(validation.take(steps))
    x = {key: np.concatenate([b[0][key].numpy() for b in batches]) for key in batches[0][0]}
    targets = np.concatenate([b[1]["pitch_logits"].numpy() for b in batches])
    voiced = np.concatenate([b[1]["voicing_logit"].numpy()[:, 0] for b in batches]) > 0.5
    cents = cfg.bin_cents()
    # exact labels: the bin argmax is only 20-cent accurate, so recover f0 from the Gaussian
    weights = targets * (np.abs(np.arange(len(cents))[None, :] - np.argmax(targets, axis=1)[:, None]) <= 2)
    exact_cents = (weights * cents).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    return x, np.where(voiced, 10.0 * 2 ** (exact_cents / 1200.0), 0.0), voiced


MIN_CALIBRATION_FRAMES = 50  # right and wrong detections each, or the calibration stays the identity


def fit_calibration(network: keras.Model, validation, exp: DetectorExperiment) -> dict:
    """Platt scaling of the voicing logit on validation windows: (a, b) such that
    sigmoid(a * logit + b) is the probability the detection is right (voiced, within 50 cents);
    with the expected calibration error before and after."""
    from scipy.optimize import minimize

    from autotune_keras.evaluation.pitch_metrics import calibration, detection_correct

    x, ref_hz, voiced = validation_arrays(validation, exp.train.validation_steps, exp.model)
    outputs = network.predict(x, batch_size=256, verbose=0)
    logit = np.asarray(outputs["voicing_logit"], np.float64)[:, 0]
    pitch, _ = decode_numpy(outputs, exp.model)
    correct = detection_correct(ref_hz, voiced, pitch).astype(np.float64)

    def loss(params: np.ndarray) -> float:
        z = params[0] * logit + params[1]
        return float(np.mean(np.logaddexp(0.0, z) - correct * z))  # binary cross-entropy

    before = calibration(1 / (1 + np.exp(-logit)), correct)["ece"]
    if min(correct.sum(), (1.0 - correct).sum()) < MIN_CALIBRATION_FRAMES:  # too few to fit two numbers: keep sigmoid(logit)
        return {"a": 1.0, "b": 0.0, "ece_before": before, "ece_after": before, "frames": len(logit), "fitted": False}
    a, b = minimize(loss, np.array([1.0, 0.0]), method="Nelder-Mead").x
    after = calibration(1 / (1 + np.exp(-np.clip(a * logit + b, -60.0, 60.0))), correct)["ece"]
    return {"a": float(a), "b": float(b), "ece_before": before, "ece_after": after, "frames": len(logit), "fitted": True}


class PitchMetrics(keras.callbacks.Callback):
    """Each epoch: mir_eval RPA / RCA / voicing on fixed validation windows, added to the logs
    (so TensorBoard records them), and an image of predicted vs true contours on whole clips."""

    def __init__(self, validation, steps: int, cfg: detector.DetectorConfig, clips: list[dict], log_dir: Path):
        super().__init__()
        self.x, self.ref_hz, self.voiced = validation_arrays(validation, steps, cfg)
        self.cfg = cfg
        self.clips = clips
        self.writer = tf.summary.create_file_writer(str(log_dir / "contours"))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        outputs = self.model.predict(self.x, batch_size=256, verbose=0)
        pitch, confidence = decode_numpy(outputs, self.cfg)
        scores = pitch_metrics(self.ref_hz, self.voiced, pitch, confidence)
        if logs is not None:
            for key in SUMMARY_KEYS:
                if key in scores:
                    logs[f"val_{key}"] = scores[key]
        if self.clips:
            with self.writer.as_default():
                tf.summary.image("pitch_contours", self._contour_image(), step=epoch)

    def _contour_image(self) -> np.ndarray:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(len(self.clips), 1, figsize=(8, 2.2 * len(self.clips)), squeeze=False)
        for ax, clip in zip(axes[:, 0], self.clips, strict=True):
            outputs = self.model.predict(clip["windows"], batch_size=256, verbose=0)
            pitch, confidence = decode_numpy(outputs, self.cfg)
            t = clip["times"]
            ax.plot(t, np.where(clip["ref_hz"] > 0, clip["ref_hz"], np.nan), "k", lw=2, label="true")
            ax.plot(
                t,
                np.where(confidence >= contract.CONFIDENCE_THRESHOLD, pitch, np.nan),
                "r.",
                ms=3,
                label="predicted (conf >= 0.7)",
            )
            ax.set_yscale("log")
            ax.set_ylabel("Hz")
            ax.set_title(clip["name"], fontsize=8)
        axes[0, 0].legend(fontsize=7, loc="upper right")
        axes[-1, 0].set_xlabel("seconds")
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80)
        plt.close(fig)
        return tf.image.decode_png(buffer.getvalue(), channels=4)[None]


def contour_clips(records: Path, cfg: detector.DetectorConfig, count: int) -> list[dict]:
    """The first ``count`` validation segments as streaming windows with per-buffer labels."""
    clips = []
    for clip in held_out.load_clips(records, "validation", limit=count):
        windows = held_out.buffer_windows(clip.audio, cfg.context_samples)
        times, ref, _ = held_out.buffer_labels(clip, len(windows), cfg.latency_samples)
        normalised = {k: v.numpy() for k, v in detector.network_inputs(tf.constant(windows), cfg).items()}
        clips.append({"windows": normalised, "ref_hz": ref, "times": times, "name": clip.name})
    return clips


def _fit(
    network: keras.Model, exp: DetectorExperiment, train, validation, phase: str, epochs: int, steps: int
) -> keras.callbacks.History:
    run_dir = Path(exp.train.run_dir)
    log_dir = run_dir / "logs" / phase
    clips = contour_clips(Path(exp.pipeline.records), exp.model, exp.train.contour_clips) if exp.train.contour_clips else []
    callbacks = [
        *keras_callbacks(
            run_dir,
            phase,
            # the kept weights are the best epoch's (tf_keras restores them at the end even when
            # not stopping early): val_rpa_50 on 40 batches is too noisy a judge (it kept epoch 59
            # of a 150-epoch cosine run; epoch 138, lowest in validation loss, scored higher on the
            # validation clips and the held-out ones; docs/BENCHMARKS.md), the loss is smooth
            monitor="val_loss",
            mode="min",
            patience=exp.train.early_stopping_patience,
            checkpoint_every_steps=steps * exp.train.checkpoint_every_epochs,
            log_dir=log_dir,
            evaluators=[PitchMetrics(validation, exp.train.validation_steps, exp.model, clips, log_dir)],
        ),
    ]
    return network.fit(
        train,
        epochs=epochs,
        steps_per_epoch=steps,
        validation_data=validation,
        validation_steps=exp.train.validation_steps,
        callbacks=callbacks,
        verbose=2,
    )


def train(exp: DetectorExperiment) -> Path:
    """Run float training then QAT (each skipped when already finished); returns the run dir.
    Under ``train.distribute`` the models are built and compiled in the strategy's scope."""
    strategy = distribution_strategy(exp.train.distribute)
    keras.utils.set_random_seed(exp.train.seed)
    run = RunFolder(exp.train.run_dir).start(exp)
    (run.path / "checkpoints").mkdir(exist_ok=True)
    train_ds, validation = datasets(exp)

    with strategy.scope():
        network = detector.build_network(exp.model)
    print(
        f"pitch detector: {network.count_params():,} parameters, window {exp.model.window_samples} samples, {exp.model.n_bins} bins"
    )
    if not run.done("float"):
        schedule = keras.optimizers.schedules.CosineDecay(
            exp.train.learning_rate, exp.train.lr_decay_epochs * exp.train.steps_per_epoch, alpha=0.05
        )
        with strategy.scope():
            compile_network(network, schedule, exp)
        _fit(network, exp, train_ds, validation, "float", exp.train.epochs, exp.train.steps_per_epoch)
        network.save_weights(str(run.path / FLOAT_WEIGHTS))
        run.mark_done("float")
    else:
        load_weights(network, run.path / FLOAT_WEIGHTS)
    if exp.qat.enabled and not run.done("qat"):
        from autotune_keras.quantize import quantize_aware

        with strategy.scope():
            qat_network = quantize_aware(network)
            compile_network(qat_network, exp.qat.learning_rate, exp)
        _fit(qat_network, exp, train_ds, validation, "qat", exp.qat.epochs, exp.qat.steps_per_epoch)
        qat_network.save_weights(str(run.path / QAT_WEIGHTS))
        run.mark_done("qat")
    if not run.done("calibration"):
        final = network
        if exp.qat.enabled:
            from autotune_keras.quantize import quantize_aware

            with strategy.scope():
                final = quantize_aware(detector.build_network(exp.model))
            load_weights(final, run.path / QAT_WEIGHTS)
        fitted = fit_calibration(final, validation, exp)
        atomic_write_text(run.path / CALIBRATION_FILE, json.dumps(fitted, indent=1) + "\n")
        if fitted["fitted"]:
            print(f"confidence calibrated: ECE {fitted['ece_before']:.3f} -> {fitted['ece_after']:.3f} on {fitted['frames']} validation windows")
        else:
            print(f"confidence not calibrated: under {MIN_CALIBRATION_FRAMES} right or wrong detections in {fitted['frames']} validation windows")
        run.mark_done("calibration")
    print(f"done: {run.path} (TensorBoard: tensorboard --logdir {run.path / 'logs'})")
    print(f"export: python -m autotune_keras.export --checkpoint {run.path} --out saved_models/pitch_detector")
    return run.path
