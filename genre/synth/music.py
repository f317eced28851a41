"""Rendering one clip: ``render_track`` turns an artist style and per-track randomness into audio.

Owns the renderer's top level: it asks ``genre.synth.arrangement`` for the track's plan and note
events, plays drums, parts and texture with ``genre.synth.sources``, pans and sends the stems,
and masters the mix with ``genre.synth.effects``. Styles come from ``genre.synth.style``, genres
and their profiles from ``genre.synth.profiles``.

It hands on a float32 ``(samples, channels)`` array, finite, peak below 0.99 and never silent.
The FMA-shaped tree, metadata, encoding and features belong to the callers. Every draw comes
from the ``numpy.random.Generator`` passed in; same style and same generator state give
bit-identical audio.
"""

from __future__ import annotations

import numpy as np

from genre.synth.arrangement import (
    STEPS_PER_BAR,
    Event,
    Track,
    bass_events,
    chord_events,
    lead_events,
    plan_track,
    step_time,
)
from genre.synth.effects import feedback_delay, master, pump_gain, reverb_returns
from genre.synth.profiles import GENRES, PROFILES
from genre.synth.sources import (
    SUSTAINED,
    TIMBRES,
    articulate,
    drum_kit,
    note_shape,
    oscillator,
    place,
    tone,
    upsample,
    wavetable,
)
from genre.synth.style import ArtistStyle


def _render_notes(tr: Track, timbre: str, events: list[Event], rng: np.random.Generator, out: np.ndarray) -> None:
    """Mix (time_s, duration_s, midi, velocity) events of one timbre into the mono stem ``out``."""
    if not events:
        return
    tb = TIMBRES[timbre]
    tail = 0.08 if timbre in SUSTAINED else 0.5 * tb.decay
    lengths = [int(tr.sr * min(max(dur, 0.05) + tail, 4.0)) for _, dur, _, _ in events]
    # A part plays few pitches in many lengths: one oscillator per pitch, as long as its longest note.
    longest: dict[float, tuple[float, int]] = {}
    for (_, _, midi, _), n in zip(events, lengths, strict=True):
        first, most = longest.get(round(midi, 2), (midi, 0))
        longest[round(midi, 2)] = (first, max(most, n))
    t, env, fall = note_shape(tb, max(lengths), tr.sr)
    waves = {key: tone(timbre, midi, (t[:n], env[:n], fall[:n]), tr.sr, rng) for key, (midi, n) in longest.items()}
    notes: dict[tuple[float, int], np.ndarray] = {}
    for (time, _, midi, vel), n in zip(events, lengths, strict=True):
        key = (round(midi, 2), n)
        if key not in notes:
            notes[key] = articulate(tb, waves[key[0]], env, n, tr.sr)
        place(out, int(time * tr.sr), notes[key], vel)


def _render_drums(tr: Track, style: ArtistStyle, rng: np.random.Generator, out: np.ndarray) -> None:
    kit = drum_kit(style.kit, style.kick_tune, tr.sr, rng)
    steps = np.arange(tr.n_steps)
    bars = steps // STEPS_PER_BAR
    on = tr.active[bars, 0]
    times = step_time(tr, steps) + rng.normal(0, style.humanize + 1e-9, tr.n_steps)
    for row, sound in zip(tr.pattern, ("kick", "snare", "hat", "perc"), strict=True):
        chars = np.array(list(row))[steps % len(row)]
        hit = ((chars == "x") | (chars == "O") | ((chars == "o") & (rng.random(tr.n_steps) < 0.6))) & on
        vel = np.where(chars == "o", 0.55, 1.0) * rng.uniform(0.8, 1.0, tr.n_steps) * tr.section_gain[bars]
        for i in np.flatnonzero(hit):
            wave = kit["open"] if chars[i] == "O" else kit[sound]
            place(out, int(times[i] * tr.sr), wave, float(vel[i]))
    # Snare fill at the end of some bars (music-like phrase endings).
    for bar in np.flatnonzero(tr.active[:, 0] & (rng.random(len(tr.active)) < 0.15)):
        for i in range(bar * STEPS_PER_BAR + 12, bar * STEPS_PER_BAR + 16):
            place(out, int(times[i] * tr.sr), kit["snare"], 0.4 + 0.15 * (i % 4))


def _texture(tr: Track, style: ArtistStyle, rng: np.random.Generator) -> np.ndarray:
    n, sr = tr.n, tr.sr
    if style.texture == "drone":  # tanpura/organ-like pedal on the tonic, looped cheaply
        freq = 440.0 * 2.0 ** ((36 + tr.key + 12 * int(rng.integers(2)) - 69) / 12)
        cycles = max(1, round(2.0 * freq))
        loop = oscillator(wavetable(1.5, 12, False), freq, round(cycles * sr / freq), sr, 0)
        lfo = 0.7 + 0.3 * np.sin(2 * np.pi * 0.2 * np.arange(n // 256 + 2) * 256 / sr)
        return 0.25 * np.resize(loop, n) * upsample(lfo.astype(np.float32), 256, n)
    if style.texture == "noise":  # slowly breathing low-passed noise bed
        m = n // 16 + 2
        noise = rng.standard_normal(m).astype(np.float32)
        swell = 0.6 + 0.4 * np.sin(2 * np.pi * 0.1 * np.arange(m) * 16 / sr + rng.uniform(0, 6))
        return 0.2 * upsample(noise * swell.astype(np.float32), 16, n)
    if style.texture == "glitch":  # stuttered noise and beep fragments on the grid
        out = np.zeros(n, dtype=np.float32)
        for step in rng.choice(tr.n_steps, size=tr.n_steps // 6, replace=False):
            m = int(tr.step_s * sr * rng.uniform(0.2, 1.0))
            wave = (
                rng.standard_normal(m)
                if rng.random() < 0.5
                else np.sign(np.sin(2 * np.pi * rng.uniform(300, 3000) * np.arange(m) / sr))
            )
            start = step_time(tr, int(step)) * sr
            for rep in range(int(rng.integers(1, 4))):  # stutter: the fragment repeats back to back
                place(out, int(start) + rep * m, wave.astype(np.float32), 0.2)
        return out
    return np.zeros(n, dtype=np.float32)


Stem = tuple[float, float, float]  # gain, pan in -1..1, reverb send of one row of the stems


def _stems(tr: Track, style: ArtistStyle, rng: np.random.Generator) -> tuple[np.ndarray, list[Stem]]:
    """Render the parts present in this track as mono stems, one row each of a (stems, n) array."""
    gain = (10 ** ((np.array(style.mix_db) + rng.normal(0, 1.0, 5)) / 20)).tolist()  # per-track balance
    pump = pump_gain(tr, style.pump) if style.pump else None
    rows = np.zeros((5, tr.n), dtype=np.float32)  # pages of rows left unused are never touched
    stems: list[Stem] = []
    if tr.drums:
        _render_drums(tr, style, rng, rows[len(stems)])
        stems.append((gain[0], 0.0, 0.3))
    if tr.bass != "none":
        bass = rows[len(stems)]
        _render_notes(tr, tr.bass, bass_events(tr, style, rng), rng, bass)
        if pump is not None:
            bass *= pump
        stems.append((gain[1], 0.0, 0.1))
    if tr.chords != "none":
        chords = rows[len(stems)]
        _render_notes(tr, tr.chords, chord_events(tr, rng, style.atonal), rng, chords)
        if pump is not None:
            chords *= pump
        stems.append((gain[2], -style.width, 0.8))
    if tr.lead != "none":
        lead = rows[len(stems)]
        _render_notes(tr, tr.lead, lead_events(tr, style, rng), rng, lead)
        if style.delay:
            lead[:] = feedback_delay(lead, int(tr.step_s * tr.sr * int(rng.choice([2, 3, 4]))), style.delay)
        stems.append((gain[3], style.width * 0.5, 1.0))
    if style.texture != "none":
        rows[len(stems)] = _texture(tr, style, rng)
        stems.append((gain[4], float(rng.uniform(-1, 1)) * style.width, 0.6))
    return rows[: len(stems)], stems


def render_track(
    style: ArtistStyle, rng: np.random.Generator, *, seconds: float = 30.0, sample_rate: int = 44100, channels: int = 2
) -> np.ndarray:
    """Render one clip of ``style``: float32 ``(round(seconds * sample_rate), channels)``.

    Per-track variation (tempo jitter, key, progression, parts, sections, mix) comes from
    ``rng``. The result is finite, its peak is at most 0.99 and it is never silent.
    """
    if style.genre not in PROFILES:
        raise ValueError(f"unknown genre {style.genre!r}; expected one of {', '.join(GENRES)}")
    if round(seconds * sample_rate) < 1 or sample_rate < 8000 or channels not in (1, 2):
        raise ValueError(
            f"need at least one sample, sample_rate >= 8000, channels 1 or 2; got {seconds}, {sample_rate}, {channels}"
        )
    tr = plan_track(style, rng, seconds, sample_rate)
    rows, stems = _stems(tr, style, rng)
    # One matrix product mixes every stem into each channel (constant-power pan law, unity gain in
    # the centre) and into the reverb's mono send: one pass over the stems, no temporaries.
    angles = [(pan + 1) * np.pi / 4 for _, pan, _ in stems]
    pans = [[1.0] * len(stems)] if channels == 1 else [np.sqrt(2) * np.cos(angles), np.sqrt(2) * np.sin(angles)]
    gains = np.array([gain for gain, _, _ in stems]) * np.array([*pans, [send for _, _, send in stems]])
    mix = gains.astype(np.float32) @ rows
    out, send = mix[:channels], mix[channels]  # channel-major: contiguous rows are faster
    if style.reverb > 0.01:  # mono send, decorrelated return per channel
        level = style.reverb * 1.5
        for c, wet in enumerate(reverb_returns(send, tr.sr, 0.6 + 2.5 * style.reverb, channels, level, rng)):
            out[c] += wet
    return master(out, tr, style, rng)
