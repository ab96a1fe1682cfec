"""The preview sheet: panels in the order the ratios were asked, and no label hidden under another."""

from __future__ import annotations

import numpy as np
import pytest

from procrop import Cropper
from procrop.output import preview


def test_labels_of_crops_sharing_a_corner_do_not_overlap() -> None:
    placed: list[tuple[float, float, float, float]] = []
    for _ in range(3):  # three crops with the same top-left corner
        x, y = preview._label_spot((10, 10, 200, 150), 1.0, (50, 14), placed, (400, 300))
        rect = (x - 2, y - 2, x + 52, y + 16)
        assert all(rect[2] <= r[0] or r[2] <= rect[0] or rect[3] <= r[1] or r[3] <= rect[1] for r in placed)
        placed.append(rect)
    # a label never leaves the panel, even for a crop in its bottom-right corner
    x, y = preview._label_spot((390, 290, 10, 10), 1.0, (50, 14), [], (400, 300))
    assert 0 <= x <= 400 - 50 and 0 <= y <= 300 - 14


def test_panels_follow_the_order_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    img = np.random.default_rng(1).integers(0, 255, (120, 180, 3), dtype=np.uint8)
    result = Cropper(scorer="classic", reference_db=None).process(img, ["16:9", "1:1", "4:5"], top_k=2)
    drawn: list[str] = []
    real = preview._ratio_panel
    monkeypatch.setattr(preview, "_ratio_panel", lambda base, res, label, *a: drawn.append(label) or real(base, res, label, *a))
    from PIL import Image

    sheet = preview.render_preview(Image.fromarray(img), result, panel_width=180)
    assert drawn == ["16:9", "1:1", "4:5"] and result.ratios == drawn
    assert sheet.width == 3 * 180  # one sheet, the three panels side by side
