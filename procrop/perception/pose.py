"""Body keypoints for detected people (MoveNet Lightning), so crops can avoid cutting at joints.

This module owns :class:`PoseEstimator`. For each person box it cuts a square crop around the
box (expanded by ``expand``, padded with black where it leaves the image), resizes it to 192x192
and runs MoveNet Lightning single-pose (uint8 RGB input ``[1, 192, 192, 3]``, output
``[1, 1, 17, 3]`` = ``(y, x, score)`` normalised to the crop). The 17 COCO keypoints come back in
the pixels of the image, attached to a copy of the person :class:`Detection`. A keypoint may
lie outside the image when MoveNet places a joint beyond the frame (usually with a low score).

Runtime: the ``.tflite`` file runs with LiteRT (``ai-edge-litert``, no TensorFlow, no torch).
Without it, ``backend="auto"`` falls back to :func:`anthropometric_keypoints`, a rough prior from
the person box (and a face inside it), every point scored :data:`PRIOR_SCORE` so a caller can
tell estimates from measurements. No model is loaded at import time; each thread builds its own
interpreter (LiteRT interpreters must not be shared between threads).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import cv2
import numpy as np

from .detectors import Detection
from .model_files import model_path

SIDE = 192
MODEL = "movenet_single_pose_lightning_ptq.tflite"
KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)
PRIOR_SCORE = 0.05

# Heights below the top of a standing figure, as a share of its height, and horizontal offsets
# from its centre line as a share of its height (the subject's left is the image's right).
_PRIOR = {
    "nose": (0.065, 0.0), "left_eye": (0.05, 0.015), "right_eye": (0.05, -0.015),
    "left_ear": (0.055, 0.035), "right_ear": (0.055, -0.035),
    "left_shoulder": (0.18, 0.11), "right_shoulder": (0.18, -0.11),
    "left_elbow": (0.37, 0.13), "right_elbow": (0.37, -0.13),
    "left_wrist": (0.49, 0.13), "right_wrist": (0.49, -0.13),
    "left_hip": (0.52, 0.06), "right_hip": (0.52, -0.06),
    "left_knee": (0.72, 0.055), "right_knee": (0.72, -0.055),
    "left_ankle": (0.94, 0.05), "right_ankle": (0.94, -0.05),
}


def square_crop_box(box: tuple[float, float, float, float], expand: float) -> tuple[int, int, int]:
    """The square ``(x, y, side)`` (integer pixels, may leave the image) centred on ``box``
    whose side is ``expand`` times the box's long side."""
    x, y, w, h = box
    side = max(2, round(float(max(w, h)) * expand))
    cx, cy = float(x + w / 2), float(y + h / 2)
    return round(cx - side / 2), round(cy - side / 2), side


def cut_square(rgb: np.ndarray, x: int, y: int, side: int) -> np.ndarray:
    """The ``(side, side, 3)`` window of ``rgb`` at ``(x, y)``, black where it leaves the image."""
    h, w = rgb.shape[:2]
    out = np.zeros((side, side, 3), np.uint8)
    x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + side), min(h, y + side)
    if x1 > x0 and y1 > y0:
        out[y0 - y : y1 - y, x0 - x : x1 - x] = rgb[y0:y1, x0:x1]
    return out


def anthropometric_keypoints(
    box: tuple[float, float, float, float], face: Detection | None = None
) -> tuple[tuple[str, float, float, float], ...]:
    """A rough standing-figure prior for the 17 keypoints of a person in ``box`` (x, y, w, h).

    With a ``face`` the figure is scaled from it (a head is about 1/7.5 of a body and starts at
    the face's top); otherwise it fills the box from its top. Only a placeholder for when MoveNet
    cannot run: it knows nothing of sitting, bent or cut-off people. Every score is
    :data:`PRIOR_SCORE`.
    """
    x, y, w, h = box
    cx, top, height = x + w / 2, y, h
    if face is not None:
        fx, fy, fw, fh = face.box
        cx, top, height = fx + fw / 2, fy - 0.1 * fh, 7.5 * fh * 1.05
    return tuple(
        (name, cx + dx * height, top + dy * height, PRIOR_SCORE) for name, (dy, dx) in _PRIOR.items()
    )


class PoseEstimator:
    """17 COCO body keypoints per person with MoveNet Lightning.

    Args:
        backend: ``"auto"`` (LiteRT when installed, else the anthropometric prior), ``"litert"``
            or ``"prior"``.
        expand: the square crop's side as a multiple of the person box's long side.
        num_threads: LiteRT threads per interpreter.

    Safe to share between threads (one interpreter per thread).

    Raises:
        MissingExtraError: ``backend="litert"`` without LiteRT installed (extra ``procrop[pose]``).
    """

    def __init__(self, backend: str = "auto", expand: float = 1.2, num_threads: int = 1) -> None:
        if backend not in ("auto", "litert", "prior"):
            raise ValueError(f"backend must be 'auto', 'litert' or 'prior', not {backend!r}")
        if backend == "auto":
            backend = "litert" if importlib.util.find_spec("ai_edge_litert") else "prior"
        elif backend == "litert" and importlib.util.find_spec("ai_edge_litert") is None:
            from ..errors import MissingExtraError

            # now, not at the first photo with a person in it
            raise MissingExtraError("body keypoints (MoveNet, --pose)", "pose", "ai-edge-litert")
        self.backend = backend
        self.expand = expand
        self.num_threads = num_threads
        self._local = threading.local()

    def _interpreter(self) -> Any:
        interp = getattr(self._local, "interpreter", None)
        if interp is None:
            from ..errors import ModelLoadError, require

            litert = require("ai_edge_litert.interpreter", "MoveNet body keypoints", "pose", "ai-edge-litert")
            path = model_path(MODEL)
            try:
                with _native_stderr_silenced():  # LiteRT's "INFO: Created TensorFlow Lite XNNPACK delegate"
                    interp = litert.Interpreter(model_path=str(path), num_threads=self.num_threads)
                    interp.allocate_tensors()
            except (RuntimeError, ValueError) as exc:
                raise ModelLoadError(f"{path}: LiteRT cannot load it ({exc})") from exc
            self._local.io = (interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"])
            self._local.interpreter = interp
        return interp

    def run(self, crop: np.ndarray) -> np.ndarray:
        """MoveNet on a ``(192, 192, 3)`` uint8 RGB crop: ``(17, 3)`` rows of ``(y, x, score)``,
        coordinates in 0..1 of the crop."""
        interp = self._interpreter()
        inp, out = self._local.io
        interp.set_tensor(inp, crop[None])
        interp.invoke()
        return interp.get_tensor(out).reshape(17, 3).copy()

    def keypoints(
        self, rgb: np.ndarray, box: tuple[float, float, float, float]
    ) -> tuple[tuple[str, float, float, float], ...]:
        """The 17 named keypoints ``(name, x, y, score)`` of the person in ``box``, image pixels."""
        if self.backend == "prior":
            return anthropometric_keypoints(box)
        x, y, side = square_crop_box(box, self.expand)
        crop = cut_square(rgb, x, y, side)
        crop = cv2.resize(crop, (SIDE, SIDE), interpolation=cv2.INTER_AREA if side > SIDE else cv2.INTER_LINEAR)
        rows = self.run(np.ascontiguousarray(crop))
        return tuple(
            (name, float(x + px * side), float(y + py * side), float(score))
            for name, (py, px, score) in zip(KEYPOINTS, rows)
        )

    def annotate(self, rgb: np.ndarray, people: list[Detection]) -> list[Detection]:
        """``people`` with body keypoints attached (other kinds pass through unchanged).

        ``rgb`` is the (h, w, 3) uint8 image the boxes are in. With the prior backend, a face
        detection (kind ``"face"``) whose centre lies in a person's upper half anchors the figure.
        """
        faces = [d for d in people if d.kind == "face"]
        out = []
        for det in people:
            if det.kind != "person":
                out.append(det)
            elif self.backend == "prior":
                out.append(replace(det, keypoints=anthropometric_keypoints(det.box, face_of(det, faces))))
            else:
                out.append(replace(det, keypoints=self.keypoints(rgb, det.box)))
        return out


def face_of(person: Detection, faces: Sequence[Detection]) -> Detection | None:
    """The person's face: the surest of ``faces`` whose centre lies in the upper half of its box."""
    x, y, w, h = person.box
    inside = [
        f for f in faces
        if x <= f.box[0] + f.box[2] / 2 <= x + w and y <= f.box[1] + f.box[3] / 2 <= y + h / 2
    ]
    return max(inside, key=lambda f: f.score) if inside else None


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Native code's writes to file descriptor 2 go to ``/dev/null`` inside the block (Python's
    own errors are raised, not printed, so nothing procrop says is lost)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
