"""Metrics for models that output audio: alignment, multi-resolution STFT distance, SNR, clicks at
buffer edges, and output pitch measured independently with pYIN."""

from __future__ import annotations

import numpy as np

from autotune_keras import contract

STFT_SIZES = (2048, 1024, 512, 256, 128)  # FFT sizes of the multi-resolution STFT distance (hop = size / 4)


def align(output: np.ndarray, reference: np.ndarray, max_lag: int = 1024) -> tuple[np.ndarray, int]:
    """``output`` shifted by the lag in [-max_lag, max_lag] samples (positive: output is late) that
    best matches ``reference`` (cross-correlation via FFT); returns it at the reference's length
    (zero-padded) and the lag."""
    output = np.asarray(output, np.float32)
    size = 1 << int(np.ceil(np.log2(len(reference) + len(output) + max_lag)))
    correlation = np.fft.irfft(np.fft.rfft(output, size) * np.conj(np.fft.rfft(reference, size)), size)
    candidates = np.concatenate([correlation[-max_lag:], correlation[: max_lag + 1]])
    lag = int(np.argmax(candidates)) - max_lag
    shifted = np.zeros(len(reference), np.float32)
    if lag >= 0:
        chunk = output[lag : lag + len(reference)]
        shifted[: len(chunk)] = chunk
    else:
        chunk = output[: len(reference) + lag]
        shifted[-lag : -lag + len(chunk)] = chunk
    return shifted, lag


def mr_stft_distance(output: np.ndarray, reference: np.ndarray, sizes: tuple[int, ...] = STFT_SIZES) -> float:
    """Mean over resolutions of spectral convergence + log-magnitude L1 (as in Parallel WaveGAN /
    DDSP's multi-scale spectral loss); 0 for identical signals."""
    import librosa

    total = 0.0
    for size in sizes:
        a = np.abs(librosa.stft(np.asarray(output, np.float32), n_fft=size, hop_length=size // 4))
        b = np.abs(librosa.stft(np.asarray(reference, np.float32), n_fft=size, hop_length=size // 4))
        convergence = np.linalg.norm(b - a) / (np.linalg.norm(b) + 1e-9)
        log_distance = np.mean(np.abs(np.log(a + 1e-5) - np.log(b + 1e-5)))
        total += convergence + log_distance
    return float(total / len(sizes))


def snr_db(output: np.ndarray, reference: np.ndarray) -> float:
    """Signal-to-noise ratio of ``output`` against ``reference`` (dB; inf when identical)."""
    reference = np.asarray(reference, np.float64)
    error = np.asarray(output, np.float64) - reference
    noise = float(np.sum(error**2))
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(reference**2) / noise))


def stoi(output: np.ndarray, reference: np.ndarray, extended: bool = False) -> float:
    """Short-time objective intelligibility of ``output`` against a clean ``reference`` (pystoi;
    0..1, higher is better)."""
    from pystoi import stoi as pystoi_stoi

    return float(
        pystoi_stoi(np.asarray(reference, np.float64), np.asarray(output, np.float64), contract.SAMPLE_RATE, extended=extended)
    )


def envelope_distance(output: np.ndarray, reference: np.ndarray, n_mfcc: int = 13) -> float:
    """Naturalness proxy: mean Euclidean distance between the spectral envelopes (MFCC 1..n, the
    level term 0 left out) of the two signals, frame by frame; formants that move or smear raise it."""
    import librosa

    def envelope(x):
        return librosa.feature.mfcc(y=np.asarray(x, np.float32), sr=contract.SAMPLE_RATE, n_mfcc=n_mfcc + 1)[1:]

    a, b = envelope(output), envelope(reference)
    frames = min(a.shape[1], b.shape[1])
    return float(np.mean(np.linalg.norm(a[:, :frames] - b[:, :frames], axis=0)))


def artifacts(output: np.ndarray) -> dict[str, int]:
    """Samples that are not finite, or at / beyond full scale (clipping)."""
    output = np.asarray(output)
    return {"non_finite_samples": int(np.sum(~np.isfinite(output))), "clipped_samples": int(np.sum(np.abs(output) >= 1.0))}


def edge_jumps(output: np.ndarray, buffer_size: int = contract.BUFFER_SIZE) -> tuple[float, float]:
    """Largest absolute sample-to-sample jump across buffer edges and inside buffers: a click at
    the edges shows as an edge figure above the inside one."""
    steps = np.abs(np.diff(np.asarray(output, np.float64)))
    at_edge = np.zeros(len(steps), bool)
    at_edge[buffer_size - 1 :: buffer_size] = True
    return float(steps[at_edge].max(initial=0.0)), float(steps[~at_edge].max(initial=0.0))


PYIN_FRAME = 4096  # pYIN's analysis window (93 ms, librosa's default duration)
PYIN_HOP = 256


def pyin_pitch(audio: np.ndarray, hop: int = PYIN_HOP, frame: int = PYIN_FRAME) -> tuple[np.ndarray, np.ndarray]:
    """(times, f0 Hz or 0) of ``audio``, independent of our models: librosa.pyin decides voicing
    and the note; its path is quantized to 10-cent bins, so the value is refined by time-frequency
    reassignment of the partial it points at (data/tuning.reassigned: a fraction of a cent on a
    steady tone, where YIN's interpolation is off by several cents on real instruments) wherever
    that lies within 50 cents of pYIN (else pYIN's own)."""
    import librosa

    from autotune_keras.data.tuning import reassigned

    audio = np.asarray(audio, np.float32)
    frames = {"sr": contract.SAMPLE_RATE, "frame_length": frame, "hop_length": hop}
    coarse, voiced, _ = librosa.pyin(audio, fmin=contract.PITCH_MIN_HZ, fmax=contract.PITCH_MAX_HZ, **frames)
    coarse = np.where(voiced, np.nan_to_num(coarse), 0.0)
    fine = reassigned(audio, coarse, contract.SAMPLE_RATE, n_fft=frame, hop=hop, center=True)
    times = np.arange(len(coarse)) * hop / contract.SAMPLE_RATE
    return times, np.where(fine > 0, fine, coarse)


def steady_frames(target_hz_per_sample: np.ndarray, centres: np.ndarray, frame: int = PYIN_FRAME) -> np.ndarray:
    """True for analysis frames (``frame`` samples centred on ``centres``) that see one voiced
    target note throughout: the frames on which "the scale note" of the output is defined. A frame
    straddling a note change measures a mix of two notes (the exactly-in-tune target itself fails
    there), so the pitch-on-target score is taken on steady frames."""
    target = np.asarray(target_hz_per_sample, np.float64)
    log_target = np.log2(np.maximum(target, 1e-3))
    unsteady = np.ones(len(target), np.int64)  # a sample that is unvoiced or starts a new note
    unsteady[1:] = (np.abs(np.diff(log_target)) > 1 / 1200) | (target[1:] <= 0)
    unsteady[0] = target[0] <= 0
    counts = np.concatenate([[0], np.cumsum(unsteady)])
    first = np.clip(np.asarray(centres) - frame // 2, 0, len(target) - 1)
    stop = np.clip(np.asarray(centres) + frame // 2, 1, len(target))
    # no unvoiced sample or note change after the first sample, and the first sample voiced
    return (counts[stop] - counts[first + 1] == 0) & (target[first] > 0)


def pitch_on_target(
    output: np.ndarray,
    target_hz_per_sample: np.ndarray,
    tolerance_cents: float = 10.0,
    scale: tuple[str, str] | None = None,
    frame: int = PYIN_FRAME,
    verifiable: np.ndarray | None = None,
) -> dict:
    """pYIN's pitch of ``output`` against the target note: the share of steady frames (one voiced
    target note across the analysis window, see ``steady_frames``) within ``tolerance_cents``
    (``within``; a frame pYIN calls unvoiced counts as a miss), and the same over every frame
    where the target is voiced (``within_all_frames``, note changes included). With
    ``scale=(key, name)`` also the share of steady frames within ``tolerance_cents`` of whichever
    note of the scale is nearest (``within_any_scale_note``: on a note of the scale, not
    necessarily the target's). ``frame``: pYIN's analysis window (shorter sees faster deviations).
    ``verifiable``: a per-frame mask (e.g. the frames on which the exactly-in-tune twin itself
    measures on target); with it, ``within_verifiable`` is the share of those steady frames within
    tolerance. ``hits``: the per-frame hit mask itself."""
    times, f0 = pyin_pitch(output, frame=frame)
    index = np.clip(np.round(times * contract.SAMPLE_RATE).astype(int), 0, len(target_hz_per_sample) - 1)
    target = np.asarray(target_hz_per_sample, np.float64)[index]
    voiced = target > 0
    steady = steady_frames(target_hz_per_sample, index, frame) & voiced
    if not voiced.any():
        nan = float("nan")
        return {"frames": 0, "frames_all": 0, "within": nan, "within_all_frames": nan, "median_abs_cents": nan,
                "hits": np.zeros(len(target), bool), "frames_verifiable": 0, "within_verifiable": nan}  # fmt: skip
    error = np.where(f0 > 0, 1200 * np.log2(np.maximum(f0, 1e-3) / np.maximum(target, 1e-3)), np.inf)
    hit = np.abs(error) <= tolerance_cents
    mean = lambda mask, values: float(np.mean(values[mask])) if mask.any() else float("nan")  # noqa: E731
    scores = {
        "frames": int(steady.sum()),
        "frames_all": int(voiced.sum()),
        "within": mean(steady, hit),
        "within_all_frames": mean(voiced, hit),
        "median_abs_cents": float(np.median(np.abs(error[steady]))) if steady.any() else float("nan"),
        "hits": hit & steady,
    }
    if verifiable is not None:
        checked = steady & np.asarray(verifiable[: len(steady)], bool)
        scores["frames_verifiable"] = int(checked.sum())
        scores["within_verifiable"] = mean(checked, hit)
    if scale is not None:
        from autotune_keras import music

        nearest = music.quantize_hz_to_scale(f0, *scale)
        off = np.where(f0 > 0, 1200 * np.log2(np.maximum(f0, 1e-3) / np.maximum(nearest, 1e-3)), np.inf)
        scores["within_any_scale_note"] = mean(steady, np.abs(off) <= tolerance_cents)
    return scores
