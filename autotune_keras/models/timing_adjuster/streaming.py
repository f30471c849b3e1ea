"""TimingAdjustmentNet, the engine-facing model: moves each note's attack onto the tempo grid in a
stream, keeping attacks sharp and pitch untouched.

Each call takes a 2048-sample ``audio_sequence``, the ``target_tempo`` and the
``musical_context`` (grid step in beats, the grid's phase at the sequence's first sample,
strength; contract.TIMING_CONTEXT) and returns 2048 samples of ``adjusted_audio``:

* The onset network (network.py) finds at most one onset among the hops it analyses (the band
  energies of frames heard in earlier calls come from the state: only the new ones are computed);
  its position is refined between hops, and its distance to the nearest grid line is the shift
  that note needs (none under 1.5 ms: notes on the grid stay put; scaled by the strength, and by
  how sure the network is: (likelihood - threshold) / ``confidence_ramp``, up to 1). It
  waits in a small queue (state) until the read head gets there. Onsets nearest the same grid
  line can be moved as one block instead (``same_line_onsets``; off by default).
* The output is read from the delay line (state) at ratio 1, so pitch never moves. A note played
  early needs more delay when its attack is read, a late one less: the delay changes by a jump of
  the read head placed in a steady stretch (at least ``hold`` after the last attack, ``guard``
  before the next; a repeat a further ``hold`` and its own length later, so what it repeats is
  steady too), to the lag within +-``search`` of the wanted one whose waveform matches best
  (WSOLA), crossfaded. Attacks are never jumped over or repeated, so each moves as a block.
* Unmoved audio comes out ``latency_samples`` late (238 ms in the shipped model): a late note
  can be moved earlier by up to ``max_shift`` only because the output is that far behind.
"""

from __future__ import annotations

import math

import tensorflow as tf

from autotune_keras import contract
from autotune_keras.models.layers import finite_or_zero, silence_non_finite_rows
from autotune_keras.models.timing_adjuster.network import TimingConfig, band_power, log_features
from autotune_keras.tfk import keras

SLOTS = 8  # onsets waiting between the write head and the read head
ANCHOR_CONFIDENCE = 0.01  # the confidence an attack seen by the flux alone is queued with
FLUX_LAG = 4  # hops between the frames whose level the flux compares (one 512-sample frame)
NAMES = contract.TimingTensors
BIG = 1e9


def _pick(probability: tf.Tensor, cfg: TimingConfig, apart_from: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    """The most likely onset: (position from the write head in samples [b, 1], probability [b, 1]);
    the position is refined between hops by a parabola through the three frames around the peak.
    With ``apart_from`` (a hop index [b, 1]), the most likely peak at least ``min_gap`` from it
    (probability 0 where there is none)."""
    frames = cfg.analysed_frames
    candidates = probability
    if cfg.defer_rising_edge:  # the run of rising hops that ends the block waits for the next call
        # while its last hop is one whose shift the confidence ramp would scale down
        rising = tf.cast(probability[:, 1:] > probability[:, :-1], tf.float32)
        final_rise = tf.concat([tf.math.cumprod(rising, axis=1, reverse=True), rising[:, -1:]], axis=1) > 0.5
        unsure = probability[:, -1:] < cfg.onset_threshold + cfg.confidence_ramp
        candidates = tf.where(final_rise & unsure, 0.0, candidates)
    if apart_from is not None:
        hops = tf.range(frames)[None, :]
        far = tf.abs(hops - apart_from) * cfg.hop >= cfg.min_gap
        left_of, right_of = tf.pad(probability[:, :-1], [[0, 0], [1, 0]]), tf.pad(probability[:, 1:], [[0, 0], [0, 1]])
        peak = (probability >= left_of) & (probability >= right_of)  # not the shoulder of the other one
        candidates = tf.where(far & peak, candidates, 0.0)
    k = tf.argmax(candidates, axis=1, output_type=tf.int32)[:, None]
    p = tf.gather(candidates, k, batch_dims=1)
    left = tf.gather(probability, tf.maximum(k - 1, 0), batch_dims=1)
    right = tf.gather(probability, tf.minimum(k + 1, frames - 1), batch_dims=1)
    curvature = left - 2.0 * p + right
    delta = tf.where(curvature < 0.0, tf.clip_by_value(0.5 * (left - right) / tf.minimum(curvature, -1e-6), -0.5, 0.5), 0.0)
    frame = tf.cast(k, tf.float32) + delta + float(cfg.first_analysed)
    return frame * cfg.hop - float(cfg.window_samples), p


def _flux_pick(energies: tf.Tensor, cfg: TimingConfig) -> tuple[tf.Tensor, tf.Tensor]:
    """The analysed hop where the mel bands' log power rose most over FLUX_LAG hops: (position
    from the write head in samples [b, 1], as :func:`_pick` gives it; the mean rise in dB [b, 1])."""
    level = 10.0 * tf.math.log(energies[:, :, : cfg.bands] + 1e-12) / math.log(10.0)
    level = tf.maximum(level, tf.reduce_max(level, axis=[1, 2], keepdims=True) - cfg.flux_floor_db)
    rise = tf.reduce_mean(tf.nn.relu(level[:, FLUX_LAG:] - level[:, :-FLUX_LAG]), axis=2)  # rise[k]: frame k + LAG against k
    first = cfg.first_analysed - FLUX_LAG
    flux = rise[:, first : first + cfg.analysed_frames]
    k = tf.argmax(flux, axis=1, output_type=tf.int32)[:, None]
    # frame k ends with hop k; its level rises most when the attack is 3 hops into it (measured on
    # decaying harmonic notes: the Hann window's middle, and a hop of the attack's growth)
    frame = tf.cast(k, tf.float32) + float(cfg.first_analysed) - float(FLUX_LAG - 1)
    return frame * cfg.hop - float(cfg.window_samples), tf.gather(flux, k, batch_dims=1)


def _peak_hop(position: tf.Tensor, cfg: TimingConfig) -> tf.Tensor:
    """The analysed hop index [b, 1] nearest a position :func:`_pick` returned."""
    return tf.cast(tf.round((position + float(cfg.window_samples)) / cfg.hop), tf.int32) - cfg.first_analysed


def _grid_units(position: tf.Tensor, tempo: tf.Tensor, context: tf.Tensor, cfg: TimingConfig) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Where ``position`` (from the write head) lies on the grid, in grid steps from a grid line;
    the step in samples; whether tempo and grid are usable."""
    step_beats, phase = context[:, 0:1], context[:, 1:2]
    step = 60.0 / tf.maximum(tempo, 1e-3) * step_beats * float(contract.SAMPLE_RATE)
    usable = (tempo > 0.0) & (step_beats > 0.0)
    return (position + float(cfg.sequence)) / tf.maximum(step, 1.0) + phase, step, usable  # the sequence starts at -N


def _grid_shift(position: tf.Tensor, tempo: tf.Tensor, context: tf.Tensor, cfg: TimingConfig) -> tf.Tensor:
    """Samples that move an onset at ``position`` (from the write head) to its nearest grid line."""
    strength = tf.clip_by_value(context[:, 2:3], 0.0, 1.0)
    grid_units, step, usable = _grid_units(position, tempo, context, cfg)
    shift = (tf.round(grid_units) - grid_units) * step
    shift = tf.where(tf.abs(shift) < cfg.on_grid_tolerance, 0.0, shift)
    return tf.where(usable, tf.clip_by_value(shift, -float(cfg.max_shift), float(cfg.max_shift)) * strength, 0.0)


def _best_lag(history: tf.Tensor, start: tf.Tensor, wanted: tf.Tensor, cfg: TimingConfig) -> tf.Tensor:
    """WSOLA: the lag within +-search of ``wanted`` (samples further back) at which the delay
    line, read from ``start`` (an index), best continues what the read head plays from there."""
    size = tf.shape(history)[1]
    offsets = tf.range(cfg.match)[None, :]
    reference = tf.gather(history, tf.clip_by_value(start + offsets, 0, size - 1), batch_dims=1)  # [b, match]
    lags = wanted + tf.range(-cfg.search, cfg.search + 1)[None, :]  # [b, candidates]
    index = tf.clip_by_value(start[:, :, None] - lags[:, :, None] + offsets[:, None, :], 0, size - 1)
    candidates = tf.gather(history, index, batch_dims=1)  # [b, candidates, match]
    dot = tf.reduce_sum(candidates * reference[:, None, :], axis=2)
    energy = tf.reduce_sum(candidates * candidates, axis=2) * tf.reduce_sum(reference * reference, axis=1, keepdims=True)
    # the best match, leaning towards the wanted lag: a match 1 % better is not worth a lag
    # search / 4 samples further off (each sample off is a sample of timing error)
    distance = tf.abs(tf.range(-cfg.search, cfg.search + 1, dtype=tf.float32))[None, :] / float(cfg.search)
    score = dot / tf.sqrt(energy + 1e-9) - 0.04 * distance
    best = tf.argmax(score, axis=1, output_type=tf.int32)[:, None]
    return tf.gather(lags, best, batch_dims=1)


def _quietest(history: tf.Tensor, first: tf.Tensor, last: tf.Tensor, change: tf.Tensor, fallback: tf.Tensor, cfg: TimingConfig) -> tf.Tensor:
    """Where (from the write head, [b, 1]) a jump by ``change`` samples is least heard: among
    candidates every 64 samples from ``first`` over ``quiet_window`` and up to ``last``, 23 ms
    past the rise of the note being played and before the next attack (one the network missed,
    or a sung note's consonant ahead of its onset), the one whose crossfade blends the quietest
    stretches of the old and the new read head (the earlier of two nearly as quiet);
    ``fallback`` when none qualifies."""
    size = tf.shape(history)[1]
    steps = cfg.quiet_window // 64 + 1
    candidates = first + 64.0 * tf.range(steps, dtype=tf.float32)[None, :]  # [b, steps]
    offsets = tf.range(cfg.crossfade)[None, None, :]

    def level(position: tf.Tensor) -> tf.Tensor:
        index = tf.clip_by_value(tf.cast(position, tf.int32)[:, :, None] + size + offsets, 0, size - 1)
        return 10.0 * tf.math.log(tf.reduce_mean(tf.square(tf.gather(history, index, batch_dims=1)), axis=2) + 1e-10) / math.log(10.0)

    old = level(candidates)
    step = tf.range(steps)
    soon = (step[None, :] > step[:, None]) & (step[None, :] <= step[:, None] + 16)  # [j, i]: i within 23 ms after j
    lately = (step[None, :] < step[:, None]) & (step[None, :] >= step[:, None] - 16)  # i within 23 ms before j
    ahead = tf.reduce_max(tf.where(soon[None], old[:, None, :], -1e9), axis=2)
    behind = tf.reduce_min(tf.where(lately[None], old[:, None, :], 1e9), axis=2)
    # unsteady: the level rises by 3 dB within 23 ms, or rose so in the last 23 ms (the note
    # being played is still getting louder); once it has been steady, a rise of quiet_attack_db is
    # an attack the network missed, and nothing after it may be chosen
    unsteady = (ahead > old + 3.0) | (old > behind + 3.0)
    settled = tf.cumsum(tf.cast(tf.logical_not(unsteady), tf.float32), axis=1) > 0.0
    attack = tf.cast((ahead > old + cfg.quiet_attack_db) & settled, tf.float32)
    allowed = tf.logical_not(unsteady | (tf.cumsum(attack, axis=1, exclusive=True) > 0.0)) & (candidates <= last)
    score = tf.maximum(old, level(candidates - change)) + 3.0 * tf.cast(step, tf.float32)[None, :] / steps
    best = tf.argmin(tf.where(allowed, score, 1e9), axis=1, output_type=tf.int32)[:, None]
    return tf.where(tf.reduce_any(allowed, axis=1, keepdims=True), tf.gather(candidates, best, batch_dims=1), fallback)


def _enqueue(found: tf.Tensor, likelihood: tf.Tensor | None, queue: tuple[tf.Tensor, tf.Tensor, tf.Tensor], last_attack: tf.Tensor,
             tempo: tf.Tensor, context: tf.Tensor, finite: tf.Tensor, cfg: TimingConfig,
             anchor: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:  # fmt: skip
    """The onset queue (positions, shifts, confidences [b, SLOTS]) with an onset found at ``found``
    queued (with the shift that puts it on the grid), or put in place of the newest queued one.
    Where ``anchor`` ([b, 1]) is true, ``found`` is an attack seen without the network: queued
    unmoved, with ``ANCHOR_CONFIDENCE``, nothing replaced."""
    positions, shifts, confidences = queue
    valid = confidences > 0.0
    latest = tf.maximum(tf.reduce_max(tf.where(valid, positions, -BIG), axis=1, keepdims=True), last_attack)
    queue_threshold = cfg.anchor_threshold if 0.0 < cfg.anchor_threshold < cfg.onset_threshold else cfg.onset_threshold
    if anchor is not None:  # likelihood is None
        likelihood = tf.where(anchor, ANCHOR_CONFIDENCE, 0.0)
        queue_threshold = ANCHOR_CONFIDENCE
    gap = float(max(cfg.min_gap, cfg.anchor_gap))
    accept = (likelihood >= queue_threshold) & (found - latest >= tf.where(likelihood < cfg.onset_threshold, gap, float(cfg.min_gap))) & finite
    # an anchor (queued below onset_threshold), or with likelier_replaces any queued onset,
    # gives way to a likelier peak within min_gap (an anchor: anchor_gap) after it
    newest = tf.argmax(tf.where(valid, positions, -BIG), axis=1, output_type=tf.int32)[:, None]
    newest_confidence = tf.where(tf.reduce_any(valid, axis=1, keepdims=True), tf.gather(confidences, newest, batch_dims=1), 1.0)
    weak = newest_confidence < cfg.onset_threshold
    yields = tf.ones_like(newest_confidence, tf.bool) if cfg.likelier_replaces else weak
    reach = tf.where(weak, gap, float(cfg.min_gap))
    replace = yields & (likelihood > newest_confidence) & (likelihood >= queue_threshold)
    replace &= (found - tf.gather(positions, newest, batch_dims=1) < reach) & finite
    replace &= tf.logical_not(accept) | (found - latest < reach)  # past min_gap only while the anchor is the latest
    if anchor is not None:
        replace = tf.zeros_like(replace)
    accept &= tf.logical_not(replace)
    shift = _grid_shift(found, tempo, context, cfg)
    shift = tf.where(likelihood >= cfg.onset_threshold, shift, 0.0)  # an anchor stays where it was played
    if cfg.confidence_ramp > 0.0:  # an onset the network is unsure of moves less (a false one,
        # such as a sung consonant ahead of its note, moves the wrong stretch)
        shift *= tf.clip_by_value((likelihood - cfg.onset_threshold) / cfg.confidence_ramp, 0.0, 1.0)
    free = tf.cast(tf.logical_not(valid), tf.float32)
    slot = tf.where(
        tf.reduce_max(free, axis=1, keepdims=True) > 0.0,
        tf.argmax(free, axis=1, output_type=tf.int32)[:, None],
        tf.argmin(tf.where(valid, positions, BIG), axis=1, output_type=tf.int32)[:, None],
    )
    if cfg.same_line_onsets != "separate":  # queued onsets nearest the same grid line move with this one as a block
        line, _, usable = _grid_units(found, tempo, context, cfg)
        queued_lines, _, _ = _grid_units(positions, tempo, context, cfg)
        same_line = valid & (positions < found) & (tf.round(queued_lines) == tf.round(line)) & usable & accept
        block_shift = shift
        if cfg.same_line_onsets == "likelier":  # the shift of the onset the network is surest of
            surest = tf.argmax(tf.where(same_line, confidences, -1.0), axis=1, output_type=tf.int32)[:, None]
            queued_wins = tf.reduce_max(tf.where(same_line, confidences, -1.0), axis=1, keepdims=True) > likelihood
            block_shift = tf.where(queued_wins, tf.gather(shifts, surest, batch_dims=1), shift)
            shift = block_shift
        shifts = tf.where(same_line, block_shift, shifts)
    put = (tf.one_hot(slot[:, 0], SLOTS) > 0.5) & accept | (tf.one_hot(newest[:, 0], SLOTS) > 0.5) & replace
    positions = tf.where(put, found, positions)
    shifts = tf.where(put, shift, shifts)
    confidences = tf.where(put, likelihood, confidences)
    return positions, shifts, confidences


def _next_onset(positions: tf.Tensor, among: tf.Tensor) -> tf.Tensor:
    """Index [b, 1] of the earliest onset among the queued ones marked ``among``."""
    return tf.argmin(tf.where(among, positions, BIG), axis=1, output_type=tf.int32)[:, None]


class StreamingTimingAdjuster(tf.Module):
    """(audio_sequence [b,2048], target_tempo [b,1], musical_context [b,3], state...) ->
    adjusted_audio [b,2048], timing_confidence [b,1], state_out..."""

    STATE = NAMES.STATE

    def __init__(self, network: keras.Model, cfg: TimingConfig):
        super().__init__(name="timing_adjuster")
        self.network = network
        self.cfg = cfg

    def __call__(
        self,
        audio_sequence: tf.Tensor,
        target_tempo: tf.Tensor,
        musical_context: tf.Tensor,
        audio_state: tf.Tensor,
        read_delay: tf.Tensor,
        onset_positions: tf.Tensor,
        onset_shifts: tf.Tensor,
        onset_confidences: tf.Tensor,
        since_onset: tf.Tensor,
        band_energies: tf.Tensor,
    ) -> dict[str, tf.Tensor]:
        cfg = self.cfg
        n = cfg.sequence
        size = cfg.history_samples
        audio_sequence, finite = silence_non_finite_rows(audio_sequence)
        tempo, context = finite_or_zero(target_tempo), finite_or_zero(musical_context)
        history = tf.concat([finite_or_zero(audio_state), audio_sequence], axis=1)[:, n:]  # write head at index `size`
        positions = finite_or_zero(onset_positions) - float(n)  # the write head moved on by a sequence
        shifts, confidences = finite_or_zero(onset_shifts), tf.clip_by_value(finite_or_zero(onset_confidences), 0.0, 1.0)
        since = tf.clip_by_value(finite_or_zero(since_onset), 0.0, BIG)
        delay = tf.clip_by_value(tf.round(finite_or_zero(read_delay)) + float(cfg.latency_samples), float(cfg.min_delay), float(cfg.max_delay))
        start = -float(n) - delay  # where the read head is (from the write head) at the block's first sample

        # 1. an onset among the analysed hops, and the shift that puts it on the grid; only the
        # newest frames' band energies are computed, the earlier ones come from the state
        new = band_power(history[:, size - cfg.preroll - n :], cfg)
        energies = tf.concat([tf.maximum(finite_or_zero(band_energies), 0.0), new], axis=1)
        probability = tf.sigmoid(self.network(log_features(energies, cfg), training=False))
        found, likelihood = _pick(probability, cfg)
        picks = [(found, likelihood, None)]
        if cfg.onsets_per_call > 1:  # a second peak at least min_gap from the first: two notes close
            # together (a late one and an early one after it) may fall among one call's hops
            other, other_likelihood = _pick(probability, cfg, apart_from=_peak_hop(found, cfg))
            first = found <= other  # queued in the order they were played
            picks = [(tf.where(first, found, other), tf.where(first, likelihood, other_likelihood), None),
                     (tf.where(first, other, found), tf.where(first, other_likelihood, likelihood), None)]  # fmt: skip
        if cfg.flux_anchor_db > 0.0:  # an attack the flux sees, queued in its place among the
            # network's picks (the queue takes onsets in the order they were played)
            flux_at, rise = _flux_pick(energies, cfg)
            seen = rise >= cfg.flux_anchor_db
            bounds = [-BIG, *(pick[0] for pick in picks), BIG]
            anchors = [(flux_at, None, seen & (flux_at >= lower) & (flux_at < upper)) for lower, upper in zip(bounds, bounds[1:], strict=False)]
            picks = [item for anchor, pick in zip(anchors, picks, strict=False) for item in (anchor, pick)] + anchors[-1:]
        for found, likelihood, anchor in picks:
            positions, shifts, confidences = _enqueue(found, likelihood, (positions, shifts, confidences), start - since, tempo, context,
                                                      finite, cfg, anchor)  # fmt: skip
        valid = confidences > 0.0

        # 2. the delay the next onset to be read needs, and where the read head may jump to it
        ahead = valid & (positions >= start)
        has_next = tf.reduce_any(ahead, axis=1, keepdims=True)
        following = _next_onset(positions, ahead)
        next_position = tf.gather(positions, following, batch_dims=1)
        next_shift = tf.gather(shifts, following, batch_dims=1)
        last_attack = start - since
        if cfg.plan_past_placed_onsets:  # the next onset already has its delay: plan the one after it,
            # whose jump may then come after that attack in this same block
            later = ahead & (positions > next_position)
            placed = (tf.abs(tf.round(float(cfg.latency_samples) + next_shift) - delay) < float(cfg.on_grid_tolerance)) & has_next
            past = placed & tf.reduce_any(later, axis=1, keepdims=True) & (next_position < start + float(n))
            after = _next_onset(positions, later)
            last_attack = tf.where(past, next_position, last_attack)
            next_shift = tf.where(past, tf.gather(shifts, after, batch_dims=1), next_shift)
            next_position = tf.where(past, tf.gather(positions, after, batch_dims=1), next_position)
        if cfg.share_tight_moves:  # the delay can change between the next onset and the one after it
            # only in the stretch between them past the hold, guard and crossfade: a skip by at most
            # that stretch, a repeat by at most that stretch per block the output spends there (one
            # jump per block); a wider change is split
            after = ahead & (positions > next_position)
            has_after = has_next & tf.reduce_any(after, axis=1, keepdims=True)
            second = _next_onset(positions, after)
            stretch = tf.gather(positions, second, batch_dims=1) - next_position - float(cfg.hold + cfg.guard + cfg.crossfade)
            wanted_change = tf.gather(shifts, second, batch_dims=1) - next_shift
            blocks = 1.0 + tf.floor(tf.maximum(stretch + wanted_change, 0.0) / float(n))
            room = tf.maximum(stretch, 0.0) * tf.where(wanted_change > 0.0, blocks, 1.0)
            shortfall = tf.sign(wanted_change) * tf.maximum(tf.abs(wanted_change) - room, 0.0)
            next_shift = tf.where(has_after, next_shift + 0.5 * shortfall, next_shift)
        # with no onset ahead the head returns to the plain latency: a note the network missed is
        # left where it was played instead of inheriting the shift of the note before it
        wanted = tf.round(float(cfg.latency_samples) + tf.where(has_next, next_shift, 0.0))
        # steady after the last attack; a return to the plain latency (no onset ahead) waits longer
        low = last_attack + tf.where(has_next, float(cfg.hold), float(max(cfg.hold, cfg.return_hold)))
        # and before the next (a whole sample: a jump placed there is then not refused for landing
        # a fraction of a sample past it)
        high = tf.where(has_next, tf.floor(next_position - float(cfg.guard + cfg.crossfade)), BIG)
        change = wanted - delay
        # a skip (less delay) jumps as soon as the attack is held; a repeat (more delay) once the
        # head is a further hold and the repeat's length past that, so the repeated stretch is
        # steady too (measured better on sung phrases than repeating right after the hold), and
        # before the next attack's guard. A jump beyond this block waits for the next block
        repeat = tf.maximum(change, 0.0)
        target = tf.where(repeat > 0.0, tf.minimum(low + float(cfg.hold) + repeat, high), low)
        if cfg.quiet_jumps != "fixed":  # where the jump is least heard, before the next attack
            # a repeat's stretch starts after the hold; a skip's ends, and every crossfade does, a
            # hold before the next attack (closer, the onset-strength measure read the crossfade
            # as part of that attack; on validation the rule measured level: BENCHMARKS)
            before_next = next_position - float(cfg.hold + cfg.crossfade) + tf.minimum(change, 0.0)
            quiet = _quietest(history, low + repeat, tf.where(has_next, before_next, BIG), change, target, cfg)
            target = quiet if cfg.quiet_jumps == "all" else tf.where(has_next, target, quiet)
        at = tf.math.ceil(target - start)
        wait = (at > float(n - cfg.crossfade)) & (start + float(n) <= high)
        at = tf.clip_by_value(at, 0.0, float(n - cfg.crossfade))  # the sample it jumps at
        read = start + at
        change = tf.clip_by_value(change, read - high, read - low)  # land in the steady stretch
        change = tf.clip_by_value(change, float(cfg.min_delay) - delay, float(cfg.max_delay) - delay)
        if cfg.share_tight_moves:  # and a jump waits, while a later block could still make it, until
            # the network has heard far enough past the next onset to have found one too close after it
            heard_past = next_position + 2.0 * tf.abs(change) + float(cfg.hold + cfg.guard + cfg.crossfade) <= -float(cfg.lookahead)
            wait |= has_next & tf.logical_not(heard_past) & (start + float(n) + tf.maximum(-change, 0.0) <= high)
        jump = (read <= high) & (tf.abs(change) >= float(cfg.on_grid_tolerance)) & tf.logical_not(wait)  # a smaller change is not worth a jump
        from_index = tf.cast(float(size) + read, tf.int32)
        lag = tf.cast(_best_lag(history, from_index, tf.cast(tf.round(change), tf.int32), cfg), tf.float32)
        lag = tf.where(jump, tf.clip_by_value(tf.clip_by_value(lag, read - high, read - low), float(cfg.min_delay) - delay,
                                              float(cfg.max_delay) - delay), 0.0)  # fmt: skip

        # 3. the block: read at ratio 1; after the jump, crossfade from the old head to the new
        sample = tf.range(n, dtype=tf.float32)[None, :]
        old_index = tf.clip_by_value(tf.cast(float(size - n) + sample - delay, tf.int32), 0, size - 1)
        new_index = tf.clip_by_value(tf.cast(float(size - n) + sample - delay - lag, tf.int32), 0, size - 1)
        ramp = tf.clip_by_value((sample - at) / float(cfg.crossfade), 0.0, 1.0)
        fade = tf.where(tf.abs(lag) > 0.0, 0.5 - 0.5 * tf.cos(math.pi * ramp), 0.0)
        adjusted = (1.0 - fade) * tf.gather(history, old_index, batch_dims=1) + fade * tf.gather(history, new_index, batch_dims=1)

        # 4. onsets the read head passed: the newest sets `since`; they leave the queue
        delay_end = delay + lag
        end = -delay_end
        passed = valid & (positions < end)
        newest = tf.reduce_max(tf.where(passed, positions, -BIG), axis=1, keepdims=True)
        any_passed = tf.reduce_any(passed, axis=1, keepdims=True)
        since_end = tf.clip_by_value(tf.where(any_passed, end - newest, since + (end - start)), 0.0, BIG)
        confidence = tf.reduce_max(tf.where(passed, confidences, 0.0), axis=1, keepdims=True)
        return {
            NAMES.ADJUSTED_AUDIO: adjusted,
            NAMES.TIMING_CONFIDENCE: confidence,
            contract.state_output(NAMES.AUDIO_STATE): history,
            contract.state_output(NAMES.READ_DELAY): delay_end - float(cfg.latency_samples),
            contract.state_output(NAMES.ONSET_POSITIONS): tf.where(passed, 0.0, positions),
            contract.state_output(NAMES.ONSET_SHIFTS): tf.where(passed, 0.0, shifts),
            contract.state_output(NAMES.ONSET_CONFIDENCES): tf.where(passed, 0.0, confidences),
            contract.state_output(NAMES.SINCE_ONSET): since_end,
            contract.state_output(NAMES.BAND_ENERGIES): energies[:, cfg.new_frames :],
        }

    def input_signature(self, batch: int | None = None) -> list[tf.TensorSpec]:
        cfg = self.cfg
        return [
            tf.TensorSpec([batch, cfg.sequence], tf.float32, name=NAMES.AUDIO_SEQUENCE),
            tf.TensorSpec([batch, 1], tf.float32, name=NAMES.TARGET_TEMPO),
            tf.TensorSpec([batch, len(contract.TIMING_CONTEXT)], tf.float32, name=NAMES.MUSICAL_CONTEXT),
            tf.TensorSpec([batch, cfg.history_samples], tf.float32, name=NAMES.AUDIO_STATE),
            tf.TensorSpec([batch, 1], tf.float32, name=NAMES.READ_DELAY),
            tf.TensorSpec([batch, SLOTS], tf.float32, name=NAMES.ONSET_POSITIONS),
            tf.TensorSpec([batch, SLOTS], tf.float32, name=NAMES.ONSET_SHIFTS),
            tf.TensorSpec([batch, SLOTS], tf.float32, name=NAMES.ONSET_CONFIDENCES),
            tf.TensorSpec([batch, 1], tf.float32, name=NAMES.SINCE_ONSET),
            tf.TensorSpec([batch, cfg.frames - cfg.new_frames, cfg.features], tf.float32, name=NAMES.BAND_ENERGIES),
        ]

    def concrete_function(self, batch: int | None = None):
        """A traced function with the contract's input names (for SavedModel / TFLite / ONNX)."""
        return tf.function(self.__call__, input_signature=self.input_signature(batch)).get_concrete_function()
