"""The layout's promises: light modules stay light, the layers hold (import-linter), no module is long."""

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
        "import procrop.model.scorer.search, procrop.model.shared.tokens\n"
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


def test_no_module_is_longer_than_450_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for folder in ("procrop", "benchmarks")
        for p in sorted((ROOT / folder).rglob("*.py"))
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 450
    }
    assert long == {}


def test_every_model_and_training_module_names_its_family() -> None:
    """procrop.model and procrop.training hold only the family packages (README.md, "Layout, extras,
    data and licences")."""
    for package in ("model", "training"):
        children = {p.name for p in (ROOT / "procrop" / package).iterdir() if p.name != "__pycache__"}
        assert children == {"__init__.py", "paper", "scorer", "shared"}, (package, children)
