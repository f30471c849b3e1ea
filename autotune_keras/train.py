"""Train the model a config describes.

    python -m autotune_keras.train --config configs/pitch_detector.yaml [--epochs 3] [--key.sub value]
    python -m autotune_keras.train --config configs/pitch_corrector.yaml

The config's ``task`` key names the model (default pitch_detector); its package trains it. A killed
run started again with the same command resumes (Keras BackupAndRestore).
"""

from __future__ import annotations

from autotune_keras import models
from autotune_keras.cli import run
from autotune_keras.config import CONFIG_DIR
from autotune_keras.training import load_experiment


def main(config: str = str(CONFIG_DIR / "pitch_detector.yaml"), **overrides) -> None:
    """Train the model a config describes: the pitch detector (configs/pitch_detector.yaml) or the
    pitch corrector (configs/pitch_corrector.yaml, after the detector). Flags: --epochs,
    --steps_per_epoch, --run_dir, --learning_rate, or any config key dotted by section
    (e.g. --qat.epochs=2 --pipeline.batch_size=64)."""
    task = models.task_of(config)
    if task not in models.REGISTRY:
        raise ValueError(f"{config}: unknown task {task!r}; expected one of {', '.join(sorted(models.REGISTRY))}")
    definition = models.get(task)
    definition.train(load_experiment(definition.experiment, config, overrides))


def cli() -> None:
    """Console-script entry point."""
    run(main, "autotune_keras.train")


if __name__ == "__main__":
    cli()
