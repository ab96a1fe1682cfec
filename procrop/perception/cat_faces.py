"""Cat faces on detected animals: where an animal's head is when no face detector found it.

YuNet finds human faces, and an animal's only when it looks like one; YOLOX gives an animal's box,
not its head. So a kitten's face filling the frame (which YOLOX calls a "dog" and YuNet misses)
had its head placed round the highest point of its outline, its ears, and the 9:16 and 16:9 crops
cut through its eyes. OpenCV's frontal cat-face cascade (``haarcascade_frontalcatface_extended``,
shipped with OpenCV, BSD licence) looks inside each animal's box that holds no found face yet; the
surest cat face it finds marks the animal's ``"head"`` keypoint at the face's centre, round which
protection keeps a head box whole (:func:`procrop.scoring.main_subject.animal_head`), as for a face
YuNet finds on an animal.

On the 205 animal boxes of the 121 held-out, 300 BSDS500, 396 training and 260 fresh photos it
found 2 faces, both cats' (a bobcat kitten in a log, the kitten); about 6 ms median per box.
"""

from __future__ import annotations

import math
import threading
from dataclasses import replace

import cv2
import numpy as np

from .detectors import Detection, _default_cascade_dir, _load_cascade

#: The cascade file, in OpenCV's Haar cascade folder.
CASCADE = "haarcascade_frontalcatface_extended.xml"
#: An animal's box is scanned at this long side at most (speed).
SCAN_SIDE = 200
#: The smallest face looked for, as a share of the box's short side (never under the cascade's
#: window of :data:`WINDOW` pixels).
MIN_FACE, WINDOW = 0.15, 24
#: The cascade's scale step and the neighbours a face needs (a step of 1.2 lost the bobcat kitten).
SCALE_FACTOR, MIN_NEIGHBORS = 1.1, 3
#: The box is scanned with this share of its sides added round it (a face at its edge).
PAD = 0.05
#: Animals scanned per photo, largest first.
MAX_ANIMALS = 2
#: The least cascade weight a face needs (the cascade accepts down to about -1.3; the two cats found
#: weigh 3-4, weak hits on fur under 0.6).
MIN_WEIGHT = 1.0


class CatFaceFinder:
    """Finds a frontal cat face inside an animal's box. Safe to share between threads (each thread
    loads its own cascade: OpenCV's ``CascadeClassifier`` keeps per-image state)."""

    def __init__(self, cascade_dir: str | None = None) -> None:
        self.cascade_dir = cascade_dir or _default_cascade_dir()
        self._local = threading.local()

    def _cascade(self) -> cv2.CascadeClassifier:
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = self._local.cascade = _load_cascade(self.cascade_dir, CASCADE)
        return cascade

    def find(self, grey: np.ndarray, box: tuple[float, float, float, float]
             ) -> tuple[float, float, float, float, float] | None:
        """The surest cat face ``(x, y, w, h, weight)`` inside ``box`` (``x, y, w, h`` in the pixels of
        ``grey``, a 2-D uint8 image), in those pixels; ``None`` when there is none."""
        x, y, w, h = box
        x0, y0 = max(int(x - PAD * w), 0), max(int(y - PAD * h), 0)
        sub = grey[y0:int(np.ceil(y + (1 + PAD) * h)), x0:int(np.ceil(x + (1 + PAD) * w))]
        k = min(1.0, SCAN_SIDE / max(max(sub.shape), 1))
        if k < 1.0 and min(sub.shape) > 0:
            sub = cv2.resize(sub, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        if min(sub.shape) < WINDOW:
            return None
        side = max(WINDOW, int(MIN_FACE * min(sub.shape)))
        found, _, weights = self._cascade().detectMultiScale3(
            sub, SCALE_FACTOR, MIN_NEIGHBORS, minSize=(side, side), outputRejectLevels=True)
        weights = np.asarray(weights, dtype=np.float64).reshape(-1)
        if len(found) == 0 or weights.max() < MIN_WEIGHT:
            return None
        i = int(np.argmax(weights))
        fx, fy, fw, fh = (float(v) / k for v in found[i])
        return x0 + fx, y0 + fy, fw, fh, float(weights[i])


def mark_cat_faces(objects: list[Detection], rgb: np.ndarray, sx: float, sy: float,
                   finder: CatFaceFinder) -> list[Detection]:
    """``objects`` (original pixels) with a ``"head"`` keypoint on each of the :data:`MAX_ANIMALS`
    largest animals without one where ``finder`` sees a cat face (its centre; its score the
    cascade's weight through a logistic, 0.73 at :data:`MIN_WEIGHT`). ``rgb`` is the image the
    detectors saw, ``sx, sy`` its scale to the original."""
    bare = [o for o in objects if o.kind == "animal" and not any(k[0] == "head" for k in o.keypoints)]
    bare = sorted(bare, key=lambda o: -o.box[2] * o.box[3])[:MAX_ANIMALS]
    if not bare:
        return objects
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    marked = {}
    for o in bare:
        x, y, w, h = o.box
        face = finder.find(grey, (x / sx, y / sy, w / sx, h / sy))
        if face is not None:
            fx, fy, fw, fh, weight = face
            head = ("head", (fx + fw / 2) * sx, (fy + fh / 2) * sy, 1.0 / (1.0 + math.exp(-weight)))
            marked[id(o)] = replace(o, keypoints=(*o.keypoints, head))
    return [marked.get(id(o), o) for o in objects]
