"""Structure-from-AFM detector: network (:mod:`.unet3d`), label decoding (:mod:`.decode`),
checkpoints (:mod:`.checkpoint`), the user-facing :class:`Detector` (:mod:`.detector`) and the
training loop (:mod:`.train`).

Contract (used by ``iceafm predict``)::

    det = load_detector(path=None, device="cpu")   # None: the shipped model
    det.pixel_size_a, det.heights_a, det.n_slices, det.info
    detection = det.detect(df)                     # df [n_slices, ny, nx], any units

An untrained detector for tests: ``save_detector(path, build_detector(DetectorMeta(...),
width=4, depth=2))``.
"""

from iceafm.models.checkpoint import CheckpointError
from iceafm.models.decode import GridGeometry
from iceafm.models.detector import (
    PRETRAINED,
    Detection,
    Detector,
    DetectorMeta,
    build_detector,
    load_detector,
    save_detector,
)

__all__ = [
    "PRETRAINED",
    "CheckpointError",
    "Detection",
    "Detector",
    "DetectorMeta",
    "GridGeometry",
    "build_detector",
    "load_detector",
    "save_detector",
]
