"""The pitch detector: a streaming CREPE-style classifier (network.py), its engine-facing module
(streaming.py), float + QAT training (training.py), run folder (run.py), export spec (export.py)
and evaluation hook (evaluation.py)."""

from autotune_keras import contract
from autotune_keras.models.base import ModelDefinition
from autotune_keras.models.pitch_detector.training import DetectorExperiment

MODEL = ModelDefinition("pitch_detector", contract.PITCH_DETECTOR, DetectorExperiment, package=__name__)
