"""Pretrained model files that ship inside procrop, and the process-wide cache of loaded models.

This module owns three things:

* where the shipped files live: ``procrop/resources/models/`` (or the folder named by the
  environment variable ``PROCROP_MODELS_DIR``, for a user who keeps them elsewhere);
* :data:`MODEL_FILES`, the registry of every shipped file with its sha256, upstream source
  (repository @ commit → path) and licence; ``tools/vendor_models.py`` copies the files from the
  shared model folder and writes ``ATTRIBUTION.md`` from this registry;
* :func:`model_path`, which returns a verified path or raises :class:`~procrop.errors.ModelLoadError`
  naming the file and the problem (missing, unreadable, sha256 mismatch = corrupt), and
  :func:`load_once`, a lazy, once-per-process, thread-safe cache for sessions and nets.

Importing this module reads no file; the sha256 of a file is checked the first time it is asked
for and remembered (per path, size and modification time) for the rest of the process.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ModelLoadError

T = TypeVar("T")

ENV_DIR = "PROCROP_MODELS_DIR"


@dataclass(frozen=True)
class ModelFile:
    """One shipped file.

    Attributes:
        name: file name inside the models folder.
        sha256: full hex digest of the exact bytes shipped.
        what: one line on what it is (shapes, classes).
        source: upstream ``repository @ commit``.
        source_path: path of the file inside that repository.
        licence: SPDX-style licence name.
        licence_file: the licence text shipped beside it (a file name in the models folder).
        shared_path: where the file sits in the shared model folder (``faces/...``), for vendoring.
        change: what procrop changed in the upstream file (empty: shipped byte for byte); the
            only change made is :data:`FREE_INPUT_SIZE`.
        upstream_sha256: the sha256 of the upstream file before that change (empty when unchanged).
    """

    name: str
    sha256: str
    what: str
    source: str
    source_path: str
    licence: str
    licence_file: str
    shared_path: str
    change: str = ""
    upstream_sha256: str = ""


FREE_INPUT_SIZE = (
    "the input's height and width, and the outputs' row counts, declared free instead of fixed "
    "(graph and weights unchanged), so an image is run at its own aspect ratio instead of padded to a square"
)


_LIBFACE = "ShiqiYu/libfacedetection.train @ 0047ac24afb1a50a0c6105001c89d1b5b805dbf1"
_CORAL = "google-coral/test_data @ 104342d2d3480b3e66203073dac24f4e2dbb4c41"
_IINFER = "hamacom2004jp/iinfer @ c7f9a3c"

_FILES = (
    ModelFile(
        "yunet_s_320_320.onnx",
        "beb05bf2378aee45cd7c41056da07265b7bb91041ed1b06f923819a9c744ec36",
        "YuNet-s face detector (2023 format), fixed 320x320 BGR input; boxes, 5 landmarks, score",
        _LIBFACE, "onnx/yunet_s_320_320.onnx", "Apache-2.0",
        "LICENSE.libfacedetection.train", "faces/yunet_s_320_320.onnx",
    ),
    ModelFile(
        "yunet_n_320_320.onnx",
        "f8ab1158af6b3f9478eae1228dc69fba34afa04c63f35fc3417d9e1d991428c0",
        "YuNet-n face detector (2023 format), BGR input of any height and width (multiples of 32; "
        "trained at 320x320); the default face detector",
        _LIBFACE, "onnx/yunet_n_320_320.onnx", "Apache-2.0",
        "LICENSE.libfacedetection.train", "faces/yunet_n_320_320.onnx",
        FREE_INPUT_SIZE, "81dbde155e982455488235acb8ec2dec5d647edf7cf7080d33e4abb69b93a0d2",
    ),
    ModelFile(
        "LICENSE.libfacedetection.train",
        "d096f0e4f790316e1df89675682a51c68ca64745a611689ccd37bd246835440e",
        "licence text of libfacedetection.train (YuNet)",
        _LIBFACE, "LICENSE", "Apache-2.0", "LICENSE.libfacedetection.train",
        "faces/LICENSE.libfacedetection.train",
    ),
    ModelFile(
        "yolox_nano.onnx",
        "011c8ff7a1c046b1d6b7e2db625bced1721cdddded6af1e7a6a174c0a44418d6",
        "YOLOX-nano, COCO 80 classes, input [1, 3, h, w] BGR 0-255 (multiples of 32, trained at 416x416), "
        "raw output [1, n, 85] (n = 3549 at 416x416)",
        _IINFER + " (removed at its HEAD 0437b3af)", "models/yolox_nano.onnx",
        "MIT (hosting repository); YOLOX weights Apache-2.0 (Megvii)", "LICENSE.iinfer",
        "objects/yolox_nano.onnx", FREE_INPUT_SIZE,
        "d39bee73564e338080378b0ad567fbb40e818b55bbfaf971de82a0267ed16b8a",
    ),
    ModelFile(
        "coco_labels.txt",
        "dc183f003fc753c4c43fae6fdf7f387559449573f13fa32e517fb7453fd380f1",
        "COCO class names (91-id list with 'n/a' gaps; the 80 real names are YOLOX's class order)",
        _IINFER, "(label list distributed with the model)", "MIT", "LICENSE.iinfer",
        "objects/coco_labels.txt",
    ),
    ModelFile(
        "LICENSE.iinfer",
        "2a35844d138c84b0094919aea4af487986ef5f5ce026f05a7783cecffdff1c24",
        "licence text of hamacom2004jp/iinfer",
        _IINFER, "LICENSE", "MIT", "LICENSE.iinfer", "objects/LICENSE.iinfer",
    ),
    ModelFile(
        "movenet_single_pose_lightning_ptq.tflite",
        "cd7cc22fa946e5d146a7b98d496853e1923e22828d3972d579973f27f91bb105",
        "MoveNet Lightning single-pose, uint8 input [1, 192, 192, 3] RGB, output [1, 1, 17, 3] (y, x, score)",
        _CORAL, "movenet_single_pose_lightning_ptq.tflite", "Apache-2.0",
        "LICENSE.coral-test_data", "pose/movenet_single_pose_lightning_ptq.tflite",
    ),
    ModelFile(
        "LICENSE.coral-test_data",
        "f9946796a8a5bd5981565142fa42e3b0cc36aef6f80e86beaf5905b3c0fef1b5",
        "licence text of google-coral/test_data",
        _CORAL, "LICENSE", "Apache-2.0", "LICENSE.coral-test_data", "pose/LICENSE.coral-test_data",
    ),
)

MODEL_FILES: dict[str, ModelFile] = {f.name: f for f in _FILES}

_verified: dict[tuple[str, int, int], str] = {}
_verified_lock = threading.Lock()
_cache: dict[str, Any] = {}
_cache_locks: dict[str, threading.Lock] = {}
_cache_guard = threading.Lock()


def models_dir() -> Path:
    """The folder holding the shipped model files (``PROCROP_MODELS_DIR`` overrides it)."""
    override = os.environ.get(ENV_DIR)
    if override:
        return Path(override)
    from importlib.resources import files

    return Path(str(files("procrop.resources"))) / "models"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_path(name: str, folder: Path | None = None, verify: bool = True) -> Path:
    """Path of the shipped file ``name``, checked against its registered sha256.

    Raises:
        ModelLoadError: the name is not registered, or the file is missing, unreadable or
            corrupt (its sha256 differs); the message names the file and the problem.
    """
    entry = MODEL_FILES.get(name)
    if entry is None:
        raise ModelLoadError(f"{name}: not a registered model file (known: {', '.join(MODEL_FILES)})")
    path = (folder or models_dir()) / name
    try:
        stat = path.stat()
    except OSError as exc:
        raise ModelLoadError(
            f"{path}: model file missing ({exc.strerror or exc}); reinstall procrop or run "
            "tools/vendor_models.py"
        ) from exc
    if not verify:
        return path
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _verified_lock:
        if _verified.get(key) == entry.sha256:
            return path
    try:
        actual = sha256_of(path)
    except OSError as exc:
        raise ModelLoadError(f"{path}: model file unreadable ({exc})") from exc
    if actual != entry.sha256:
        raise ModelLoadError(
            f"{path}: model file corrupt: sha256 {actual[:16]}... differs from the expected "
            f"{entry.sha256[:16]}... ({stat.st_size} bytes); reinstall procrop"
        )
    with _verified_lock:
        _verified[key] = actual
    return path


def load_once(key: str, factory: Callable[[], T]) -> T:
    """The object ``factory()`` built once per process for ``key``, shared by every thread.

    Only objects that are safe to use from several threads at once belong here (an
    onnxruntime session, label lists); per-thread objects (OpenCV nets, LiteRT interpreters)
    are built by their owners in ``threading.local`` storage instead. A failed ``factory`` is
    not cached, so the next call tries again.
    """
    with _cache_guard:
        if key in _cache:
            return _cache[key]
        lock = _cache_locks.setdefault(key, threading.Lock())
    with lock:
        with _cache_guard:
            if key in _cache:
                return _cache[key]
        value = factory()
        with _cache_guard:
            _cache[key] = value
        return value


def clear_cache() -> None:
    """Forget loaded models and verified files (tests; a process that swapped files on disk)."""
    with _cache_guard:
        _cache.clear()
    with _verified_lock:
        _verified.clear()


def coco_labels(folder: Path | None = None) -> tuple[str, ...]:
    """The 80 COCO class names in YOLOX order, read from the shipped ``coco_labels.txt``."""

    def read() -> tuple[str, ...]:
        path = model_path("coco_labels.txt", folder)
        names = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
        labels = tuple(n for n in names if n and n.lower() != "n/a")
        if len(labels) != 80:
            raise ModelLoadError(f"{path}: expected 80 COCO class names, found {len(labels)}")
        return labels

    return load_once(f"coco_labels:{folder or models_dir()}", read)
