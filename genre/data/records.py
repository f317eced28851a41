"""The TFRecord format of prepared shards: one `tf.train.Example` per clip and feature kind.

Every record holds `track_id` (int64), `label` (int64), `seconds` (float, decoded length before
padding) and the feature under its kind's name, as little-endian raw bytes of the kind's stored dtype or as a
float list where the kind says so (`FeatureKind.float_list`). Shapes live in the manifest.
TensorFlow is imported where a record is built or parsed, never at import.
"""

from __future__ import annotations

import numpy as np

from genre.data.features import get_kind


def encode_example(kind: str, value: np.ndarray, *, track_id: int, label: int, seconds: float) -> bytes:
    import tensorflow as tf

    spec = get_kind(kind)
    if value.dtype != spec.stored_dtype:
        raise TypeError(
            f"{kind} feature of track {track_id} has dtype {value.dtype}, expected {np.dtype(spec.stored_dtype)}"
        )
    if spec.float_list:
        feature = tf.train.Feature(float_list=tf.train.FloatList(value=value.ravel().tolist()))
    else:
        data = np.ascontiguousarray(value).astype(value.dtype.newbyteorder("<"), copy=False).tobytes()
        feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))
    example = tf.train.Example(
        features=tf.train.Features(
            feature={
                "track_id": tf.train.Feature(int64_list=tf.train.Int64List(value=[track_id])),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
                "seconds": tf.train.Feature(float_list=tf.train.FloatList(value=[seconds])),
                kind: feature,
            }
        )
    )
    # Sorted map keys: the same clip always serialises to the same bytes (byte-identical resumes).
    return example.SerializeToString(deterministic=True)


def parse_function(kind: str, shape: tuple[int, ...]):
    """A tf function: serialized Example -> (stored feature of `shape`, label, track_id)."""
    import tensorflow as tf

    feature_kind = get_kind(kind)
    size = int(np.prod(shape))
    if feature_kind.float_list:
        value_spec = tf.io.FixedLenFeature([size], tf.float32)
    else:
        value_spec = tf.io.FixedLenFeature([], tf.string)
    spec = {
        "track_id": tf.io.FixedLenFeature([], tf.int64),
        "label": tf.io.FixedLenFeature([], tf.int64),
        kind: value_spec,
    }
    tf_dtype = None if feature_kind.float_list else tf.as_dtype(feature_kind.stored_dtype)

    def parse(serialized):
        parsed = tf.io.parse_single_example(serialized, spec)
        value = parsed[kind]
        if tf_dtype is not None:
            value = tf.io.decode_raw(value, tf_dtype, little_endian=True)
        value = tf.reshape(value, shape)
        return value, tf.cast(parsed["label"], tf.int32), parsed["track_id"]

    return parse
