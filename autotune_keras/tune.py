"""Search a model's width, depth, context and learning rate with keras-tuner.

    python -m autotune_keras.tune --config configs/pitch_detector.yaml --trials 20
    python -m autotune_keras.tune --config configs/timing_adjuster.yaml --trials 10 --out runs/tune_timing

Each trial trains the config with the trial's values for --trial_epochs x --trial_steps, is
ended with one QAT step, converted to full-INT8 TFLite and timed with litert-benchmark; one slower
than the model's budget (configs/search.yaml)
is rejected. The best accepted trial is written to OUT/best_config.yaml, which
``python -m autotune_keras.train --config`` takes. TensorBoard: ``tensorboard --logdir OUT/logs``
(HParams tab). A killed search run again resumes (autotune_keras/search.py).
"""

from __future__ import annotations

from pathlib import Path

from autotune_keras import models
from autotune_keras.cli import run
from autotune_keras.config import CONFIG_DIR
from autotune_keras.search import DEFAULT_SEARCH, SearchRequest, load_search, reset_folder, run_search


def main(
    config: str = str(CONFIG_DIR / "pitch_detector.yaml"),
    trials: int = 10,
    out: str | None = None,
    trial_epochs: int = 3,
    trial_steps: int = 50,
    algorithm: str = "bayesian",
    space: str = str(DEFAULT_SEARCH),
    max_latency_ms: float | None = None,
    seed: int = 0,
    trial_qat: bool = True,
    overwrite: bool = False,
    quiet: bool = False,
    **overrides,
) -> None:
    """Search hyper-parameters of the model ``config`` describes; writes OUT/best_config.yaml.

    Args:
      config: experiment YAML the trials start from (its ``task`` names the model).
      trials: how many trials keras-tuner runs (rejected ones count).
      out: search folder (trials, keras-tuner state, TensorBoard logs, trials.csv, best config);
        default runs/tune_<model>.
      trial_epochs: epochs of each trial's training.
      trial_steps: steps per epoch of each trial.
      algorithm: 'bayesian' (Gaussian-process Bayesian optimisation) or 'random'.
      space: YAML of search spaces, one section per model (configs/search.yaml).
      max_latency_ms: reject trials whose median INT8 TFLite latency per call (one thread) is
        above this; default: the model's section of --space.
      seed: seed of the search.
      trial_qat: end each trial with one QAT step so its INT8 model is converted from the QAT
        graph, as shipped models are (post-training quantization gives slower kernels).
      overwrite: start again in an OUT that holds another search.
      quiet: less output.
      overrides: any config key, dotted, for every trial and the best config (e.g.
        --pipeline.records tf_records/demo --train.distribute mirrored).
    """
    task = models.task_of(config)
    search_overrides = {} if max_latency_ms is None else {"max_int8_latency_ms": max_latency_ms}
    search = load_search(space, task, search_overrides)
    folder = Path(out or f"runs/tune_{task}")
    if overwrite:
        reset_folder(folder)
    best = run_search(
        SearchRequest(
            config=Path(config), out=folder, trials=trials, trial_epochs=trial_epochs, trial_steps=trial_steps,
            algorithm=algorithm, seed=seed, trial_qat=trial_qat, search=search, overrides=overrides,
        ),  # fmt: skip
        progress=not quiet,
    )
    print(
        f"best: trial {best['trial']} {best['values']}: {search.objective} {best['score']:.4f}, "
        f"INT8 {best['int8_latency_ms']:.3f} ms per call"
    )
    print(f"config: {best['config']}  (train it: python -m autotune_keras.train --config {best['config']})")
    print(f"TensorBoard: tensorboard --logdir {folder / 'logs'}")


def cli() -> None:
    """Console-script entry point."""
    run(main, "autotune_keras.tune")


if __name__ == "__main__":
    cli()
