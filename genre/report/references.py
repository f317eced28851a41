"""Published test accuracies on FMA small, shown beside ours as documented figures, never as our results.

They apply only to the real `fma_small` (8 genres); on any other data the report leaves them out.
"""

from __future__ import annotations

from dataclasses import dataclass

from genre.data.manifest import Manifest


@dataclass(frozen=True)
class Reference:
    model: str
    features: str
    test_accuracy: float
    source: str


FMA_SMALL_REFERENCES: tuple[Reference, ...] = (
    Reference("MobileNetV2, ImageNet weights", "Mel-spectrogram images", 0.40, "the original study (about 40%)"),
    Reference("SVM", "engineered audio features", 0.48, "the original study (about 48%)"),
    Reference("SVM", "MFCC", 0.464, "FMA's usage example, official small test split"),
)


def references_for(manifest: Manifest) -> tuple[Reference, ...]:
    """The references comparable with runs on this data: real FMA small only."""
    source = manifest.source
    real_small = source.get("kind") == "fma" and source.get("subset") == "small" and not manifest.synthetic
    return FMA_SMALL_REFERENCES if real_small else ()
