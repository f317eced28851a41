"""Prepared data: the one way to read it.

`make_dataset` (tf.data batches for Keras, on either backend), `load_arrays` (NumPy for
scikit-learn), `read_manifest` (what a prepared data set holds). Sources, `prepare` and the
feature definitions live in this package's modules; TensorFlow is imported only when read.
"""

from genre.data.manifest import Manifest, ManifestError, read_manifest
from genre.data.pipeline import load_arrays, make_dataset, make_epochs, model_input_shape

__all__ = [
    "Manifest",
    "ManifestError",
    "load_arrays",
    "make_dataset",
    "make_epochs",
    "model_input_shape",
    "read_manifest",
]
