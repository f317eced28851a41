"""Sound sources: wavetable and FM tones, one-shot drums, and the timbre recipes behind them.

Owns the DSP that makes a single sound from numbers: ``tone`` (the oscillator of one pitch of a
named timbre in ``TIMBRES``), ``articulate`` (a note of it with its envelope), ``drum_kit``
(one-shot drum sounds), ``place`` (mixing a sound into a stem) and ``upsample`` (control-rate
signals to audio rate). It knows nothing of bars, styles or genres; ``genre.synth.music`` places
these sounds on the arrangement's events.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

import numpy as np

_TABLE = 2048  # wavetable size
_LOOP_S = 0.25  # seconds of a steady oscillator's loop


@dataclass(frozen=True)
class Timbre:
    """Cheap synthesis recipe: wavetable that fades from a bright to a dull spectrum, or FM."""

    bright: float  # spectral slope of the attack (harmonic k has amplitude k**-bright)
    dull: float  # slope the tone decays to (per-harmonic decay, pluck/piano-like)
    attack: float  # seconds
    decay: float  # amplitude time constant in seconds; 0 means sustained
    tone_decay: float = 0.2  # seconds for the bright-to-dull fade / FM index decay
    odd: bool = False  # odd harmonics only (square, clarinet-like)
    vibrato: float = 0.0  # relative frequency depth at 5 Hz
    detune: float = 0.0  # second detuned voice (chorus, supersaw-like pads)
    drive: float = 0.0  # tanh saturation (distorted guitar)
    fm_ratio: float = 0.0  # > 0 switches to two-operator FM
    fm_index: float = 0.0
    breath: float = 0.0  # noise mixed in (flute)


TIMBRES = MappingProxyType(
    {
        "pluck": Timbre(1.0, 3.0, 0.002, 0.45, 0.05),
        "guitar": Timbre(0.9, 2.5, 0.003, 0.9, 0.15),
        "piano": Timbre(1.2, 3.0, 0.002, 1.3, 0.3),
        "epiano": Timbre(0, 0, 0.003, 1.1, 0.4, fm_ratio=1.0, fm_index=1.3),
        "bell": Timbre(0, 0, 0.001, 1.8, 0.6, fm_ratio=3.5, fm_index=3.0),
        "organ": Timbre(1.8, 1.8, 0.01, 0.0, odd=True),
        "strings": Timbre(1.1, 1.1, 0.15, 0.0, vibrato=0.004, detune=0.004),
        "pad": Timbre(1.3, 1.3, 0.35, 0.0, detune=0.007),
        "saw_lead": Timbre(1.0, 1.0, 0.01, 0.0, detune=0.004),
        "square_lead": Timbre(1.0, 1.0, 0.01, 0.0, odd=True, vibrato=0.003),
        "flute": Timbre(2.8, 2.8, 0.06, 0.0, vibrato=0.005, breath=0.06),
        "dist_guitar": Timbre(1.0, 1.6, 0.003, 2.0, 0.5, drive=5.0),
        "sub": Timbre(6.0, 6.0, 0.005, 1.5),
        "sine": Timbre(4.0, 6.0, 0.005, 0.8, 0.1),
        "saw_bass": Timbre(1.0, 2.5, 0.004, 1.0, 0.12),
        "square_bass": Timbre(1.0, 2.5, 0.004, 1.0, 0.15, odd=True),
    }
)
SUSTAINED = frozenset(name for name, t in TIMBRES.items() if t.decay == 0.0)


@lru_cache(maxsize=512)
def wavetable(slope: float, k_max: int, odd: bool) -> np.ndarray:
    """One cycle with harmonic amplitudes k**-slope, built by an inverse FFT; cached, as a track's
    notes ask for a few dozen distinct tables a thousand times. Read-only: callers share it."""
    k = np.arange(1, k_max + 1)
    spectrum = np.zeros(_TABLE // 2 + 1, dtype=complex)
    spectrum[1 : k_max + 1] = -1j * k**-slope * ((k % 2 == 1) | (not odd))
    wave = np.fft.irfft(spectrum, _TABLE)
    table = (wave / np.abs(wave).max()).astype(np.float32)
    table.flags.writeable = False
    return table


@lru_cache(maxsize=512)
def loop_index(freq: float, sr: int) -> np.ndarray:
    """Table indices of one loop of a steady oscillator: a whole number of cycles in about
    ``_LOOP_S`` seconds, so repeating it is seamless (its pitch is within 0.1 cent of ``freq``).
    Cached, as a clip plays few pitches; read-only: callers share it."""
    cycles = max(1, round(freq * _LOOP_S))
    period = max(1, round(cycles * sr / freq))
    index = (np.arange(period) * (cycles * _TABLE / period)).astype(np.intp) % _TABLE
    index.flags.writeable = False
    return index


def phase_index(freq: float, n: int, sr: int, vibrato: float) -> np.ndarray:
    """Table indices of an oscillator of ``n`` samples."""
    if not vibrato:
        return np.resize(loop_index(freq, sr), n)
    # The phase of freq * (1 + vibrato * sin(2 pi 5 t)) in closed form; its wobble repeats every 0.2 s.
    period = min(n, sr // 5 if sr % 5 == 0 else n)
    wobble = np.resize(1 - np.cos(2 * np.pi * 5.0 / sr * np.arange(period)), n)
    phase = np.arange(n, dtype=np.float64)
    phase *= freq * _TABLE / sr
    phase += freq * _TABLE * vibrato / (2 * np.pi * 5.0) * wobble
    return phase.astype(np.intp) & (_TABLE - 1)


def oscillator(table: np.ndarray, freq: float, n: int, sr: int, vibrato: float) -> np.ndarray:
    """Wavetable oscillator; a steady one reads the table for one loop and repeats it."""
    if vibrato:
        return np.take(table, phase_index(freq, n, sr, vibrato))
    loop = loop_index(freq, sr)[:n]
    return np.resize(np.take(table, loop), n)


Shape = tuple[np.ndarray, np.ndarray, np.ndarray]  # time (s), attack-decay envelope, bright-to-dull fade


def note_shape(tb: Timbre, n: int, sr: int) -> Shape:
    """What notes of this timbre share whatever their pitch, for the longest of them (``n`` samples):
    a shorter note's shape is a prefix of it, its release ramp laid on by ``articulate``."""
    t = np.arange(n, dtype=np.float32) / sr
    env = np.minimum(t / tb.attack, 1.0)
    if tb.decay:
        env *= np.exp(-t / tb.decay)
    return t, env, np.exp(-t / tb.tone_decay)


def tone(name: str, midi: float, shape: Shape, sr: int, rng: np.random.Generator) -> np.ndarray:
    """The oscillator of one pitch before its envelope, as long as ``shape``: every note of this
    pitch is a prefix of it, so a part computes it once per pitch, not once per note length."""
    tb = TIMBRES[name]
    t, _, fall = shape
    n = len(t)
    freq = 440.0 * 2.0 ** ((midi - 69) / 12)
    if tb.fm_ratio:
        wave = np.sin(2 * np.pi * freq * tb.fm_ratio * t)
        wave *= fall
        wave *= np.float32(tb.fm_index)
        wave += np.float32(2 * np.pi * freq) * t
        wave = np.sin(wave, out=wave)
    else:
        k_max = max(1, min(24, int(0.45 * sr / freq)))  # band-limit: no harmonic above Nyquist
        bright, dull = wavetable(tb.bright, k_max, tb.odd), wavetable(tb.dull, k_max, tb.odd)
        wave = oscillator(dull, freq, n, sr, tb.vibrato)
        if tb.dull != tb.bright:  # the bright tone fades into the dull one, on the same phase
            head = min(n, int(np.ceil(12 * tb.tone_decay * sr)))  # later the fade is below e**-12
            attack = oscillator(bright, freq, head, sr, tb.vibrato)
            attack -= wave[:head]
            attack *= fall[:head]
            wave[:head] += attack
        if tb.detune:
            wave *= np.float32(0.6)
            wave += np.float32(0.4) * oscillator(bright, freq * (1 + tb.detune), n, sr, 0)
    if tb.breath:
        wave += np.float32(tb.breath) * rng.standard_normal(n, dtype=np.float32)
    return wave


def articulate(tb: Timbre, wave: np.ndarray, env: np.ndarray, n: int, sr: int) -> np.ndarray:
    """One note of ``n`` samples from its pitch's ``tone`` and the part's envelope: attack and decay,
    a release ramp (no clicks at note ends), then the timbre's saturation."""
    note = wave[:n] * env[:n]
    fade = min(n, int(0.02 * sr))
    note[n - fade :] *= np.linspace(1, 0, fade, dtype=np.float32)
    if tb.drive:
        note *= np.float32(tb.drive)
        note = np.tanh(note, out=note)
        note *= np.float32(1 / np.tanh(tb.drive))
    return note


def place(out: np.ndarray, start: int, wave: np.ndarray, gain: float) -> None:
    a, b = max(start, 0), min(start + len(wave), len(out))
    if a < b:
        out[a:b] += wave[a - start : b - start] * np.float32(gain)


def drum_kit(kit: str, tune: float, sr: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One-shot drum sounds from sine sweeps and shaped noise."""

    def burst(seconds: float, decay: float, bright: int, attack: float = 0.0) -> np.ndarray:
        n = int(seconds * sr)
        x = rng.standard_normal(n + bright).astype(np.float32)
        for _ in range(bright):  # each difference tilts the noise towards the highs
            x = np.diff(x)
        t = np.arange(n, dtype=np.float32) / sr
        env = np.exp(-t / decay) * (np.minimum(t / attack, 1) if attack else 1)
        return x * env / (2.0**bright)

    def sweep(seconds: float, f0: float, decay: float, drop: float = 2.0) -> np.ndarray:
        t = np.arange(int(seconds * sr), dtype=np.float32) / sr
        phase = 2 * np.pi * f0 * (t + drop * 0.02 * (1 - np.exp(-t / 0.02)))  # falling pitch
        return np.sin(phase) * np.exp(-t / decay)

    hat, open_hat = burst(0.08, 0.025, 2), burst(0.3, 0.15, 2)
    if kit == "808":
        kick, snare, perc = sweep(0.9, 45 * tune, 0.45), burst(0.25, 0.06, 1), sweep(0.15, 800, 0.04, 0.0)
    elif kit == "electronic":
        gap = int(0.011 * sr)  # a clap is three quick noise bursts
        clap = sum(np.pad(burst(0.15, 0.03, 1), (i * gap, (2 - i) * gap)) for i in range(3))
        kick, snare, perc = sweep(0.4, 52 * tune, 0.18), clap, sweep(0.05, 1700, 0.012, 0.0)
    elif kit == "lofi":
        kick, snare, perc = sweep(0.3, 60 * tune, 0.12), burst(0.2, 0.08, 0), sweep(0.05, 1200, 0.01, 0.0)
        hat, open_hat = burst(0.08, 0.03, 1), burst(0.25, 0.1, 1)
    elif kit == "hand":
        kick, perc = sweep(0.35, 80 * tune, 0.15, 1.0), sweep(0.25, 320, 0.09, 0.5)
        snare = burst(0.12, 0.04, 1) + 0.5 * sweep(0.12, 400, 0.04, 0.3)
        hat, open_hat = burst(0.12, 0.05, 2, attack=0.015), burst(0.25, 0.1, 2, attack=0.03)  # shaker
    else:  # acoustic
        kick = sweep(0.35, 55 * tune, 0.16) + 0.3 * burst(0.35, 0.004, 1)
        snare = burst(0.3, 0.12, 1) + 0.6 * sweep(0.3, 190, 0.05, 0.5)
        perc = sweep(0.4, 120, 0.15, 0.5)
    return {"kick": kick, "snare": 0.8 * snare, "hat": 0.5 * hat, "open": 0.4 * open_hat, "perc": 0.6 * perc}


def upsample(x: np.ndarray, factor: int, n: int) -> np.ndarray:
    """Linear interpolation by an integer factor (for control-rate and low-rate signals)."""
    if x.size == 0:  # clips shorter than one low-rate sample
        return np.zeros(n, dtype=np.float32)
    if factor > 1:  # sample j of each step is x + (next - x) * j / factor
        frac = np.arange(factor, dtype=np.float32) / np.float32(factor)
        if factor <= 64:  # one matrix product of (x, step) pairs writes the output in one pass
            pairs = np.empty((2, len(x)), dtype=np.float32)
            pairs[0] = x
            np.subtract(x[1:], x[:-1], out=pairs[1, :-1])
            pairs[1, -1] = 0
            x = (pairs.T @ np.stack([np.ones_like(frac), frac])).ravel()
        else:  # long steps: broadcasting is as fast
            y = np.multiply.outer(np.diff(x, append=x[-1:]), frac)
            y += x[:, None]
            x = y.ravel()
    if len(x) >= n:  # the usual case: a view, no copy
        return x[:n]
    return np.pad(x, (0, n - len(x)), mode="edge")
