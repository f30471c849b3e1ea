"""Hyper-parameter search with keras-tuner (the library behind ``python -m autotune_keras.tune``).

Each trial is an ordinary training run of the model the config names, with the trial's values
written over config keys (``configs/search.yaml`` says which keys, per model). After training,
one QAT step, the trial's network is converted to full-INT8 TFLite exactly as ``export`` converts
it and timed by ``litert-benchmark`` on one thread; a trial slower than the model's budget is
rejected (keras-tuner marks it failed), however good its score. Every trial is logged to TensorBoard's HParams view;
the best accepted trial is written as a config ``train`` takes.

keras-tuner drives the search (its oracle proposes values, keeps the trials and resumes an
interrupted search); the training itself is the model's own ``train`` hook, so trials run under
``train.distribute`` like any run.
"""

from __future__ import annotations

import csv
import io
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from autotune_keras import contract, models
from autotune_keras.config import CONFIG_DIR, ConfigError, load, read_yaml, to_dict
from autotune_keras.files import atomic_write_bytes, atomic_write_text, check_output_folder
from autotune_keras.training import ALIASES, load_experiment

SEARCH_FILE = "search.yaml"  # the settings a search folder was started with (its marker)
BEST_CONFIG = "best_config.yaml"
TRIALS_TABLE = "trials.csv"
ALGORITHMS = ("bayesian", "random")


@dataclass
class SearchParameter:
    """One searched quantity. Either ``key`` with ``values`` (a choice) or ``low``/``high`` (a
    float range, ``log`` for log-uniform), or ``choices``: labels that each set several keys."""

    name: str = ""
    key: str = ""  # the config key the drawn value is written to (dotted)
    values: list = field(default_factory=list)
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: dict = field(default_factory=dict)  # label -> {dotted key: value}

    def validate(self, where: str) -> None:
        """One of the three forms, complete."""
        forms = [bool(self.values), self.low is not None or self.high is not None, bool(self.choices)]
        if not self.name or sum(forms) != 1:
            raise ConfigError(f"{where}: give a name and exactly one of values, low/high or choices")
        if (forms[0] or forms[1]) and not self.key:
            raise ConfigError(f"{where} ({self.name}): values and low/high need the config key they set")
        if forms[1] and (self.low is None or self.high is None or not self.low < self.high or (self.log and self.low <= 0)):
            raise ConfigError(f"{where} ({self.name}): low < high (and above 0 with log) are needed")
        if forms[2] and not all(isinstance(v, dict) for v in self.choices.values()):
            raise ConfigError(f"{where} ({self.name}): each choice is a mapping of config keys to values")


@dataclass
class ModelSearch:
    """How one model is searched (one section of configs/search.yaml, named by the model)."""

    objective: str = "val_loss"  # a column of the trial's training history
    direction: str = "min"  # or "max"
    history: str = "float-history.csv"  # the training history file in the run folder
    max_int8_latency_ms: float = contract.LATENCY_BUDGET_MS  # median per call, one thread
    latency_runs: int = 1000
    space: tuple[SearchParameter, ...] = ()

    def validate(self) -> None:
        """A direction, a positive budget and a well-formed space."""
        if self.direction not in ("min", "max"):
            raise ConfigError(f"direction: {self.direction!r}; expected min or max")
        if self.max_int8_latency_ms <= 0 or self.latency_runs < 1:
            raise ConfigError("max_int8_latency_ms and latency_runs must be above 0")
        if not self.space:
            raise ConfigError("space: no parameters to search")
        names = [p.name for p in self.space]
        if len(set(names)) != len(names):
            raise ConfigError("space: parameter names must be unique")
        for index, parameter in enumerate(self.space):
            parameter.validate(f"space[{index}]")


def load_search(path: str | Path, task: str, overrides: dict | None = None) -> ModelSearch:
    """The search settings of model ``task`` from ``path`` (its top-level section)."""
    path = Path(path)
    data = read_yaml(path) if path.is_file() else None
    if not isinstance(data, dict) or task not in data:
        raise ConfigError(f"{path}: no search section for {task!r}")
    return load(ModelSearch, path, overrides=overrides, section=task)


def trial_overrides(space: tuple[SearchParameter, ...], values: dict[str, Any]) -> dict[str, Any]:
    """Config overrides (dotted keys) for one set of drawn values."""
    overrides: dict[str, Any] = {}
    for parameter in space:
        value = values[parameter.name]
        if parameter.choices:
            overrides |= parameter.choices[str(value)]
        else:
            overrides[parameter.key] = value
    return overrides


def hyperparameters(space: tuple[SearchParameter, ...]):  # -> keras_tuner.HyperParameters
    """The search space declared for keras-tuner's oracle."""
    import keras_tuner as kt

    hp = kt.HyperParameters()
    for parameter in space:
        if parameter.choices:
            hp.Choice(parameter.name, [str(label) for label in parameter.choices])
        elif parameter.values:
            hp.Choice(parameter.name, list(parameter.values))
        else:
            hp.Float(parameter.name, parameter.low, parameter.high, sampling="log" if parameter.log else "linear")
    return hp


def best_in_history(path: Path, objective: str, direction: str) -> float:
    """The best value of column ``objective`` in a Keras CSVLogger history."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the trial wrote no training history")
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    values = [float(row[objective]) for row in rows if row.get(objective) not in (None, "")]
    values = [v for v in values if math.isfinite(v)]
    if not values:
        raise ValueError(f"{path}: no {objective} values (columns: {', '.join(rows[0]) if rows else 'none'})")
    return max(values) if direction == "max" else min(values)


def int8_latency(task: str, run_dir: Path, out: Path, runs: int) -> dict:
    """Convert a trained run to full-INT8 TFLite the way ``export`` does, write it to ``out`` and
    time it with TFLite's own benchmark tool on one thread (median per call)."""
    from autotune_keras.engine.measure import litert_benchmark
    from autotune_keras.export import tflite

    definition = models.get(task)
    spec = definition.export_spec(definition.load_run(run_dir))
    function = spec.int8_module.concrete_function(1)
    if spec.int8_from_qat:
        model = tflite.convert_qat(function, spec.int8_module)
    else:
        model = tflite.convert_int8(function, spec.int8_module, lambda: iter(spec.representative))
    atomic_write_bytes(out, tflite.rename_io_tensors(model))
    measured = litert_benchmark(out, runs=runs, warmup=max(20, runs // 10), threads=1)
    return {"median_ms": float(measured["median_ms"]), "p95_ms": float(measured["p95_ms"])}


@dataclass
class SearchRequest:
    """Everything one search needs."""

    config: Path  # the experiment YAML the trials start from
    out: Path
    trials: int = 10
    trial_epochs: int = 3
    trial_steps: int = 50
    algorithm: str = "bayesian"
    seed: int = 0
    trial_qat: bool = True  # one QAT step per trial, so its INT8 model converts as a shipped one
    search: ModelSearch = field(default_factory=ModelSearch)
    overrides: dict = field(default_factory=dict)  # applied to every trial and to the best config
    best_run_dir: str = ""


class HParamsLog:
    """Every trial in TensorBoard's HParams dashboard (one run per trial under ``logs/``)."""

    def __init__(self, log_dir: Path, space: tuple[SearchParameter, ...], objective: str):
        import tensorflow as tf
        from tensorboard.plugins.hparams import api as hparams_api

        self.tf, self.api, self.log_dir = tf, hparams_api, log_dir
        self.metrics = [objective, "int8_latency_ms", "parameters", "accepted"]
        with tf.summary.create_file_writer(str(log_dir)).as_default():
            hparams_api.hparams_config(
                hparams=[hparams_api.HParam(p.name) for p in space],
                metrics=[hparams_api.Metric(name) for name in self.metrics],
            )

    def write(self, trial_id: str, values: dict, metrics: dict) -> None:
        """Record one finished trial."""
        with self.tf.summary.create_file_writer(str(self.log_dir / f"trial_{trial_id}")).as_default():
            self.api.hparams(values, trial_id=trial_id)
            for name in self.metrics:
                if name in metrics and metrics[name] is not None:
                    self.tf.summary.scalar(name, float(metrics[name]), step=1)


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open() as handle:
        return list(csv.DictReader(handle))


def _append_row(path: Path, row: dict) -> None:
    rows = [r for r in _rows(path) if r["trial"] != row["trial"]] + [{k: str(v) for k, v in row.items()}]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(dict.fromkeys(k for r in rows for k in r)), restval="")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, text.getvalue())


def _parameters(run_dir: Path, task: str) -> int | None:
    try:
        return int(models.get(task).load_run(run_dir).float_net.count_params())
    except (AttributeError, OSError, ValueError):
        return None


def run_search(request: SearchRequest, progress: bool = True) -> dict:
    """Run (or resume) a search; returns the best accepted trial with its config path."""
    import keras_tuner as kt

    task = models.task_of(request.config)
    definition = models.get(task)
    search = request.search
    if request.algorithm not in ALGORITHMS:
        raise ValueError(f"--algorithm {request.algorithm}: expected one of {', '.join(ALGORITHMS)}")
    if request.trials < 1 or request.trial_epochs < 1 or request.trial_steps < 1:
        raise ValueError("--trials, --trial_epochs and --trial_steps must be at least 1")
    settings = {
        "task": task, "config": str(request.config), "trials": request.trials, "trial_epochs": request.trial_epochs,
        "trial_steps": request.trial_steps, "algorithm": request.algorithm, "seed": request.seed, "trial_qat": request.trial_qat,
        "search": to_dict(search), "overrides": {k: str(v) for k, v in request.overrides.items()},
    }  # fmt: skip
    base = {ALIASES.get(k, k): v for k, v in request.overrides.items()}
    # the base experiment must load before anything is written (a bad flag is one error, not N failed trials)
    load_experiment(definition.experiment, request.config, base)
    out = request.out
    marker = out / SEARCH_FILE
    if not (marker.is_file() and yaml.safe_load(marker.read_text()) == settings):  # not the same search resumed
        check_output_folder(out, SEARCH_FILE, overwrite=False)  # refuses another search's or anyone else's files
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(marker, yaml.safe_dump(settings, sort_keys=False))

    objective = kt.Objective(search.objective, direction=search.direction)
    oracle_kwargs = dict(
        objective=objective, max_trials=request.trials, hyperparameters=hyperparameters(search.space),
        tune_new_entries=False, seed=request.seed, max_consecutive_failed_trials=request.trials + 1,
    )  # fmt: skip
    if request.algorithm == "bayesian":
        oracle = kt.oracles.BayesianOptimizationOracle(num_initial_points=min(3, request.trials), **oracle_kwargs)
    else:
        oracle = kt.oracles.RandomSearchOracle(**oracle_kwargs)
    log = HParamsLog(out / "logs", search.space, search.objective)
    table = out / TRIALS_TABLE

    class ConfigTuner(kt.engine.base_tuner.BaseTuner):
        """A trial is one training run of the config with the trial's values written over it."""

        def run_trial(self, trial, *args, **kwargs):
            values = {p.name: trial.hyperparameters.get(p.name) for p in search.space}
            trial_dir = out / "trials" / trial.trial_id
            overrides = base | trial_overrides(search.space, values) | {
                "train.run_dir": str(trial_dir / "run"), "train.epochs": request.trial_epochs,
                "train.steps_per_epoch": request.trial_steps, "train.lr_decay_epochs": request.trial_epochs,
                # one QAT step (trial_qat): the INT8 model is then converted as a shipped one is
                # (from the QAT graph), whose kernels run faster than post-training quantization's
                "qat.enabled": request.trial_qat, "qat.epochs": 1, "qat.steps_per_epoch": 1,
            }  # fmt: skip
            try:
                experiment = load_experiment(definition.experiment, request.config, overrides)
            except ValueError as error:  # this combination is not a valid model: reject it
                _append_row(table, {"trial": trial.trial_id, **values, "status": f"invalid: {error}"})
                print(f"trial {trial.trial_id}: {values}: invalid ({error})", flush=True)
                raise kt.errors.FailedTrialError(str(error)) from None
            print(f"trial {trial.trial_id}: {values}", flush=True)
            try:
                run_dir = definition.train(experiment)
                score = best_in_history(run_dir / search.history, search.objective, search.direction)
                latency = int8_latency(task, run_dir, trial_dir / "model_int8.tflite", search.latency_runs)
            except Exception as error:  # noqa: BLE001 - a trial that cannot train or convert is rejected, and says why
                reason = f"error: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
                _append_row(table, {"trial": trial.trial_id, **values, "status": reason})
                print(f"trial {trial.trial_id}: {reason}", flush=True)
                raise kt.errors.FailedTrialError(reason) from error
            accepted = latency["median_ms"] <= search.max_int8_latency_ms
            metrics = {
                search.objective: score, "int8_latency_ms": latency["median_ms"], "parameters": _parameters(run_dir, task),
                "accepted": int(accepted),
            }  # fmt: skip
            log.write(trial.trial_id, values, metrics)
            status = "accepted" if accepted else f"rejected: INT8 {latency['median_ms']:.3f} ms > {search.max_int8_latency_ms} ms"
            _append_row(table, {"trial": trial.trial_id, **values, **metrics, "status": status})
            print(f"trial {trial.trial_id}: {search.objective} {score:.4f}, INT8 {latency['median_ms']:.3f} ms/call: {status}", flush=True)
            if not accepted:
                raise kt.errors.FailedTrialError(status)
            return {search.objective: score}

    from keras_tuner.src import config as kt_config

    kt_config.DEBUG = False  # a rejected trial is one line (above), not keras-tuner's traceback
    tuner = ConfigTuner(oracle, directory=str(out), project_name="keras_tuner")
    try:
        tuner.search(verbose=progress)
    except kt.errors.FatalError as error:
        raise ValueError(str(error)) from None
    accepted = [r for r in _rows(table) if r.get("status") == "accepted"]
    if not accepted:
        raise ValueError(f"{out}: no trial met the INT8 latency budget of {search.max_int8_latency_ms} ms ({table})")
    sign = 1.0 if search.direction == "max" else -1.0
    best = max(accepted, key=lambda row: sign * float(row[search.objective]))
    values = {p.name: _typed(best[p.name], p) for p in search.space}
    best_overrides = base | trial_overrides(search.space, values)
    best_overrides["train.run_dir"] = request.best_run_dir or f"runs/{task}_tuned"
    experiment = load_experiment(definition.experiment, request.config, best_overrides)
    atomic_write_text(
        out / BEST_CONFIG,
        f"# best of {len(_rows(table))} trials ({search.objective} {best[search.objective]}, "
        f"INT8 {float(best['int8_latency_ms']):.3f} ms per call); searched: {values}\n"
        f"# train it: python -m autotune_keras.train --config {out / BEST_CONFIG}\n"
        + yaml.safe_dump(to_dict(experiment), sort_keys=False),
    )
    return {"trial": best["trial"], "values": values, "score": float(best[search.objective]),
            "int8_latency_ms": float(best["int8_latency_ms"]), "config": str(out / BEST_CONFIG)}  # fmt: skip


def _typed(text: str, parameter: SearchParameter) -> Any:
    """A value read back from the trials table as the type the search drew."""
    if parameter.choices:
        return text
    if parameter.values:
        return next((v for v in parameter.values if str(v) == text), text)
    return float(text)


def reset_folder(out: Path) -> None:
    """Remove a search folder this project wrote (``--overwrite``)."""
    check_output_folder(out, SEARCH_FILE, overwrite=True)
    if out.exists():
        shutil.rmtree(out)


DEFAULT_SEARCH = CONFIG_DIR / "search.yaml"
