"""Shared fixtures: a tiny generated FMA tree and its prepared shards, made once per test session.

Keras writes `~/.keras/keras.json` on first import, so KERAS_HOME points into a temporary folder
before anything imports it (tox sets it too), and JAX's persistent compilation cache is off. The
Keras backend comes from KERAS_BACKEND (tox).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import NoReturn

os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="keras-home-"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# No persistent XLA cache in the user's home from the tests (`genre` keeps one; an empty value: none).
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", "")

import pytest

from genre.data.audio import AudioConfig
from genre.data.features import FeatureConfig, RawConfig
from genre.data.prepare import PrepareConfig
from genre.synth.dataset import SynthConfig

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FMA_SAMPLE = SHARED_DATA / "fma_sample"
REAL_MP3 = FMA_SAMPLE / "fma_small" / "000" / "000002.mp3"
MUSICNN_REFERENCE = SHARED_DATA / "musicnn_reference" / "000002_MSD_musicnn.npz"
# The musicnn 0.1.0 wheel; `.ci/run` downloads it and tox passes this variable through.
MUSICNN_WHEEL_ENV = "GENRE_MUSICNN_WHEEL"

TINY_SYNTH = SynthConfig(
    tracks_per_genre=4, seed=7, seconds=3.0, sample_rate=22050, channels=1, workers=1, progress=False
)


def tiny_features(**kinds) -> FeatureConfig:
    """Features sized for 3 s clips, so end-to-end tests take seconds."""
    return FeatureConfig(
        audio=AudioConfig(duration=3.0, pad_tolerance=0.5),
        raw=RawConfig(window_length=2000, windows=3),
        **kinds,
    )


def tiny_prepare(**overrides) -> PrepareConfig:
    return PrepareConfig(
        **{
            "features": tiny_features(),
            "shard_size": 4,
            "seed": 3,
            "workers": 1,
            "progress": False,
            **overrides,
        }
    )


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    from genre.synth.dataset import write_synthetic_fma

    root = tmp_path_factory.mktemp("synth") / "fma"
    write_synthetic_fma(root, TINY_SYNTH)
    return root


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, synth_root) -> Path:
    from genre.data.fma import load_fma_catalog
    from genre.data.prepare import prepare

    out = tmp_path_factory.mktemp("prepared") / "data"
    prepare(load_fma_catalog(synth_root), out, tiny_prepare())
    return out


@pytest.fixture(scope="session")
def musicnn_cache(tmp_path_factory) -> Path:
    """A weights cache holding the converted musicnn weights: converted once per session from the wheel
    named by $GENRE_MUSICNN_WHEEL, else the user's cache if it already holds them; else the test skips."""
    from genre.weights import default_cache_dir
    from genre.weights.musicnn import fetch_musicnn, musicnn_weights_path

    wheel = os.environ.get(MUSICNN_WHEEL_ENV)
    if wheel and Path(wheel).is_file():
        cache = tmp_path_factory.mktemp("genre-cache")
        fetch_musicnn(cache, wheel)
        return cache
    try:
        musicnn_weights_path("MSD_musicnn", default_cache_dir())
    except (FileNotFoundError, ValueError) as err:
        given = f" ({MUSICNN_WHEEL_ENV}={wheel} is not a file)" if wheel else ""
        skip_or_fail(
            f"musicnn weights unavailable{given}: set {MUSICNN_WHEEL_ENV} to the musicnn 0.1.0 wheel, "
            f"or run `genre weights fetch musicnn` ({err})",
            "GENRE_REQUIRE_MUSICNN",
        )
    return default_cache_dir()


@pytest.fixture(scope="session")
def musicnn_prepared(tmp_path_factory, synth_root) -> Path:
    """The tiny generated set with musicnn patches and handcrafted vectors: 3 s clips hold 188 frames, so
    patches one frame apart give two patches a clip (clip-level scoring has something to average)."""
    from genre.data.features import MusicnnFeatureConfig
    from genre.data.fma import load_fma_catalog
    from genre.data.prepare import prepare

    out = tmp_path_factory.mktemp("prepared-musicnn") / "data"
    features = tiny_features(kinds=("musicnn", "handcrafted"), musicnn=MusicnnFeatureConfig(patch_hop=1))
    prepare(load_fma_catalog(synth_root), out, tiny_prepare(features=features))
    return out


def skip_or_fail(reason: str, switch: str) -> NoReturn:
    """Skips the test with `reason`, or fails it when the environment variable `switch` is "1": `.ci/run`
    sets the GENRE_REQUIRE_* switches where it provides what these tests wait for, so there a skip
    would hide a failure. Only "1" counts: an empty or "false" value skips, as unset does."""
    if os.environ.get(switch) == "1":
        pytest.fail(f"{reason}; {switch}=1 says this test must run here", pytrace=False)
    pytest.skip(reason)


def missing_shard(folder: Path) -> str:
    """The pattern of the error a run gives when it reads a shard deleted from `folder`."""
    return rf"{re.escape(str(folder))}/\S+: shard listed in the manifest is missing"


BACKEND_MARKERS = {"requires_jax_backend": "jax", "requires_tensorflow_backend": "tensorflow"}


def pytest_configure(config) -> None:
    # `tox -e devices` asks for virtual CPU devices: XLA_FLAGS does it for JAX; TensorFlow needs its
    # logical devices configured before anything else touches it.
    n = int(os.environ.get("GENRE_TEST_CPU_DEVICES", "1"))
    if n > 1 and os.environ.get("KERAS_BACKEND") == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)


def pytest_collection_modifyitems(config, items) -> None:
    """Tests for one backend only are skipped visibly, with the reason."""
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    for item in items:
        for marker, wanted in BACKEND_MARKERS.items():
            if item.get_closest_marker(marker) and backend != wanted:
                item.add_marker(pytest.mark.skip(reason=f"needs KERAS_BACKEND={wanted}, running {backend}"))


def pytest_runtest_setup(item) -> None:
    """Tests for several devices skip without them; they fail instead when the devices were asked for
    (GENRE_TEST_CPU_DEVICES, `tox -e devices`) and GENRE_REQUIRE_DEVICES=1 says they must appear.
    Tests of several processes (hosts) start subprocesses that share the cores: they run in `tox -e hosts`
    (GENRE_TEST_HOSTS=1) only, not once more in every other environment."""
    if item.get_closest_marker("hosts") and os.environ.get("GENRE_TEST_HOSTS") != "1":
        pytest.skip("starts several processes: run `tox -e hosts` (GENRE_TEST_HOSTS=1)")
    if not item.get_closest_marker("devices"):
        return
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if (count := _device_count(backend)) < 2:
        reason = f"needs 2 devices, {backend} sees {count}: run `tox -e devices` (virtual CPU devices)"
        if int(os.environ.get("GENRE_TEST_CPU_DEVICES", "1")) > 1:
            skip_or_fail(f"{reason}; GENRE_TEST_CPU_DEVICES asked for them", "GENRE_REQUIRE_DEVICES")
        pytest.skip(reason)


def _device_count(backend: str) -> int:
    if backend == "jax":
        import jax

        return len(jax.devices())
    import tensorflow as tf

    return len(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU"))


def pytest_report_header(config) -> str:
    return f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND', '(unset: keras default)')}; shared data at {SHARED_DATA}"


PROGRESS_LINE = re.compile(
    r"(?P<desc>\w[\w ]*): +(?P<percent>\d+)%\|[^|]*\| (?P<n>\d+)/(?P<total>\d+) "
    r"\[(?P<elapsed>\d\d:\d\d)<(?P<eta>\d\d:\d\d|\?), +(?P<rate>[\d.]+|\?)(?P<unit>clip|trial)/s"
    r"(?:, skipped=(?P<skipped>\d+))?(?:, best (?P<best>[\d.]+))?\]"
)


def progress_lines(stderr: str, desc: str) -> list[dict]:
    """Every state a progress bar (tqdm's `desc: 40%|###   | 4/10 [00:02<00:03, 2.00clip/s]`) printed,
    parsed; each must match the whole of a line tqdm wrote (it redraws with carriage returns)."""
    out = []
    for text in re.split(r"[\r\n]+", stderr):
        if text.startswith(f"{desc}:"):
            match = PROGRESS_LINE.fullmatch(text.strip())
            assert match, f"progress line in an unexpected format: {text!r}"
            out.append(match.groupdict())
    return out


def minutes_seconds(seconds: float) -> str:
    return f"{int(seconds) // 60:02d}:{int(seconds) % 60:02d}"


@pytest.fixture
def work_clock(monkeypatch):
    """A clock for progress bars that advances `step` seconds each time `tick()` is called (the tests
    call it once per clip of work), so the rate and ETA a bar shows are known exactly."""
    import tqdm.std

    class Clock:
        now, step = 1000.0, 0.5

        def __call__(self) -> float:
            return self.now

        def tick(self) -> None:
            self.now += self.step

    clock = Clock()
    monkeypatch.setattr(tqdm.std, "time", clock)
    return clock
