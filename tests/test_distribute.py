"""Training under tf.distribute: two MultiWorkerMirroredStrategy workers on localhost train the
same detector as one worker does."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STEPS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def train_command(records: Path, run_dir: Path, distribute: str) -> list[str]:
    flags = {
        "pipeline.records": records, "pipeline.mix": "", "pipeline.mix_weights": "", "pipeline.batch_size": 8,
        "train.run_dir": run_dir, "train.epochs": 1, "train.steps_per_epoch": STEPS, "train.validation_steps": 1,
        "train.contour_clips": 0, "train.distribute": distribute, "qat.enabled": "false", "model.dropout": 0.0,
    }  # fmt: skip
    return [sys.executable, "-m", "autotune_keras.train", "--config", str(ROOT / "configs" / "pitch_detector.yaml")] + [
        f"--{key}={value}" for key, value in flags.items()
    ]


def weights(run_dir: Path) -> list[np.ndarray]:
    from autotune_keras.models.pitch_detector.network import build_network
    from autotune_keras.models.pitch_detector.training import DetectorExperiment
    from autotune_keras.training import load_experiment

    network = build_network(load_experiment(DetectorExperiment, run_dir / "config.yaml").model)
    initial = [w.copy() for w in network.get_weights()]
    network.load_weights(str(run_dir / "float.weights.h5"))
    return initial, network.get_weights()


def distance(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return float(np.sqrt(sum(np.sum((x - y) ** 2) for x, y in zip(a, b, strict=True))))


def test_two_workers_train_the_model_one_worker_trains(synthetic_records, tmp_path):
    env = os.environ | {"CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    single = subprocess.run(
        train_command(synthetic_records, tmp_path / "single", "none"), cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert single.returncode == 0, single.stderr[-3000:]

    ports = [free_port(), free_port()]
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    workers = [
        subprocess.Popen(
            train_command(synthetic_records, tmp_path / f"worker{index}", "multi_worker"),
            cwd=ROOT,
            env=env | {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for index in range(2)
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=800)
        assert worker.returncode == 0, stderr[-3000:]

    initial, one = weights(tmp_path / "single")
    _, chief = weights(tmp_path / "worker0")
    _, other = weights(tmp_path / "worker1")
    # synchronous data parallelism: both workers hold the same weights after every step
    assert distance(chief, other) < 1e-5 * max(1.0, distance(initial, one))
    # and they are the one-worker model, up to batch-norm statistics taken over half batches per
    # worker (the global batch is the same 8 windows): far closer to it than to where training started
    moved = distance(initial, one)
    assert moved > 0
    assert distance(chief, one) < 0.25 * moved, (distance(chief, one), moved)
