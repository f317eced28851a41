"""The TFRecord format of prepared shards: one `tf.train.Example` per clip and feature kind.

Every record holds `track_id` (int64), `label` (int64), `seconds` (float, decoded length before
padding) and the feature under its kind's name: int16/uint8 arrays and float32 musicnn patches as
raw little-endian bytes, float32 handcrafted vectors as a float list. Shapes and dtypes live in the
manifest, not in the records.
TensorFlow is imported where a record is built or parsed, never at import.
"""

from __future__ import annotations

import numpy as np

STORED_DTYPES = {"raw": np.int16, "mel": np.uint8, "handcrafted": np.float32, "musicnn": np.float32}


def encode_example(kind: str, value: np.ndarray, *, track_id: int, label: int, seconds: float) -> bytes:
    import tensorflow as tf

    expected = STORED_DTYPES[kind]
    if value.dtype != expected:
        raise TypeError(f"{kind} feature of track {track_id} has dtype {value.dtype}, expected {np.dtype(expected)}")
    if kind == "handcrafted":
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

    size = int(np.prod(shape))
    if kind == "handcrafted":
        value_spec = tf.io.FixedLenFeature([size], tf.float32)
    else:
        value_spec = tf.io.FixedLenFeature([], tf.string)
    spec = {
        "track_id": tf.io.FixedLenFeature([], tf.int64),
        "label": tf.io.FixedLenFeature([], tf.int64),
        kind: value_spec,
    }
    tf_dtype = {"raw": tf.int16, "mel": tf.uint8, "musicnn": tf.float32}.get(kind)

    def parse(serialized):
        parsed = tf.io.parse_single_example(serialized, spec)
        value = parsed[kind]
        if tf_dtype is not None:
            value = tf.io.decode_raw(value, tf_dtype, little_endian=True)
        value = tf.reshape(value, shape)
        return value, tf.cast(parsed["label"], tf.int32), parsed["track_id"]

    return parse
