"""The engine contract: the one place that says what the C++ engine expects.

Every other module imports these names; nothing else hard-codes a sample rate, a buffer size,
a scale or a tensor name.
"""

from __future__ import annotations

from types import MappingProxyType

SAMPLE_RATE = 44100
BUFFER_SIZE = 512  # samples per engine callback (11.6 ms)
CHANNELS = 1
DTYPE = "float32"

PITCH_MIN_HZ = 80.0
PITCH_MAX_HZ = 2000.0
CONFIDENCE_THRESHOLD = 0.7  # a detection is valid at confidence >= this

TEMPO_MIN_BPM = 60.0
TEMPO_MAX_BPM = 200.0
TIMING_SEQUENCE_SIZE = 2048

# Budgets per buffer on one CPU core.
LATENCY_BUDGET_MS = 5.0
CPU_BUDGET_FRACTION = 0.25
RAM_BUDGET_MB = 100.0
MODEL_SIZE_BUDGET_MB = 50.0

# Semitone offsets from the key.
SCALES = MappingProxyType(
    {
        "MAJOR": (0, 2, 4, 5, 7, 9, 11),
        "MINOR": (0, 2, 3, 5, 7, 8, 10),
        "BLUES": (0, 3, 5, 6, 7, 10),
        "PENTATONIC": (0, 2, 4, 7, 9),
        "DORIAN": (0, 2, 3, 5, 7, 9, 10),
        "MIXOLYDIAN": (0, 2, 4, 5, 7, 9, 10),
        "CHROMATIC": tuple(range(12)),
    }
)


class PitchCorrectorTensors:
    """Tensor names of the pitch corrector's signature."""

    AUDIO_BUFFER = "audio_buffer"
    TARGET_PITCH = "target_pitch"
    CORRECTION_STRENGTH = "correction_strength"
    CORRECTED_AUDIO = "corrected_audio"
    CONFIDENCE = "confidence"
    INPUTS = (AUDIO_BUFFER, TARGET_PITCH, CORRECTION_STRENGTH)
    OUTPUTS = (CORRECTED_AUDIO, CONFIDENCE)


class TimingTensors:
    """Tensor names of the timing model's signature."""

    AUDIO_SEQUENCE = "audio_sequence"
    TARGET_TEMPO = "target_tempo"
    MUSICAL_CONTEXT = "musical_context"
    ADJUSTED_AUDIO = "adjusted_audio"
    TIMING_CONFIDENCE = "timing_confidence"
    INPUTS = (AUDIO_SEQUENCE, TARGET_TEMPO, MUSICAL_CONTEXT)
    OUTPUTS = (ADJUSTED_AUDIO, TIMING_CONFIDENCE)


class PitchDetectorTensors:
    """Tensor names of the pitch detector's signature."""

    AUDIO_BUFFER = "audio_buffer"
    PITCH = "pitch"
    CONFIDENCE = "confidence"
    HARMONICS = "harmonics"
    INPUTS = (AUDIO_BUFFER,)
    OUTPUTS = (PITCH, CONFIDENCE, HARMONICS)
