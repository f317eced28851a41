"""The `musicnn` feature kind: the original's log-Mel patches, prepared into shards and read back per patch."""

from __future__ import annotations

import numpy as np
import pytest

from genre.data import make_dataset, read_manifest
from genre.data.audio import AudioConfig, load_clip
from genre.data.features import FeatureConfig, MusicnnFeatureConfig, musicnn_file_patches, musicnn_patches
from genre.data.pipeline import load_arrays, model_input_shape
from tests.conftest import MUSICNN_REFERENCE, REAL_MP3

needs_reference = pytest.mark.skipif(
    not (MUSICNN_REFERENCE.is_file() and REAL_MP3.is_file()),
    reason=f"the musicnn reference ({MUSICNN_REFERENCE}) or its clip ({REAL_MP3}) is not here",
)


@needs_reference
def test_file_patches_reproduce_the_original_input():
    # Decoded straight to 16 kHz, as the original's librosa.load: the same samples, the same arithmetic.
    reference = np.load(MUSICNN_REFERENCE)["patches"]
    patches = musicnn_file_patches(REAL_MP3, MusicnnFeatureConfig())
    assert patches.dtype == np.float32 and patches.shape == reference.shape
    np.testing.assert_allclose(patches, reference, rtol=0, atol=1e-5)


@needs_reference
def test_prepared_at_22050_hz_the_patches_stay_within_the_documented_tolerance():
    # prepare decodes at the data set's rate first; a second resampling to 16 kHz moves values slightly
    # (documented in genre.data.features: at most 3e-5 on this clip).
    reference = np.load(MUSICNN_REFERENCE)["patches"]
    clip = load_clip(REAL_MP3, AudioConfig(sample_rate=22050))
    patches = musicnn_patches(clip.signal, 22050, MusicnnFeatureConfig())[: len(reference)]
    assert patches.shape == reference.shape
    np.testing.assert_allclose(patches, reference, rtol=0, atol=3e-5)  # the documented figure (2.2e-5 today)
    assert not np.array_equal(patches, reference)  # the tolerance is needed: this is the other path


def test_loud_audio_does_not_overflow():
    # Mel power far above 6.55: float16 arithmetic (numpy 2) would give inf here.
    t = np.arange(4 * 16000) / 16000
    loud = (0.99 * np.sign(np.sin(2 * np.pi * 220 * t))).astype(np.float32)
    patches = musicnn_patches(loud, 16000, MusicnnFeatureConfig())
    assert patches.dtype == np.float32 and np.isfinite(patches).all()
    assert patches.max() > np.log10(10000 * 6.55 + 1)


def test_patch_count_follows_the_clip_duration():
    config = MusicnnFeatureConfig()
    assert config.patches(3.0) == 1 and config.patches(2.9) == 0
    # 30 s at 16 kHz: 1876 frames, 10 whole patches of 187.
    assert config.patches(30.0) == (1 + 30 * 16000 // 256 - 187) // 187 + 1
    assert FeatureConfig(kinds=("musicnn",)).shape("musicnn") == (config.patches(30.0), 187, 96)
    with pytest.raises(ValueError, match="at least 3 s"):
        FeatureConfig(kinds=("musicnn",), audio=AudioConfig(duration=2.0))


def test_default_preparation_leaves_musicnn_out():
    assert "musicnn" not in FeatureConfig().kinds


def test_prepared_patches_round_trip_and_flatten_per_patch(musicnn_prepared, synth_root):
    manifest = read_manifest(musicnn_prepared)
    spec = manifest.features["musicnn"]
    assert spec["dtype"] == "float32" and spec["shape"] == [2, 187, 96]
    assert spec["sample_rate"] == 16000 and "resampled from 22050 Hz" in spec["encoding"]

    patches, labels, ids = load_arrays(musicnn_prepared, "train", "musicnn")
    assert patches.shape == (manifest.clip_count("train"), 2, 187, 96) and patches.dtype == np.float32
    # The stored patches are those of the decoded clip (found by its track id in the generated tree).
    path = next(synth_root.rglob(f"{int(ids[0]):06d}.mp3"))
    clip = load_clip(path, AudioConfig(duration=3.0, pad_tolerance=0.5))
    # With one BLAS thread, as prepare computes (`genre.parallel`): more threads sum the Mel product in
    # another order on some CPUs (float32 values 1 ulp apart).
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        expected = musicnn_patches(clip.signal, 22050, MusicnnFeatureConfig(patch_hop=1))
    np.testing.assert_array_equal(patches[0], expected)
    np.testing.assert_array_equal(patches[:, 1, :-1], patches[:, 0, 1:])  # one frame apart

    assert model_input_shape(manifest, "musicnn", "flat") == (187, 96)
    assert model_input_shape(manifest, "musicnn", "clip") == (2, 187, 96)
    # "flat": every patch an example with its clip's label and id, in clip order.
    flat = make_dataset(musicnn_prepared, "train", "musicnn", batch_size=3, training=False, with_track_id=True)
    xs, ys, ts = (np.concatenate(a) for a in zip(*flat.as_numpy_iterator(), strict=True))
    np.testing.assert_array_equal(xs, patches.reshape(-1, 187, 96))
    np.testing.assert_array_equal(ys, np.repeat(labels, 2))
    np.testing.assert_array_equal(ts, np.repeat(ids, 2))
