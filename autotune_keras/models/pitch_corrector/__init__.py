"""The pitch corrector: a streaming neural PSOLA, the detector network guiding a resampling core
(core.py, streaming.py), trained with the combined loss (training.py); run folder (run.py), export
spec (export.py), the engine's detect-snap-correct chain (inference.py) and evaluation hook."""

from autotune_keras import contract
from autotune_keras.models.base import ModelDefinition
from autotune_keras.models.pitch_corrector.training import CorrectorExperiment

MODEL = ModelDefinition("pitch_corrector", contract.PITCH_CORRECTOR, CorrectorExperiment, package=__name__)
