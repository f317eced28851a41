"""Artist styles: what an artist keeps across its tracks, drawn from a genre's profile.

Owns :class:`ArtistStyle` and ``draw_artist_style``, which draws one from the genre's
``GenreProfile`` (each attribute group sometimes from another genre's, see
``genre.synth.profiles``). It hands the style on to the arrangement and the renderer; every draw
comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genre.synth.profiles import BORROW, GENRES, GROUPS, PROFILES, PROGRESSIONS, GenreProfile, Range, Weights


@dataclass(frozen=True)
class ArtistStyle:
    """Everything an artist keeps across its tracks; tracks vary around it."""

    genre: str
    tempo: float  # BPM centre
    tempo_jitter: float  # relative spread across tracks
    swing: float  # delay of off-beat 16ths, fraction of a step
    humanize: float  # timing jitter, seconds
    drum_prob: float  # chance a track has drums
    patterns: tuple[str, str]  # main and alternative drum pattern
    kit: str
    kick_tune: float  # kick pitch multiplier
    scale: str
    key: int  # favourite key (pitch class)
    key_loyalty: float  # chance a track is in the favourite key
    progressions: tuple[tuple[int, ...], ...]
    bass_pattern: str
    density: float
    atonal: float
    bass: tuple[str, str]  # main and alternative timbre; "none" allowed
    chords: tuple[str, str]
    lead: tuple[str, str]
    texture: str
    lead_octave: int
    cutoff_hz: float
    drive: float
    reverb: float  # wet level
    delay: float  # feedback-delay level on the lead, 0 = off
    crush_bits: int  # 0 = off
    vinyl: float  # crackle rate per second, 0 = off
    hiss_db: float
    loudness_db: float
    pump: float  # side-chain depth, 0 = off
    dynamics_db: float
    width: float  # stereo spread, 0..1
    mix_db: tuple[float, ...]  # level of drums, bass, chords, lead, texture


def _pick(rng: np.random.Generator, weights: Weights) -> str:
    p = np.array([w for _, w in weights])
    return weights[int(rng.choice(len(weights), p=p / p.sum()))][0]


def _normal(rng: np.random.Generator, spec: Range, lo: float, hi: float) -> float:
    return float(np.clip(rng.normal(spec[0], spec[1]), lo, hi))


def draw_artist_style(genre: str, rng: np.random.Generator) -> ArtistStyle:
    """Draw one artist's style from ``genre``'s profile (groups sometimes from another genre)."""
    if genre not in PROFILES:
        raise ValueError(f"unknown genre {genre!r}; expected one of {', '.join(GENRES)}")
    fields: dict[str, object] = {}
    for names in GROUPS.values():
        source = genre
        if rng.random() < BORROW:
            others = [g for g in GENRES if g != genre]
            source = others[int(rng.integers(len(others)))]
        for name in names:
            fields[name] = getattr(PROFILES[source], name)
    p = GenreProfile(**fields)  # type: ignore[arg-type]
    progs = PROGRESSIONS[_pick(rng, p.progressions)]
    chosen = rng.choice(len(progs), size=min(2, len(progs)), replace=False)
    return ArtistStyle(
        genre=genre,
        tempo=_normal(rng, p.tempo, 55, 185),
        tempo_jitter=float(rng.uniform(0.01, 0.06)),
        swing=float(rng.uniform(0.1, 0.35)) if rng.random() < p.swing else 0.0,
        humanize=float(rng.uniform(0.0, 0.012)),
        drum_prob=float(np.clip(p.drums + rng.normal(0, 0.1), 0.0, 1.0)),
        patterns=(_pick(rng, p.patterns), _pick(rng, p.patterns)),
        kit=_pick(rng, p.kits),
        kick_tune=float(rng.uniform(0.85, 1.2)),
        scale=_pick(rng, p.scales),
        key=int(rng.integers(12)),
        key_loyalty=float(rng.uniform(0.3, 0.9)),
        progressions=tuple(progs[int(i)] for i in chosen),
        bass_pattern=_pick(rng, p.bass_patterns),
        density=_normal(rng, p.density, 0.3, 3.5),
        atonal=float(np.clip(p.atonal + rng.normal(0, 0.1), 0.0, 1.0)),
        bass=(_pick(rng, p.bass), _pick(rng, p.bass)),
        chords=(_pick(rng, p.chords), _pick(rng, p.chords)),
        lead=(_pick(rng, p.lead), _pick(rng, p.lead)),
        texture=_pick(rng, p.texture),
        lead_octave=int(rng.choice([4, 5], p=[0.6, 0.4])),
        cutoff_hz=float(2.0 ** _normal(rng, p.cutoff, 10.5, 14.3)),
        drive=_normal(rng, p.drive, 0.0, 1.5),
        reverb=_normal(rng, p.reverb, 0.0, 0.9),
        delay=float(rng.uniform(0.15, 0.4)) if rng.random() < p.delay else 0.0,
        crush_bits=int(rng.integers(5, 10)) if rng.random() < p.crush else 0,
        vinyl=float(rng.uniform(2, 15)) if rng.random() < p.vinyl else 0.0,
        hiss_db=_normal(rng, p.hiss, -90, -30),
        loudness_db=_normal(rng, p.loudness, -26, -8),
        pump=float(rng.uniform(0.3, 0.8)) if rng.random() < p.pump else 0.0,
        dynamics_db=_normal(rng, p.dynamics, 0.0, 12.0),
        width=float(rng.uniform(0.2, 0.9)),
        mix_db=tuple(float(v) for v in np.add(p.mix, rng.normal(0, 1.5, 5))),
    )
