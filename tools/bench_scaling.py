"""How dataset builds and training steps scale with data size and local worker processes.

    python tools/bench_scaling.py [--sizes 64,256] [--workers 1,2,4] [--train_workers 1,2,4] [--steps 30]

Builds: the synthetic and the soundfont source, each at every size (phrases of 3 s) with every
worker count (Apache Beam DirectRunner processes), into temp folders; prints wall time and seconds
of audio per wall second. Training: the pitch detector on a small synthetic dataset, as one process
(train.distribute none) and as N MultiWorkerMirroredStrategy workers on localhost (TF_CONFIG), each
worker with its own batch of 32 (global batch 32 N); prints step time and examples per second from
the last epoch's Keras log line. Finally the arithmetic for 100 hours of audio on a cluster.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fire  # noqa: E402

from autotune_keras.config import DatasetConfig, SoundfontConfig, SyntheticConfig  # noqa: E402
from autotune_keras.data.build import build_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STEP = re.compile(r"(\d+)/\1 - .*? - (\d+)(ms|s)/step")


def _ints(value) -> list[int]:
    return [int(v) for v in (value if isinstance(value, (list, tuple)) else str(value).split(","))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def build_rows(sizes: list[int], workers: list[int]) -> list[dict]:
    """Build time of each source x size x worker count."""
    rows = []
    for source in ("synthetic", "soundfont"):
        for size in sizes:
            for count in workers:
                cfg = DatasetConfig(
                    workers=count,
                    synthetic=SyntheticConfig(num_phrases=size),
                    soundfont=SoundfontConfig(num_phrases=size, drum_phrases=0),
                )
                with tempfile.TemporaryDirectory() as tmp:
                    started = time.perf_counter()
                    manifest = build_dataset(source, Path(tmp) / "out", cfg, progress=False)
                    elapsed = time.perf_counter() - started
                audio = sum(s["seconds"] for s in manifest["sources"])
                rows.append({"source": source, "phrases": size, "workers": count, "audio_s": audio, "wall_s": elapsed})
                print(f"build {source:>9} {size:5d} phrases ({audio / 60:5.1f} min audio), {count} workers: "
                      f"{elapsed:6.1f} s, {audio / elapsed:5.1f} s of audio per wall second", flush=True)  # fmt: skip
    return rows


def _train_command(records: Path, run_dir: Path, distribute: str, steps: int, batch: int) -> list[str]:
    flags = {
        "pipeline.records": records, "pipeline.mix": "", "pipeline.mix_weights": "", "pipeline.batch_size": batch,
        "train.run_dir": run_dir, "train.epochs": 2, "train.steps_per_epoch": steps, "train.validation_steps": 1,
        "train.contour_clips": 0, "train.distribute": distribute, "qat.enabled": "false",
    }  # fmt: skip
    return [sys.executable, "-m", "autotune_keras.train", "--config", str(ROOT / "configs" / "pitch_detector.yaml")] + [
        f"--{key}={value}" for key, value in flags.items()
    ]


def train_rows(workers: list[int], steps: int, batch: int = 32) -> list[dict]:
    """Step time of the detector with 1..N local training processes."""
    rows = []
    env = os.environ | {"CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}
    with tempfile.TemporaryDirectory() as tmp:
        records = Path(tmp) / "records"
        build_dataset("synthetic", records, DatasetConfig(synthetic=SyntheticConfig(num_phrases=60)), progress=False)
        for count in workers:
            global_batch = batch * count
            if count == 1:
                commands = [(_train_command(records, Path(tmp) / "run1", "none", steps, global_batch), env)]
            else:
                cluster = {"worker": [f"localhost:{_free_port()}" for _ in range(count)]}
                commands = [
                    (_train_command(records, Path(tmp) / f"run{count}-{i}", "multi_worker", steps, global_batch),
                     env | {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})})
                    for i in range(count)
                ]  # fmt: skip
            processes = [subprocess.Popen(c, cwd=ROOT, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                         for c, e in commands]  # fmt: skip
            outputs = [p.communicate()[0] for p in processes]
            if any(p.returncode for p in processes):
                raise RuntimeError(f"training with {count} workers failed:\n{outputs[0][-2000:]}")
            _, value, unit = STEP.findall(outputs[0])[-1]  # the second epoch: warmed up
            step_ms = float(value) * (1.0 if unit == "ms" else 1000.0)
            rows.append({"workers": count, "global_batch": global_batch, "step_ms": step_ms,
                         "examples_s": global_batch / step_ms * 1e3})  # fmt: skip
            print(f"train detector, {count} local worker(s), global batch {global_batch}: {step_ms:.0f} ms/step, "
                  f"{global_batch / step_ms * 1e3:.0f} examples/s", flush=True)  # fmt: skip
    return rows


def projection(build: list[dict], train: list[dict], cluster: int = 32, hours: float = 100.0) -> None:
    """The 100-hour arithmetic from the measured per-worker rates."""
    audio = hours * 3600.0
    print(f"\nprojection for {hours:.0f} h of audio on a {cluster}-worker cluster (one 2-core box = 2 workers measured here):")
    for source in ("synthetic", "soundfont"):
        best = max((r for r in build if r["source"] == source), key=lambda r: r["audio_s"] / r["wall_s"])
        per_worker = best["audio_s"] / best["wall_s"] / best["workers"]
        local_h = audio / (best["audio_s"] / best["wall_s"]) / 3600
        cluster_h = audio / (per_worker * cluster) / 3600
        print(f"  build {source:>9}: {per_worker:.1f} s of audio per s per worker ({best['workers']} workers here) -> "
              f"{local_h:.1f} h on this box, {audio:.0f} / ({per_worker:.1f} x {cluster}) = {cluster_h * 60:.0f} min on {cluster} workers")  # fmt: skip
    one = next(r for r in train if r["workers"] == 1)
    windows = audio * 44100 / 2048  # one 2048-sample training window per 2048 samples: one pass
    epochs = 10
    single_h = epochs * windows / one["examples_s"] / 3600
    print(f"  train detector: {epochs} passes over {windows:.3g} windows at {one['examples_s']:.0f} examples/s = "
          f"{single_h:.1f} h in one process on this box")  # fmt: skip
    for r in train:
        if r["workers"] > 1:
            efficiency = r["examples_s"] / (r["workers"] * one["examples_s"])
            print(f"    {r['workers']} local workers reach {efficiency:.2f} of linear scaling here (they share these 2 cores"
                  " and talk over localhost gRPC: a lower bound)")  # fmt: skip
    for efficiency, label in ((1.0, "linear scaling"), (0.7, "70 % efficiency (a typical synchronous data-parallel figure)")):
        hours = epochs * windows / (one["examples_s"] * cluster * efficiency) / 3600
        print(f"    {cluster} workers, each as fast as this box, at {label}: "
              f"{epochs} x {windows:.3g} / ({one['examples_s']:.0f} x {cluster} x {efficiency:.1f}) / 3600 = {hours:.2f} h")  # fmt: skip

def main(sizes: str = "64,256", workers: str = "1,2,4", train_workers: str = "1,2,4", steps: int = 30, builds: str = "") -> None:
    """Print build and training scaling tables and the 100-hour projection. ``builds``: a JSON file
    of build rows from an earlier run (it writes them to the temp folder as bench_scaling_builds.json) to skip the builds."""
    print(f"machine: {os.cpu_count()} cores")
    if builds:
        build = json.loads(Path(builds).read_text())
    else:
        build = build_rows(_ints(sizes), _ints(workers))
        (Path(tempfile.gettempdir()) / "bench_scaling_builds.json").write_text(json.dumps(build, indent=1))
    train = train_rows(_ints(train_workers), steps)
    projection(build, train)


if __name__ == "__main__":
    fire.Fire(main)
