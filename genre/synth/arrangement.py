"""Arrangement: one track's plan around an artist style, and its note events per part.

Owns :class:`Track` (tempo grid, key, progression, which parts play in which bar) drawn by
``plan_track``, and the events of the bass, chords and lead (``bass_events``, ``chord_events``,
``lead_events``) as ``(time s, duration s, MIDI pitch, velocity)`` tuples. It hands these on to
``genre.synth.music``, which turns them into sound; no audio is made here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from genre.synth.profiles import PATTERNS, SCALES
from genre.synth.sources import SUSTAINED
from genre.synth.style import ArtistStyle

Event = tuple[float, float, float, float]  # note: time (s), duration (s), MIDI pitch, velocity
STEPS_PER_BAR = 16


@dataclass(frozen=True)
class Track:
    """Per-track decisions: grid, harmony, parts, and the arrangement per bar."""

    sr: int
    n: int  # samples
    step_s: float  # seconds per 16th note
    swing: float
    offset_s: float  # the clip starts mid-song, so the grid is shifted
    n_steps: int
    key: int
    scale: tuple[int, ...]
    progression: tuple[int, ...]
    chord_steps: int  # harmonic rhythm
    drums: bool
    pattern: tuple[str, str, str, str]
    bass: str  # timbres; "none" = part absent
    chords: str
    lead: str
    section_gain: np.ndarray  # per bar, linear
    active: np.ndarray  # (bars, 4) bool: drums, bass, chords, lead


def _irregular_pattern(rng: np.random.Generator) -> tuple[str, str, str, str]:
    """Random kick/snare/hat/percussion rows of one odd length: loops that drift against the bar."""
    length = int(rng.choice([5, 7, 9, 11, 13]))
    rows = ("".join(np.where(rng.random(length) < p, "x", ".")) for p in (0.3, 0.2, 0.45, 0.25))
    kick, snare, hat, perc = rows
    return kick, snare, hat, perc


def plan_track(style: ArtistStyle, rng: np.random.Generator, seconds: float, sr: int) -> Track:
    """Draw one track around the artist style: tempo, key, progression, parts and sections."""
    tempo = float(np.clip(style.tempo * np.exp(rng.normal(0, style.tempo_jitter)), 50, 200))
    step_s = 60.0 / tempo / 4
    bar_s = step_s * STEPS_PER_BAR
    offset_s = float(rng.uniform(0, 4 * bar_s))
    n_bars = int(np.ceil((seconds + offset_s) / bar_s)) + 1
    name = style.patterns[0] if rng.random() < 0.7 else style.patterns[1]
    pattern = _irregular_pattern(rng) if name == "irregular" else PATTERNS[name]
    # Sections of 2-8 bars; quiet ones thin out the arrangement (intro, breakdown).
    section_len = int(rng.choice([2, 4, 8]))
    levels = rng.integers(0, 3, size=n_bars // section_len + 1).repeat(section_len)[:n_bars]
    gain = 10.0 ** (-style.dynamics_db * (2 - levels) / 2 / 20)
    keep = np.array([0.5, 0.8, 1.0])[levels][:, None] > rng.random((n_bars, 4))
    drums = bool(rng.random() < style.drum_prob)
    pairs = (style.bass, style.chords, style.lead)  # the artist's main timbre, sometimes its alternative
    bass, chords, lead = (main if rng.random() < 0.75 else alt for main, alt in pairs)
    if bass == chords == lead == "none":  # never silent: some tonal part always plays
        lead = "piano"
    present = np.array([drums, bass != "none", chords != "none", lead != "none"])
    active = keep & present
    first_tonal = 1 + int(np.flatnonzero(present[1:])[0])
    active[~active[:, 1:].any(axis=1), first_tonal] = True  # no bar without a tonal part
    key = style.key if rng.random() < style.key_loyalty else int(rng.integers(12))
    prog = style.progressions[int(rng.integers(len(style.progressions)))]
    return Track(
        sr=sr,
        n=round(seconds * sr),
        step_s=step_s,
        swing=style.swing,
        offset_s=offset_s,
        n_steps=n_bars * STEPS_PER_BAR,
        key=key,
        scale=SCALES[style.scale],
        progression=prog,
        chord_steps=int(rng.choice([8, 16, 32], p=[0.15, 0.6, 0.25])),
        drums=drums,
        pattern=pattern,
        bass=bass,
        chords=chords,
        lead=lead,
        section_gain=gain,
        active=active,
    )


def step_time(tr: Track, steps: Any) -> Any:
    """Seconds (relative to the clip start) of grid steps, with swing on off-beat 16ths."""
    return steps * tr.step_s + (steps % 2) * tr.swing * tr.step_s - tr.offset_s


def scale_pitch(tr: Track, degree: int, base: int) -> float:
    scale = tr.scale
    return float(base + tr.key + 12 * (degree // len(scale)) + scale[degree % len(scale)])


def _chord_root(tr: Track, step: int) -> int:
    return tr.progression[(step // tr.chord_steps) % len(tr.progression)]


def bass_events(tr: Track, style: ArtistStyle, rng: np.random.Generator) -> list[Event]:
    events = []
    kick = tr.pattern[0]
    per_chord = [(s, tr.chord_steps) for s in range(0, STEPS_PER_BAR, min(tr.chord_steps, STEPS_PER_BAR))]
    lens = {
        "whole": per_chord,
        "eighths": [(s, 2) for s in range(0, 16, 2)],
        "octave": [(s, 2) for s in range(0, 16, 2)],
        "walking": [(s, 4) for s in range(0, 16, 4)],
        "syncopated": [(s, 3) for s in (0, 3, 6, 8, 11, 14)],
        "kick": [(s, 4) for s in range(16) if kick[s % len(kick)] == "x"] or [(0, 16)],
    }
    for bar in np.flatnonzero(tr.active[:, 1]):
        for j, (s, d) in enumerate(lens[style.bass_pattern]):
            step = bar * STEPS_PER_BAR + s
            if step % tr.chord_steps and style.bass_pattern == "whole":
                continue
            deg = _chord_root(tr, step)
            if style.bass_pattern == "walking":
                deg += (0, 1, 2, 4)[j % 4]
            midi = scale_pitch(tr, deg, 36) + (12 if style.bass_pattern == "octave" and j % 2 else 0)
            if style.bass_pattern == "syncopated" and rng.random() < 0.3:
                midi += 7
            events.append((float(step_time(tr, step)), d * tr.step_s * 0.9, midi, 0.9 * float(tr.section_gain[bar])))
    return events


def chord_events(tr: Track, rng: np.random.Generator, atonal: float) -> list[Event]:
    name = tr.chords
    if name in SUSTAINED:
        hits = [(s, tr.chord_steps) for s in range(0, STEPS_PER_BAR, min(tr.chord_steps, STEPS_PER_BAR))]
    elif name in ("guitar", "dist_guitar"):
        hits = [(s, 2) for s in ((0, 4, 6, 10, 12, 14) if name == "guitar" else range(0, 16, 2))]
    else:
        hits = [[(0, 8), (8, 8)], [(s, 4) for s in range(0, 16, 4)], [(0, 6), (6, 10)]][int(rng.integers(3))]
    events = []
    for bar in np.flatnonzero(tr.active[:, 2]):
        for s, d in hits:
            step = bar * STEPS_PER_BAR + s
            if s >= STEPS_PER_BAR or (name in SUSTAINED and step % tr.chord_steps):
                continue
            root = _chord_root(tr, step)
            degrees = (root, root + 4, root + 7) if name == "dist_guitar" else (root, root + 2, root + 4)
            t0 = float(step_time(tr, step))
            for i, deg in enumerate(degrees):
                if name == "dist_guitar":  # power chord: root, fifth, octave in semitones
                    midi = scale_pitch(tr, root, 40) + (0, 7, 12)[i]
                else:
                    midi = scale_pitch(tr, deg, 52)
                    midi -= 12 * (midi > 72)
                if rng.random() < atonal * 0.5:
                    midi += float(rng.integers(-2, 3))  # clusters and smeared harmony
                strum = 0.012 * i if name == "guitar" else 0.0
                vel = 0.35 * tr.section_gain[bar] * (rng.uniform(0.75, 1.0) if name != "pad" else 1.0)
                events.append((t0 + strum, d * tr.step_s, midi, vel))
    return events


def lead_events(tr: Track, style: ArtistStyle, rng: np.random.Generator) -> list[Event]:
    """Motif-based melody: a 1-2 bar motif is repeated with variations, occasionally renewed."""
    length = STEPS_PER_BAR * int(rng.choice([1, 2]))
    strength = np.tile([1.0, 0.35, 0.6, 0.35], length // 4)
    prob = np.clip(strength * style.density / 4 / 0.575, 0.02, 0.95)
    moves = np.array([-3, -2, -1, 0, 1, 2, 3, 4])
    p_moves = np.array([0.05, 0.15, 0.25, 0.1, 0.25, 0.12, 0.05, 0.03])

    def motif() -> tuple[np.ndarray, np.ndarray]:
        onsets = np.flatnonzero(rng.random(length) < prob)
        onsets = onsets if onsets.size else np.array([0])
        degrees = np.cumsum(rng.choice(moves, size=onsets.size, p=p_moves)) + int(rng.choice([0, 2, 4]))
        return onsets, np.clip(degrees, -4, 10)

    onsets, degrees = motif()
    events = []
    base = 12 * (style.lead_octave + 1)
    for start in range(0, tr.n_steps, length):
        bar = start // STEPS_PER_BAR
        if rng.random() < 0.3:
            onsets, degrees = motif()
        elif rng.random() < 0.5:  # vary a note or two
            degrees = degrees.copy()
            degrees[rng.integers(degrees.size)] += int(rng.choice([-1, 1]))
        durs = np.diff(np.append(onsets, length)) * rng.uniform(0.6, 1.0)
        for o, deg, d in zip(onsets, degrees, durs, strict=True):
            step = start + int(o)
            if step >= tr.n_steps or not tr.active[step // STEPS_PER_BAR, 3]:
                continue
            midi = scale_pitch(tr, int(deg), base)
            if rng.random() < style.atonal:
                midi += float(rng.integers(-6, 7)) + (rng.uniform(-0.5, 0.5) if style.atonal > 0.5 else 0)
            vel = 0.45 * tr.section_gain[bar] * rng.uniform(0.7, 1.0)
            events.append((float(step_time(tr, step)), min(d, 8) * tr.step_s, midi, vel))
    return events
