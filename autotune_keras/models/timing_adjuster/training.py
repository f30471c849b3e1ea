"""Train TimingAdjustmentNet: the onset network on onset labels (float, then quantization-aware),
judged each epoch by streaming validation phrases through the whole model.

    python -m autotune_keras.train --config configs/timing_adjuster.yaml

Training pairs are phrases played off the grid and their on-grid twins, rendered from one note
list (synthetic, soundfont instruments and drum loops, sung voices: the sources' timing jitter is
normal with a sigma of 15-30 ms per phrase, clipped to 0.45 of a grid step, 15 % of notes on the
grid). The onset network learns where notes start (the onset-position term: binary cross-entropy
on 128-sample hops, a neighbouring hop half right). The time-warp around it is not differentiable
(it moves the read head by whole samples), so the audio terms are measured rather than trained:
each epoch ``streamed_clips`` validation phrases go through the streaming model and their output
is compared with the on-grid twin (waveform MSE, multi-resolution STFT, onset deviation from the
grid in ms), logged to TensorBoard with the audio; the best checkpoint is the one with the smallest
onset deviation.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from autotune_keras import contract
from autotune_keras.config import DatasetConfig, PipelineConfig, QATConfig, TrainConfig, _ranged, load, to_dict
from autotune_keras.data.pipeline import make_dataset
from autotune_keras.ema import adam
from autotune_keras.files import atomic_write_bytes
from autotune_keras.models.timing_adjuster.network import TimingConfig, build_network, onset_features
from autotune_keras.tfk import keras
from autotune_keras.training import RunFolder, distribution_strategy, keras_callbacks, load_weights

SAME_LINE_CHOICES = ("separate", "later", "likelier")
QUIET_JUMP_CHOICES = ("fixed", "returns", "all")
FLOAT_WEIGHTS = "float.weights.h5"
QAT_WEIGHTS = "qat.weights.h5"
MONITOR = "val_onset_deviation_ms"


@dataclass
class TimingExperiment:
    """Everything a timing-model run needs (configs/timing_adjuster.yaml)."""

    task: str = "timing_adjuster"
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    model: TimingConfig = field(default_factory=TimingConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(run_dir="runs/timing_adjuster"))
    qat: QATConfig = field(default_factory=QATConfig)
    positive_weight: float = _ranged(4.0, 1.0)  # onsets are rare: a missed one costs this much more
    streamed_clips: int = _ranged(8, 0)  # validation phrases streamed through the whole model each epoch

    def validate(self) -> None:
        """Cross-section checks."""
        self.dataset.validate()
        self.pipeline.validate()
        self.train.validate()
        if self.model.same_line_onsets not in SAME_LINE_CHOICES:
            raise ValueError(f"model.same_line_onsets: {self.model.same_line_onsets!r}: one of {', '.join(SAME_LINE_CHOICES)}")
        if self.model.quiet_jumps not in QUIET_JUMP_CHOICES:
            raise ValueError(f"model.quiet_jumps: {self.model.quiet_jumps!r}: one of {', '.join(QUIET_JUMP_CHOICES)}")


def onset_targets(onsets: tf.Tensor, cfg: TimingConfig) -> tf.Tensor:
    """Onset frames [b, frames] -> targets of the analysed frames [b, 16]: 1 at an onset, 0.5 beside it."""
    near = tf.maximum(onsets, 0.5 * tf.maximum(tf.pad(onsets[:, 1:], [[0, 0], [0, 1]]), tf.pad(onsets[:, :-1], [[0, 0], [1, 0]])))
    return near[:, cfg.first_analysed : cfg.first_analysed + cfg.analysed_frames]


def timing_io(batch: dict, cfg: TimingConfig):
    """Pipeline batch of windows with their pre-roll -> (band energies, onset targets)."""
    return onset_features(batch["audio"], cfg), onset_targets(batch["onsets"][:, cfg.preroll // cfg.hop :], cfg)


def weighted_bce(positive_weight: float):
    """Binary cross-entropy with onsets weighted ``positive_weight`` times."""

    def loss(targets: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(tf.nn.weighted_cross_entropy_with_logits(targets, logits, positive_weight), axis=-1)

    return loss


def datasets(exp: TimingExperiment):
    """Training and validation datasets of (features, onset targets)."""
    from autotune_keras.data.build import ensure_dataset

    for folder in (exp.pipeline.records, *exp.pipeline.mix):
        ensure_dataset(folder, exp.dataset)
    cfg = exp.model
    first_target = (cfg.preroll // cfg.hop + cfg.first_analysed) * cfg.hop  # the frames the network learns from
    focus = to_dict(exp.pipeline.focus) | {"span_start": first_target, "span_samples": cfg.analysed_frames * cfg.hop - cfg.hop // 2}
    pipeline = load(
        PipelineConfig,
        None,
        overrides=to_dict(exp.pipeline) | {"window_samples": cfg.feature_samples, "with_targets": False, "focus": focus},
    )
    train = make_dataset(pipeline, "train").map(lambda b: timing_io(b, exp.model), num_parallel_calls=tf.data.AUTOTUNE)
    validation = make_dataset(pipeline, "validation").map(lambda b: timing_io(b, exp.model)).cache()
    return train.prefetch(tf.data.AUTOTUNE), validation.repeat()


class StreamedTiming(keras.callbacks.Callback):
    """Each epoch: validation phrases through the whole streaming model with the network as it
    is; their output against the on-grid twin (waveform MSE, multi-resolution STFT, onset
    deviation from the grid) into the logs and TensorBoard, with the audio of the first two."""

    def __init__(self, clips: list, cfg: TimingConfig, log_dir: Path):
        super().__init__()
        self.clips, self.cfg = clips, cfg
        self.writer = tf.summary.create_file_writer(str(log_dir / "streamed"))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        from autotune_keras.engine.runners import ModuleRunner
        from autotune_keras.evaluation.timing import streamed_scores
        from autotune_keras.models.timing_adjuster.inference import Retimer
        from autotune_keras.models.timing_adjuster.streaming import StreamingTimingAdjuster

        runner = ModuleRunner(StreamingTimingAdjuster(self.model, self.cfg), contract.TIMING_ADJUSTER)
        scores, outputs = streamed_scores(Retimer(runner, self.cfg.latency_samples, self.cfg.lookahead), self.clips)
        if logs is not None:
            logs.update({f"val_{k}": v for k, v in scores.items()})
        with self.writer.as_default():
            for name, value in scores.items():
                tf.summary.scalar(name, value, step=epoch)
            for i, (clip, output) in enumerate(zip(self.clips[:2], outputs[:2], strict=False)):
                for label, audio in (("input", clip.audio), ("output", output), ("on_grid", clip.grid_audio)):
                    peak = float(np.max(np.abs(audio))) + 1e-9
                    tf.summary.audio(f"clip{i}/{label}", (audio / peak)[None, :, None], contract.SAMPLE_RATE, step=epoch)


def _fit(network, exp: TimingExperiment, train, validation, phase: str, epochs: int, steps: int, clips: list):
    run_dir = Path(exp.train.run_dir)
    monitor, mode = (MONITOR, "min") if clips else ("val_loss", "min")
    evaluators = [StreamedTiming(clips, exp.model, run_dir / "logs" / phase)] if clips else []
    callbacks = keras_callbacks(run_dir, phase, monitor=monitor, mode=mode, patience=exp.train.early_stopping_patience,
                                checkpoint_every_steps=steps * exp.train.checkpoint_every_epochs, evaluators=evaluators)  # fmt: skip
    return network.fit(train, epochs=epochs, steps_per_epoch=steps, validation_data=validation,
                       validation_steps=exp.train.validation_steps, callbacks=callbacks, verbose=2)  # fmt: skip


def train(exp: TimingExperiment) -> Path:
    """Float training then QAT (each skipped when already finished); returns the run dir."""
    from autotune_keras.evaluation.clips import load_timing_clips

    strategy = distribution_strategy(exp.train.distribute)
    keras.utils.set_random_seed(exp.train.seed)
    run = RunFolder(exp.train.run_dir).start(exp)
    (run.path / "checkpoints").mkdir(exist_ok=True)
    train_ds, validation = datasets(exp)
    clips = []
    if exp.streamed_clips:
        for folder in (exp.pipeline.records, *exp.pipeline.mix):
            clips += load_timing_clips(folder, "validation", limit=max(1, exp.streamed_clips // (1 + len(exp.pipeline.mix))))
    with strategy.scope():
        network = build_network(exp.model)
    print(
        f"timing adjuster: {network.count_params():,} parameters in the onset network; latency {exp.model.latency_samples} samples "
        f"({exp.model.latency_samples / contract.SAMPLE_RATE * 1e3:.0f} ms), shifts up to {exp.model.max_shift / contract.SAMPLE_RATE * 1e3:.0f} ms"
    )

    def compile_network(net, learning_rate) -> None:
        with strategy.scope():
            net.compile(optimizer=adam(learning_rate, exp.train.ema_momentum), loss=weighted_bce(exp.positive_weight))

    if not run.done("float"):
        schedule = keras.optimizers.schedules.CosineDecay(
            exp.train.learning_rate, exp.train.lr_decay_epochs * exp.train.steps_per_epoch, alpha=0.05
        )
        compile_network(network, schedule)
        _fit(network, exp, train_ds, validation, "float", exp.train.epochs, exp.train.steps_per_epoch, clips)
        network.save_weights(str(run.path / FLOAT_WEIGHTS))
        run.mark_done("float")
    else:
        load_weights(network, run.path / FLOAT_WEIGHTS)
    if exp.qat.enabled and not run.done("qat"):
        from autotune_keras.quantize import quantize_aware

        with strategy.scope():
            qat_network = quantize_aware(network)
        compile_network(qat_network, exp.qat.learning_rate)
        _fit(qat_network, exp, train_ds, validation, "qat", exp.qat.epochs, exp.qat.steps_per_epoch, clips)
        qat_network.save_weights(str(run.path / QAT_WEIGHTS))
        run.mark_done("qat")
    summary = io.StringIO()
    network.summary(print_fn=lambda line: summary.write(line + "\n"))
    atomic_write_bytes(run.path / "network.txt", summary.getvalue().encode())
    print(f"done: {run.path} (TensorBoard: tensorboard --logdir {run.path / 'logs'})")
    print(f"export: python -m autotune_keras.export --checkpoint {run.path} --out saved_models/timing_adjuster")
    return run.path
