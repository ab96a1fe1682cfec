"""Render one judging sheet: the whole photo small on top, four candidate crops labelled 1-4 below.

The crops share one display height (so a judge compares framing, not size); nothing on the sheet
names a method or a score. See ``docs/judging.md``.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

Box = tuple[int, int, int, int]

SHEET_MAX_WIDTH = 1800
CROP_MAX_HEIGHT = 380
ORIGINAL_HEIGHT = 220
GAP = 24
LABEL_HEIGHT = 56
BACKGROUND = (236, 236, 236)
INK = (20, 20, 20)
_FONT_FILES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "DejaVuSans-Bold.ttf",
    "Arial Bold.ttf",
)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    for name in _FONT_FILES:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def crop_display_height(boxes: list[Box]) -> int:
    """The shared display height: as tall as :data:`CROP_MAX_HEIGHT`, narrow enough that the crops
    side by side fit :data:`SHEET_MAX_WIDTH`."""
    aspect_sum = sum(w / h for _, _, w, h in boxes)
    room = SHEET_MAX_WIDTH - GAP * (len(boxes) + 1)
    return int(max(120, min(CROP_MAX_HEIGHT, room / aspect_sum)))


def render_sheet(photo: Image.Image, boxes: list[Box]) -> Image.Image:
    """The sheet for ``boxes`` (label order) of ``photo`` (oriented, any mode) as an RGB image."""
    rgb = photo.convert("RGB")
    W, H = rgb.size
    dh = crop_display_height(boxes)
    tiles = []
    for x, y, w, h in boxes:
        tw = max(1, round(w * dh / h))
        tiles.append(rgb.crop((x, y, x + w, y + h)).resize((tw, dh), Image.LANCZOS))
    ow = max(1, round(W * ORIGINAL_HEIGHT / H))
    original = rgb.resize((ow, ORIGINAL_HEIGHT), Image.LANCZOS)
    row_width = sum(t.width for t in tiles) + GAP * (len(tiles) + 1)
    width = max(row_width, ow + 2 * GAP)
    height = GAP + 34 + ORIGINAL_HEIGHT + GAP + LABEL_HEIGHT + dh + GAP
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    small, big = _font(26), _font(44)
    ox = (width - ow) // 2
    draw.text((ox, GAP), "original", fill=INK, font=small)
    sheet.paste(original, (ox, GAP + 34))
    y = GAP + 34 + ORIGINAL_HEIGHT + GAP
    x = (width - row_width) // 2 + GAP
    for label, tile in enumerate(tiles, start=1):
        draw.text((x + tile.width // 2 - 14, y), str(label), fill=INK, font=big)
        sheet.paste(tile, (x, y + LABEL_HEIGHT))
        draw.rectangle((x - 1, y + LABEL_HEIGHT - 1, x + tile.width, y + LABEL_HEIGHT + dh), outline=INK)
        x += tile.width + GAP
    return sheet


def save_sheet(sheet: Image.Image, path: str | Path) -> None:
    """Write a sheet as PNG atomically: a half-written sheet never reaches a judge."""
    from ..files import atomic_write

    with atomic_write(path) as fh:
        sheet.save(fh, format="PNG", compress_level=6)
