"""keras-tuner search: three short trials under tf.distribute, an INT8 latency gate that rejects,
TensorBoard HParams logs, and a best config that `train` accepts."""

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autotune_keras.config import ConfigError
from autotune_keras.search import BEST_CONFIG, TRIALS_TABLE, SearchParameter, load_search, trial_overrides

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "pipeline.mix": "", "pipeline.mix_weights": "", "pipeline.batch_size": "8", "train.validation_steps": "1",
    "train.contour_clips": "0", "model.dropout": "0.0",
}  # fmt: skip


def tune_command(records: Path, out: Path, *extra: str) -> list[str]:
    flags = ["--pipeline.records", str(records)] + [item for key, value in TINY.items() for item in (f"--{key}", value)]
    return [sys.executable, "-m", "autotune_keras.tune", "--config", str(ROOT / "configs" / "pitch_detector.yaml"),
            "--out", str(out), "--trial_epochs", "1", "--trial_steps", "2", *flags, *extra]  # fmt: skip


def read_trials(out: Path) -> list[dict]:
    with (out / TRIALS_TABLE).open() as handle:
        return list(csv.DictReader(handle))


def test_three_trials_write_a_config_train_accepts(synthetic_records, tmp_path):
    out = tmp_path / "search"
    command = tune_command(synthetic_records, out, "--trials", "3", "--max_latency_ms", "50", "--train.distribute", "mirrored",
                           "--trial_qat", "false")  # post-training INT8 here (faster); the test below converts from QAT  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    trials = read_trials(out)
    assert len(trials) == 3
    assert all(row["status"] == "accepted" and 0 < float(row["int8_latency_ms"]) < 50 for row in trials), trials
    assert len({(row["width"], row["depth"], row["context"]) for row in trials}) > 1  # the search moved
    for row in trials:  # every trial's INT8 model was really converted and timed
        assert (out / "trials" / row["trial"] / "model_int8.tflite").stat().st_size > 10_000
        assert list((out / "logs" / f"trial_{row['trial']}").glob("events.out.tfevents.*"))  # HParams dashboard

    best = yaml.safe_load((out / BEST_CONFIG).read_text())
    assert best["task"] == "pitch_detector" and best["train"]["distribute"] == "mirrored"
    top = max(float(row["val_rpa_50"]) for row in trials)
    chosen = [
        row for row in trials
        if float(row["val_rpa_50"]) == top and best["model"]["context_samples"] == int(row["context"])
        and best["model"]["width"] == float(row["width"]) and len(best["model"]["block_filters"]) == int(row["depth"])
        and best["train"]["learning_rate"] == pytest.approx(float(row["learning_rate"]))
    ]  # fmt: skip
    assert chosen, (best["model"], trials)  # the written config is the best trial's
    # train takes the written config as it is (a short run into a fresh folder)
    train = subprocess.run(
        [sys.executable, "-m", "autotune_keras.train", "--config", str(out / BEST_CONFIG), "--epochs", "1", "--steps_per_epoch", "1",
         "--run_dir", str(tmp_path / "best_run"), "--qat.enabled", "false"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    assert (tmp_path / "best_run" / "float.weights.h5").is_file()

    # run again: keras-tuner reloads the finished search, nothing is trained twice
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(read_trials(out)) == 3


def test_a_trial_over_the_latency_budget_is_rejected(synthetic_records, tmp_path):
    out = tmp_path / "search"
    result = subprocess.run(
        tune_command(synthetic_records, out, "--trials", "1", "--max_latency_ms", "0.0001"), cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "no trial met the INT8 latency budget" in result.stderr and "Traceback" not in result.stderr
    (row,) = read_trials(out)
    assert row["status"].startswith("rejected: INT8") and row["accepted"] == "0"
    assert (out / "trials" / row["trial"] / "run" / "qat.weights.h5").is_file()  # converted from the QAT graph
    assert not (out / BEST_CONFIG).exists()


def test_search_spaces_parse_and_map_to_config_keys():
    for task in ("pitch_detector", "timing_adjuster"):
        search = load_search(ROOT / "configs" / "search.yaml", task)
        assert {p.name for p in search.space} >= {"width", "depth", "context", "learning_rate"}
    detector = load_search(ROOT / "configs" / "search.yaml", "pitch_detector")
    overrides = trial_overrides(detector.space, {"width": 0.5, "depth": "3", "context": 2048, "learning_rate": 1e-3})
    assert overrides["model.width"] == 0.5 and overrides["model.context_samples"] == 2048
    assert len(overrides["model.block_filters"]) == len(overrides["model.block_kernels"]) == 3
    # every combination of the listed values is a model each experiment accepts
    from itertools import product

    from autotune_keras import models
    from autotune_keras.training import load_experiment

    for task in ("pitch_detector", "timing_adjuster"):
        search = load_search(ROOT / "configs" / "search.yaml", task)
        listed = [p for p in search.space if p.values or p.choices]
        for combination in product(*[list(p.values) or list(p.choices) for p in listed]):
            values = dict(zip([p.name for p in listed], combination, strict=True)) | {
                p.name: p.low for p in search.space if p.low is not None
            }
            load_experiment(models.get(task).experiment, ROOT / "configs" / f"{task}.yaml", trial_overrides(search.space, values))
    with pytest.raises(ConfigError, match="exactly one of"):
        SearchParameter(name="x", key="model.width", values=[1], low=0.1, high=2).validate("space[0]")
    with pytest.raises(ConfigError, match="no search section"):
        load_search(ROOT / "configs" / "search.yaml", "pitch_corrector")


def test_a_folder_with_other_files_or_another_search_is_refused(tmp_path):
    from autotune_keras.search import SEARCH_FILE, SearchRequest, run_search

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    search = load_search(ROOT / "configs" / "search.yaml", "pitch_detector")
    request = SearchRequest(config=ROOT / "configs" / "pitch_detector.yaml", out=foreign, search=search)
    with pytest.raises(FileExistsError, match="did not write"):
        run_search(request, progress=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / SEARCH_FILE).write_text("task: pitch_detector\ntrials: 99\n")
    with pytest.raises(FileExistsError, match="--overwrite"):
        run_search(SearchRequest(config=request.config, out=other, search=search), progress=False)
    assert (foreign / "notes.txt").read_text() == "mine" and sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
