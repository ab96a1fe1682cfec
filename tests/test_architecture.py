"""The layout's promises: light modules stay light, and the layers hold (import-linter)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_light_modules_load_neither_opencv_nor_torch() -> None:
    code = (
        "import sys, procrop.geometry, procrop.retrieval.store, procrop.data, procrop.files\n"
        "heavy = sorted(m for m in ('cv2', 'torch', 'procrop.cropper') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_api_is_lazy_but_complete() -> None:
    import procrop

    for name in procrop.__all__:
        assert getattr(procrop, name) is not None
    assert procrop.Cropper.__module__ == "procrop.cropper"


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter is not installed")
def test_import_contracts_hold() -> None:
    r = subprocess.run(["lint-imports"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:]
