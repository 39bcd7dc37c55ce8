"""QImages over numpy arrays (row-major, as pyqtgraph's ImageItem takes them): the pixels are not copied."""

from __future__ import annotations

import numpy as np
from PyQt6.QtGui import QImage

#: format of an 8-bit array by its channel count: H x W, H x W x 3, H x W x 4
FORMATS = {1: QImage.Format.Format_Grayscale8, 3: QImage.Format.Format_RGB888, 4: QImage.Format.Format_RGBA8888}


def qimage(buf: np.ndarray, fmt: QImage.Format | None = None) -> QImage:
    """A QImage over ``buf``'s memory (``buf`` must outlive it, or take ``.copy()``).

    ``fmt`` defaults to the 8-bit format of ``buf``'s channel count (:data:`FORMATS`).
    """
    h, w = buf.shape[:2]
    if fmt is None:
        fmt = FORMATS[1 if buf.ndim == 2 else buf.shape[2]]
    return QImage(buf.data, w, h, buf.strides[0], fmt)
