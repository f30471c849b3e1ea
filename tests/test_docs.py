"""The docs stay true: the API reference is current, and every `python -m autotune_keras.X` command
in the README and docs/ names a real module and flags it accepts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autotune_keras import models
from autotune_keras.config import DatasetConfig, load
from autotune_keras.models.pitch_detector.training import DetectorExperiment
from autotune_keras.training import load_experiment

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _commands() -> dict[str, list[list[str]]]:
    """module -> token lists of every documented invocation (continuation lines joined)."""
    commands: dict[str, list[list[str]]] = {}
    for doc in DOCS:
        text = doc.read_text().replace("\\\n", " ")
        for match in re.finditer(r"python -m autotune_keras\.([a-z_]+)([^\n`|#]*)", text):
            commands.setdefault(match.group(1), []).append(match.group(2).split())
    return commands


COMMANDS = _commands()
# CLIs that take any config key as a flag (**overrides), and the config those keys belong to
OVERRIDE_CONFIGS = {
    "dataset": (DatasetConfig, ROOT / "configs" / "dataset.yaml"),
    "tune": (DetectorExperiment, ROOT / "configs" / "pitch_detector.yaml"),
}


def test_api_reference_is_current():
    result = subprocess.run([sys.executable, "tools/api_reference.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_docs_mention_every_command():
    assert {"dataset", "train", "export", "detect", "evaluate", "realtime", "benchmark"} <= set(COMMANDS)


@pytest.mark.parametrize("module", sorted(m for m in COMMANDS if m != "train"))
def test_documented_flags_exist(module):
    result = subprocess.run(
        [sys.executable, "-m", f"autotune_keras.{module}", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    help_text = result.stdout + result.stderr  # fire prints help to stderr when not on a terminal
    assert "FLAGS" in help_text or "POSITIONAL" in help_text, help_text[:500]
    for tokens in COMMANDS[module]:
        for index, token in enumerate(tokens):
            if not token.startswith("--"):
                continue
            flag = token.split("=")[0].rstrip(").,:;")
            if "." in flag and module in OVERRIDE_CONFIGS:  # a config key: the config must know it
                value = token.split("=", 1)[1] if "=" in token else (tokens + [""])[index + 1]
                config_class, path = OVERRIDE_CONFIGS[module]
                parsed = yaml.safe_load(value) if value else ""  # `--key=` reaches the CLI as "" (an empty list)
                load(config_class, path, overrides={flag[2:]: parsed})  # raises ConfigError on a bad key
                continue
            assert f"{flag}=" in help_text or f"{flag}\n" in help_text or f"{flag} " in help_text, f"{module}: {flag}"


def test_documented_training_overrides_are_config_keys():
    for tokens in COMMANDS["train"]:
        overrides = {}
        for i, token in enumerate(tokens):
            if token.startswith("--"):  # --key value or --key=value
                key, _, value = token[2:].partition("=")
                overrides[key] = yaml.safe_load(value if "=" in token else (tokens[i + 1] if i + 1 < len(tokens) else ""))
        config = ROOT / (overrides.pop("config", None) or "configs/pitch_detector.yaml")
        if not config.is_file():  # a file the documented steps write first (a search's best_config.yaml)
            config = ROOT / "configs" / "pitch_detector.yaml"
        experiment = models.get(models.task_of(config)).experiment
        load_experiment(experiment, config, overrides)  # raises ConfigError on a bad key
