"""TimingAdjustmentNet: moves sloppy notes onto the tempo grid in a stream. An onset network
(network.py) inside a time-warp that moves each attack as a block (streaming.py); trained on
off-grid phrases and their on-grid twins (training.py); run folder, export spec, the retime chain
(inference.py) and evaluation hook."""

from autotune_keras import contract
from autotune_keras.models.base import ModelDefinition
from autotune_keras.models.timing_adjuster.training import TimingExperiment

MODEL = ModelDefinition("timing_adjuster", contract.TIMING_ADJUSTER, TimingExperiment, package=__name__)
