"""Synthetic monophonic phrases with exact f0 and exactly corrected twins.

Each phrase is drawn from a note list (key, scale, tempo, per-note detune and timing jitter) and
rendered three times with the same timbre, envelopes and noise:

* ``audio``: as performed (detuned notes, vibrato, scoops, jitter, timing jitter);
* ``in_tune_audio``: the performed f0 quantized to the scale, sample by sample, exactly what an
  engine at strength 1 aims for;
* ``on_grid_audio``: the performed notes moved to the tempo grid.

Timbres are additive and band-limited: a source-filter voice (glottal spectrum through vowel
formants, breath noise, jitter and shimmer) and plucked / bowed / reed / flute instruments (with
inharmonicity for plucks). Oscillator phase is integrated from f0, so every version is
phase-continuous.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from autotune_keras import contract, music
from autotune_keras.config import SyntheticConfig

INSTRUMENTS = ("voice", "pluck", "bowed", "reed", "flute")
GENRES = ("pop", "rnb", "jazz", "rock", "folk", "classical", "blues", "soul")
CONTROL_HOP = 64  # samples between amplitude control points

# (F1, F2, F3, F4) in Hz for an adult male voice; bandwidths shared per formant index.
VOWEL_FORMANTS = {
    "a": (730.0, 1090.0, 2440.0, 3400.0),
    "e": (530.0, 1840.0, 2480.0, 3500.0),
    "i": (270.0, 2290.0, 3010.0, 3700.0),
    "o": (570.0, 840.0, 2410.0, 3300.0),
    "u": (300.0, 870.0, 2240.0, 3300.0),
    "ae": (660.0, 1720.0, 2410.0, 3400.0),
    "er": (490.0, 1350.0, 1690.0, 3300.0),
}
FORMANT_BANDWIDTHS = np.array([80.0, 100.0, 140.0, 200.0])
# MIDI register and formant scale factor per voice type.
VOICE_TYPES = {"bass": ((40, 64), 1.0), "tenor": ((48, 69), 1.0), "alto": ((53, 76), 1.15), "soprano": ((60, 84), 1.2)}
INSTRUMENT_REGISTERS = {"pluck": (40, 88), "bowed": (43, 91), "reed": (50, 89), "flute": (60, 94)}


@dataclass
class Phrase:
    """One rendered phrase; per-sample arrays share the same length."""

    audio: np.ndarray
    in_tune_audio: np.ndarray
    on_grid_audio: np.ndarray
    f0_hz: np.ndarray  # performed f0, 0 where unvoiced
    voicing: np.ndarray  # 1 where a pitched note sounds
    target_f0_hz: np.ndarray  # f0 of in_tune_audio
    onsets: np.ndarray  # performed note onsets in samples
    grid_onsets: np.ndarray  # note onsets of on_grid_audio in samples
    metadata: dict = field(default_factory=dict)


@dataclass
class NoteList:
    """A performed phrase's notes: when they start (as played and on the grid), how long they
    sound, their scale note and how the performer colours it."""

    onset: np.ndarray  # seconds
    grid_onset: np.ndarray
    length: np.ndarray  # sounding seconds
    midi: np.ndarray  # scale note
    detune: np.ndarray  # cents
    vowel: list
    velocity: np.ndarray
    vibrato_rate: np.ndarray
    vibrato_depth: np.ndarray  # cents
    scoop: np.ndarray  # cents below the note at onset (0 = none)
    consonant: np.ndarray  # seconds of unvoiced noise before the onset (0 = none)


def melody(rng: np.random.Generator, key_pc: int, intervals: tuple[int, ...], low: float, high: float, count: int) -> np.ndarray:
    notes = np.array([pc + 12 * octave for octave in range(11) for pc in (key_pc + np.array(intervals))], dtype=float)
    notes = np.sort(notes[(notes >= low) & (notes <= high)])
    if len(notes) == 0:
        raise ValueError(f"no scale note between MIDI {low} and {high}")
    index = int(rng.integers(len(notes) // 4, max(len(notes) // 4 + 1, 3 * len(notes) // 4)))
    melody = []
    for _ in range(count):
        melody.append(notes[index])
        step = int(rng.choice([-4, -2, -1, -1, 0, 1, 1, 2, 3, 5]))
        index = int(np.clip(index + step, 0, len(notes) - 1))
    return np.array(melody)


def draw_notes(
    rng: np.random.Generator,
    cfg: SyntheticConfig,
    instrument: str,
    register: tuple[float, float],
    key_pc: int,
    intervals,
    tempo: float,
) -> NoteList:
    """A melody in the key and scale at ``tempo``, performed the way ``instrument`` (one of
    INSTRUMENTS: its articulation, vibrato, scoops) plays: detuned by up to
    ``cfg.max_detune_cents`` and ``cfg.timing_jitter_seconds`` off the grid."""
    beat = 60.0 / tempo
    seconds = cfg.phrase_seconds
    onsets, lengths = [], []
    t = float(rng.uniform(0.05, min(0.4, 0.2 * seconds)))
    legato = rng.random() < (0.6 if instrument in ("voice", "bowed", "flute") else 0.2)
    while t < seconds - 0.15 or not onsets:
        beats = float(rng.choice([0.25, 0.5, 0.5, 1.0, 1.0, 1.5, 2.0]))
        duration = beats * beat
        articulation = float(rng.uniform(0.92, 1.0) if legato else rng.uniform(0.45, 0.9))
        onsets.append(t)
        lengths.append(duration * articulation)
        t += duration
        if rng.random() < 0.12:  # a rest
            t += float(rng.choice([0.5, 1.0])) * beat
    count = len(onsets)
    grid = np.array(onsets)
    low = max(register[0], cfg.midi_range[0])
    high = min(register[1], cfg.midi_range[1])
    jitter = timing_jitter(rng, cfg, count, GRID_BEATS * beat)
    performed = np.maximum(grid + jitter, 0.0)
    is_voice = instrument == "voice"
    vibrato_on = instrument in ("voice", "bowed", "flute", "reed")
    return NoteList(
        onset=performed,
        grid_onset=grid,
        length=np.array(lengths),
        midi=melody(rng, key_pc, intervals, low, high, count),
        detune=rng.uniform(-cfg.max_detune_cents, cfg.max_detune_cents, count),
        vowel=[str(v) for v in rng.choice(list(VOWEL_FORMANTS), count)],
        velocity=rng.uniform(0.5, 1.0, count),
        vibrato_rate=rng.uniform(4.5, 6.8, count),
        vibrato_depth=(rng.uniform(0.0, 60.0, count) * (rng.random(count) < 0.7)) if vibrato_on else np.zeros(count),
        scoop=(rng.uniform(40.0, 250.0, count) * (rng.random(count) < 0.4)) if is_voice else np.zeros(count),
        consonant=(rng.uniform(0.03, 0.09, count) * (rng.random(count) < 0.3)) if is_voice else np.zeros(count),
    )


GRID_BEATS = 0.25  # phrases start their notes on a 16th-note grid


def timing_jitter(rng: np.random.Generator, cfg, count: int, step_seconds: float) -> np.ndarray:
    """How far ``count`` notes are played off their grid lines (s): normal with sigma
    ``cfg.timing_jitter_seconds`` (or, when ``cfg.timing_jitter_range`` is set, a sigma drawn
    from it for the phrase), clipped to ``cfg.max_jitter_steps`` of a grid step (or to 2.5 sigma
    when that is 0); ``cfg.on_grid_fraction`` of the notes exactly on the grid."""
    sigma = cfg.timing_jitter_seconds
    low, high = getattr(cfg, "timing_jitter_range", (0.0, 0.0))
    if high > 0:
        sigma = float(rng.uniform(low, high))
    limit = getattr(cfg, "max_jitter_steps", 0.0) * step_seconds or 2.5 * sigma
    jitter = np.clip(rng.normal(0.0, sigma, count), -limit, limit)
    on_grid = getattr(cfg, "on_grid_fraction", 0.0)
    if on_grid > 0:
        jitter = np.where(rng.random(count) < on_grid, 0.0, jitter)
    return jitter


def lowpass_noise(rng: np.random.Generator, n: int, cutoff_hz: float, sr: int) -> np.ndarray:
    """Unit-variance noise low-passed at ``cutoff_hz`` (drift, jitter, shimmer)."""
    b, a = signal.butter(2, cutoff_hz / (sr / 2))
    noise = signal.lfilter(b, a, rng.standard_normal(n))
    return noise / (np.std(noise) + 1e-12)


def f0_contour(
    notes: NoteList, onsets: np.ndarray, n: int, sr: int, glide: bool, drift: np.ndarray, jitter: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample f0 in Hz (0 where silent) and the note index sounding at each sample (-1 none)."""
    cents = np.zeros(n)
    owner = np.full(n, -1)
    t = np.arange(n) / sr
    for i in range(len(onsets)):
        start = int(onsets[i] * sr)
        stop = min(n, int((onsets[i] + notes.length[i]) * sr))
        if start >= n or stop <= start:
            continue
        local = t[start:stop] - onsets[i]
        base = 100.0 * notes.midi[i] + notes.detune[i]
        fade_in = np.clip((local - 0.15) / 0.25, 0.0, 1.0)
        vibrato = notes.vibrato_depth[i] * fade_in * np.sin(2 * np.pi * notes.vibrato_rate[i] * local)
        scoop = -notes.scoop[i] * np.exp(-local / 0.045)
        cents[start:stop] = base + vibrato + scoop
        owner[start:stop] = i
    if glide:  # legato portamento: blend into the next note over the last 60 ms when they touch
        for i in range(len(onsets) - 1):
            end = int((onsets[i] + notes.length[i]) * sr)
            nxt = int(onsets[i + 1] * sr)
            if 0 <= nxt - end < int(0.03 * sr) and nxt < n:
                span = int(0.06 * sr)
                begin = max(end - span, int(onsets[i] * sr))
                ramp = np.linspace(0.0, 1.0, end - begin, endpoint=False) if end > begin else np.array([])
                target = 100.0 * notes.midi[i + 1] + notes.detune[i + 1]
                stop = min(end, n)
                cents[begin:stop] = cents[begin:stop] * (1 - ramp[: stop - begin] ** 2) + target * ramp[: stop - begin] ** 2
                if nxt > end:
                    cents[end:nxt] = target
                    owner[end:nxt] = i
    cents = cents + drift + jitter
    f0 = np.where(owner >= 0, music.midi_to_hz(cents / 100.0), 0.0)
    f0 = np.where(owner >= 0, np.clip(f0, contract.PITCH_MIN_HZ, contract.PITCH_MAX_HZ), 0.0)
    return f0, owner


def _envelope(notes: NoteList, onsets: np.ndarray, owner: np.ndarray, n: int, sr: int, instrument: str) -> np.ndarray:
    """Per-sample amplitude envelope of the pitched part."""
    env = np.zeros(n)
    attack = {"voice": 0.03, "pluck": 0.002, "bowed": 0.09, "reed": 0.03, "flute": 0.05}[instrument]
    release = {"voice": 0.04, "pluck": 0.08, "bowed": 0.08, "reed": 0.03, "flute": 0.05}[instrument]
    t = np.arange(n) / sr
    for i in range(len(onsets)):
        start = int(onsets[i] * sr)
        stop = min(n, int((onsets[i] + notes.length[i] + release) * sr))
        if start >= n:
            continue
        local = t[start:stop] - onsets[i]
        shape = np.clip(local / attack, 0.0, 1.0)
        if instrument == "pluck":
            shape = shape * np.exp(-local / (0.35 + 1.5 * np.exp(-notes.midi[i] / 30.0)))
        off = np.clip((local - notes.length[i]) / release, 0.0, 1.0)
        shape = shape * (1.0 - off)
        env[start:stop] = np.maximum(env[start:stop], notes.velocity[i] * shape)
    return env


def _formant_gain(freqs: np.ndarray, formants: np.ndarray) -> np.ndarray:
    """Magnitude of a cascade of second-order resonators at ``freqs``; formants [..., 4]."""
    gain = np.ones_like(freqs)
    for j in range(formants.shape[-1]):
        fj = formants[..., j : j + 1]
        bj = FORMANT_BANDWIDTHS[j]
        gain = gain * fj**2 / np.sqrt((fj**2 - freqs**2) ** 2 + (bj * freqs) ** 2)
    return gain


class _Timbre:
    """Harmonic amplitudes per control frame, and noise, for one instrument."""

    def __init__(self, rng: np.random.Generator, instrument: str, notes: NoteList, n_harmonics: int, formant_scale: float):
        self.instrument = instrument
        self.k = np.arange(1, n_harmonics + 1, dtype=float)
        self.inharmonicity = float(rng.uniform(0.0, 3e-4)) if instrument == "pluck" else 0.0
        self.tilt = float(rng.uniform(0.9, 1.6))
        self.phases = rng.uniform(0, 2 * np.pi, n_harmonics)
        self.pluck_position = float(rng.uniform(0.08, 0.3))
        self.body = np.sort(rng.uniform(250.0, 3500.0, 3))
        self.formant_scale = formant_scale
        self.noise_level = {"voice": 0.03, "pluck": 0.004, "bowed": 0.02, "reed": 0.01, "flute": 0.08}[instrument] * float(
            rng.uniform(0.5, 1.5)
        )
        self.vowel_formants = np.array([VOWEL_FORMANTS[v] for v in notes.vowel]) * formant_scale

    def partial_ratio(self) -> np.ndarray:
        return self.k * np.sqrt(1.0 + self.inharmonicity * self.k**2)

    def amplitudes(self, f0_frames: np.ndarray, owner_frames: np.ndarray, pluck_age: np.ndarray) -> np.ndarray:
        """[frames, K] linear amplitudes before the envelope."""
        k = self.k[None, :]
        freqs = np.maximum(f0_frames, 1.0)[:, None] * self.partial_ratio()[None, :]
        if self.instrument == "voice":
            formants = self.vowel_formants[np.maximum(owner_frames, 0)]
            amp = k ** (-self.tilt) * _formant_gain(freqs, formants)
        elif self.instrument == "pluck":
            comb = np.abs(np.sin(np.pi * k * self.pluck_position)) / k
            damping = np.exp(-pluck_age[:, None] * (0.5 + 0.8 * k))  # upper partials decay faster
            amp = comb * damping
        elif self.instrument == "bowed":
            body = _formant_gain(freqs, np.broadcast_to(np.append(self.body, 4500.0), (len(f0_frames), 4)))
            amp = (1.0 / k) * body**0.5
        elif self.instrument == "reed":
            odd = np.where(self.k % 2 == 1, 1.0, 0.15)[None, :]
            amp = odd / k ** (self.tilt * 0.8)
        else:  # flute
            amp = np.exp(-0.9 * (k - 1)) * np.ones_like(freqs)
        amp = np.where(freqs < min(16000.0, 0.45 * contract.SAMPLE_RATE), amp, 0.0)
        norm = np.sqrt(np.sum(amp**2, axis=1, keepdims=True)) + 1e-12
        return amp / norm


def _render(
    timbre: _Timbre,
    f0: np.ndarray,
    owner: np.ndarray,
    env: np.ndarray,
    onsets: np.ndarray,
    shimmer: np.ndarray,
    noise: np.ndarray,
    sr: int,
) -> np.ndarray:
    n = len(f0)
    held = f0.copy()  # hold the last pitch through silences so phase stays continuous
    voiced_idx = np.flatnonzero(held > 0)
    if len(voiced_idx):
        fill = np.maximum.accumulate(np.where(held > 0, np.arange(n), voiced_idx[0]))
        held = held[fill]
    else:
        held[:] = 220.0
    phase = 2 * np.pi * np.cumsum(held) / sr
    frames = np.arange(0, n + CONTROL_HOP, CONTROL_HOP)
    frames = frames[frames < n + CONTROL_HOP]
    at = np.minimum(frames, n - 1)
    owner_frames = owner[at]
    onset_samples = (np.asarray(onsets) * sr).astype(int)
    last_onset = np.zeros(len(at))
    for s in onset_samples:
        last_onset = np.where(at >= s, s, last_onset)
    pluck_age = (at - last_onset) / sr
    amps = timbre.amplitudes(held[at], owner_frames, pluck_age)  # [frames, K]
    ratios = timbre.partial_ratio()
    keep = np.max(amps, axis=0) > 1e-4  # partials below -80 dB everywhere cost time, add nothing
    amps, ratios, offsets = amps[:, keep], ratios[keep], timbre.phases[keep]
    # float32 per block of 2048 samples (32 control frames), each partial's phase taken relative
    # to the block's first sample (wrapped in float64) so the float32 angles stay small; amplitude
    # interpolation between control frames folded into two reductions (sum_k a*sin + w * sum_k d*sin)
    amps32, ratios32 = amps.astype(np.float32), ratios.astype(np.float32)
    steps = np.diff(amps32, axis=0, append=amps32[-1:])  # towards the next control frame
    ramp = (np.arange(CONTROL_HOP) / CONTROL_HOP).astype(np.float32)
    band_limit = min(16000.0, 0.45 * sr)
    chunk = 32 * CONTROL_HOP
    out = np.zeros(n)
    for begin in range(0, n, chunk):
        stop = min(n, begin + chunk)
        frames = -(-(stop - begin) // CONTROL_HOP)
        rows = frames * CONTROL_HOP
        block_hz = np.zeros(rows, np.float32)
        block_hz[: stop - begin] = held[begin:stop]
        # alias guard per sample: partials above the band limit all through the block are skipped,
        # those the pitch moves across it are muted sample by sample
        audible = ratios32 * block_hz[: stop - begin].min() < band_limit
        crossing = audible & (ratios32 * block_hz.max() >= band_limit)
        if not audible.any():
            continue
        first = begin // CONTROL_HOP
        level_amps, level_steps = amps32[first : first + frames], steps[first : first + frames]
        block_ratios, block_offsets = ratios32, offsets
        if not audible.all():
            level_amps, level_steps = level_amps[:, audible], level_steps[:, audible]
            block_ratios, block_offsets, crossing = ratios32[audible], offsets[audible], crossing[audible]
        rel = np.zeros(rows, np.float32)
        rel[: stop - begin] = phase[begin:stop] - phase[begin]
        sines = np.multiply.outer(rel, block_ratios)
        sines += np.mod(phase[begin] * block_ratios.astype(np.float64) + block_offsets, 2 * np.pi).astype(np.float32)
        np.sin(sines, out=sines)
        if crossing.any():
            sines[:, crossing] *= block_hz[:, None] * block_ratios[None, crossing] < band_limit
        sines = sines.reshape(frames, CONTROL_HOP, -1)
        level = np.einsum("ftk,fk->ft", sines, level_amps)
        level += ramp * np.einsum("ftk,fk->ft", sines, level_steps)
        out[begin:stop] = level.reshape(-1)[: stop - begin]
    pitched = out * env * (1.0 + 0.06 * shimmer)
    # aspiration / bow / breath noise follows the envelope, pulsed by the glottal cycle for voice
    pulse = 0.6 + 0.4 * np.cos(phase) if timbre.instrument == "voice" else 1.0
    return pitched + timbre.noise_level * env * pulse * noise


def _consonants(
    rng: np.random.Generator, notes: NoteList, onsets: np.ndarray, n: int, sr: int, fricative: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Unvoiced noise bursts before some voice notes, and the mask where they sound."""
    out = np.zeros(n)
    mask = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(notes.consonant > 0):
        stop = int(onsets[i] * sr)
        start = max(0, stop - int(notes.consonant[i] * sr))
        if stop <= start or stop > n:
            continue
        span = stop - start
        out[start:stop] = fricative[start:stop] * np.hanning(span) * 0.12 * notes.velocity[i]
        mask[start:stop] = True
    return out, mask


def synthesize_phrase(index: int, cfg: SyntheticConfig, sample_rate: int = contract.SAMPLE_RATE) -> Phrase:
    """Render phrase number ``index``: deterministic in (cfg.seed, index)."""
    rng = np.random.default_rng([cfg.seed, index])
    sr = sample_rate
    n = int(round(cfg.phrase_seconds * sr))
    if rng.random() < cfg.voice_fraction:
        instrument = "voice"
        voice_type = str(rng.choice(list(VOICE_TYPES)))
        register, formant_scale = VOICE_TYPES[voice_type]
    else:
        instrument = str(rng.choice(list(INSTRUMENT_REGISTERS)))
        voice_type = ""
        register, formant_scale = INSTRUMENT_REGISTERS[instrument], 1.0
    key = str(rng.choice(music.KEY_NAMES))
    scale = str(rng.choice(list(contract.SCALES)))
    tempo = float(rng.uniform(*cfg.tempo_range_bpm))
    genre = "blues" if scale == "BLUES" else str(rng.choice(GENRES))
    notes = draw_notes(rng, cfg, instrument, register, music.key_to_pitch_class(key), contract.SCALES[scale], tempo)

    # Noise streams shared by all three renderings (same timbre, same breath).
    drift = 8.0 * lowpass_noise(rng, n, 1.5, sr)
    jitter_cents = float(rng.uniform(3.0, 12.0)) if instrument == "voice" else 1.0
    jitter = jitter_cents * lowpass_noise(rng, n, 40.0, sr)
    shimmer = lowpass_noise(rng, n, 30.0, sr)
    b, a = signal.butter(2, [1500.0 / (sr / 2), 9000.0 / (sr / 2)], btype="band")
    breath = signal.lfilter(b, a, rng.standard_normal(n))
    breath /= np.std(breath) + 1e-12
    b, a = signal.butter(2, 4000.0 / (sr / 2), btype="high")
    fricative = signal.lfilter(b, a, rng.standard_normal(n))
    fricative /= np.std(fricative) + 1e-12
    min_f0 = music.midi_to_hz(max(register[0], cfg.midi_range[0]) - 3.0)
    timbre = _Timbre(rng, instrument, notes, int(min(80, 16000.0 // min_f0)), formant_scale)
    glide = instrument in ("voice", "bowed")

    def render(onsets: np.ndarray, quantize: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        f0, owner = f0_contour(notes, onsets, n, sr, glide, drift, jitter)
        if quantize:
            f0 = music.quantize_hz_to_scale(f0, key, scale)
        env = _envelope(notes, onsets, owner, n, sr, instrument)
        audio = _render(timbre, f0, owner, env, onsets, shimmer, breath, sr)
        consonant, consonant_mask = _consonants(rng_fixed(), notes, onsets, n, sr, fricative)
        audio = audio + consonant
        peak_env = np.maximum(env, 1e-9)
        voiced = (f0 > 0) & (env > 0.01 * peak_env.max()) & ~consonant_mask
        return audio, np.where(voiced, f0, 0.0), voiced, env

    def rng_fixed() -> np.random.Generator:
        return np.random.default_rng([cfg.seed, index, 1])

    audio, f0, voiced, _ = render(notes.onset, quantize=False)
    in_tune, target_f0, _, _ = render(notes.onset, quantize=True)
    on_grid, _, _, _ = render(notes.grid_onset, quantize=False)
    # one gain for all three so the pairs stay exact
    peak = max(np.max(np.abs(x)) for x in (audio, in_tune, on_grid)) + 1e-9
    scale_to = 0.5 / peak
    metadata = {
        "instrument": instrument if not voice_type else f"voice_{voice_type}",
        "key": key,
        "scale": scale,
        "tempo": tempo,
        "genre": genre,
    }
    return Phrase(
        audio=(audio * scale_to).astype(np.float32),
        in_tune_audio=(in_tune * scale_to).astype(np.float32),
        on_grid_audio=(on_grid * scale_to).astype(np.float32),
        f0_hz=f0.astype(np.float32),
        voicing=voiced.astype(np.float32),
        target_f0_hz=np.where(voiced, target_f0, 0.0).astype(np.float32),
        onsets=(notes.onset * sr).astype(np.int64),
        grid_onsets=(notes.grid_onset * sr).astype(np.int64),
        metadata=metadata,
    )
