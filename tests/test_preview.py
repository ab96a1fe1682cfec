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


def test_a_panorama_is_drawn_one_wide_panel_a_row() -> None:
    """A trial's 27:1 panorama was a strip 23 px tall in each of three 640 px columns."""
    from PIL import Image

    img = np.random.default_rng(2).integers(0, 255, (40, 1080, 3), dtype=np.uint8)
    result = Cropper(scorer="classic", reference_db=None).process(img, ["free", "1:1"], top_k=1)
    sheet = preview.render_preview(Image.fromarray(img), result)
    assert sheet.width == preview.MAX_WIDE_PANEL  # one column, as wide as a panel gets (120 px x 27)
    assert sheet.height > 2 * (89 + 26)  # two rows, each showing the photo 40 x 2400 / 1080 px tall


@pytest.mark.parametrize("size, box", [((1000, 600), (100, 100, 500, 300)), ((1000, 600), (101, 103, 497, 299)),
                                       ((997, 613), (3, 7, 555, 401)), ((1234, 777), (0, 0, 617, 777))])
def test_the_shade_outside_the_best_crop_has_no_seam(size: tuple[int, int], box: tuple[int, int, int, int]) -> None:
    """On a flat grey photo, everything outside the #1 crop is shaded once (one grey: no darker line where
    the shaded bands meet) and the shade runs up to the crop's outline (no unshaded line between them)."""
    from types import SimpleNamespace

    from PIL import Image

    from procrop.cropper import Crop, CropResult

    W, H = size
    crop = Crop(box=box, ratio="free", score=0.5, rank=1, confidence=0.6, terms={}, reason="r")
    result = CropResult(image="flat", width=W, height=H, crops=[crop], uncropped_score=0.4, description="d",
                        analysis=SimpleNamespace(faces=[]), ratios=["free"])
    sheet = preview.render_preview(Image.new("RGB", size, (200, 200, 200)), result, panel_width=640, show_faces=False)
    ph = round(H * 640 / W)
    rgb = np.asarray(sheet).astype(int)[preview._HEADER:preview._HEADER + ph]
    grey = np.where((rgb[..., 0] == rgb[..., 1]) & (rgb[..., 1] == rgb[..., 2]), rgb[..., 0], -1)
    labels = 200 * (255 - 200) // 255  # the black label plate over the photo
    shades = set(np.unique(grey[grey >= 0]).tolist()) - {200, labels, labels + 1}
    assert len(shades) <= 1, sorted(shades)  # a seam shaded twice is a second, darker grey
    if box[2:] != size:
        assert shades and min(shades) > 60
        shade = min(shades)
        side = ((grey[:, 1:] == shade) & (grey[:, :-1] == 200)) | ((grey[:, 1:] == 200) & (grey[:, :-1] == shade))
        updown = ((grey[1:] == shade) & (grey[:-1] == 200)) | ((grey[1:] == 200) & (grey[:-1] == shade))
        assert not side.any() and not updown.any()  # shade meets the outline, never the bare photo


def test_transparent_parts_show_as_a_checkerboard_not_the_pixels_under_them() -> None:
    """A trial's PNG drew the hidden RGB under its transparent corners as if opaque, so the preview
    could not show that a crop was mostly empty."""
    from PIL import Image

    rgba = np.zeros((64, 96, 4), np.uint8)
    rgba[..., 0] = 255  # red everywhere, hidden on the left half
    rgba[:, 48:, 3] = 255
    shown = np.asarray(preview._shown(Image.fromarray(rgba, "RGBA"), (96, 64)))
    assert (shown[:, 60:] == (255, 0, 0)).all()
    left = shown[:, :40]
    assert set(np.unique(left)) == {153, 204} and (left[..., 0] == left[..., 1]).all()  # grey squares
    opaque = np.asarray(preview._shown(Image.fromarray(rgba[..., :3], "RGB"), (96, 64)))
    assert (opaque == (255, 0, 0)).all()


def test_a_16_bit_grey_photo_is_drawn_scaled_not_white() -> None:
    """convert("RGB") clips 16-bit grey to 255: a trial's preview was a blank white sheet."""
    from PIL import Image

    grey = np.tile(np.linspace(0, 65535, 96).astype(np.uint16), (64, 1))
    shown = np.asarray(preview._shown(Image.fromarray(grey), (96, 64)))
    assert shown[:, :10].mean() < 40 and shown[:, -10:].mean() > 215
