"""Preview images: the photo with its ranked crops drawn and scored, one panel per ratio."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..cropper import Crop, CropResult
from ..files import atomic_write_bytes
from ..imaging.load import to_rgb_array
from ..verdict import can_keep, score_digits, too_small_to_judge, top_crop_name, versus_original, whole_words

#: Colours of ranks 1, 2, 3... (then repeated).
RANK_COLOURS = ((255, 196, 0), (0, 200, 255), (255, 80, 160), (120, 230, 90), (200, 140, 255))


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


def _shown(photo: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``photo`` resized to ``size`` as RGB, its transparent parts (if any) on a grey checkerboard,
    as image editors show them: the pixels hidden under them are not the picture."""
    if photo.mode not in ("RGBA", "LA", "PA", "RGBa", "La") and "transparency" not in photo.info:
        # 16-bit grey, float or CMYK scaled as the analysis reads them (convert("RGB") made 16-bit white)
        return Image.fromarray(to_rgb_array(photo)[0]).resize(size, Image.Resampling.LANCZOS)
    shown = photo.convert("RGBA").resize(size, Image.Resampling.LANCZOS)
    ys, xs = np.mgrid[: size[1], : size[0]]
    squares = np.where(((xs // 8) + (ys // 8)) % 2 == 0, 204, 153).astype(np.uint8)
    board = Image.fromarray(np.dstack([squares] * 3 + [np.full_like(squares, 255)]), "RGBA")
    board.alpha_composite(shown)
    return board.convert("RGB")


def render_preview(
    photo: Image.Image,
    result: CropResult,
    panel_width: int = 640,
    show_faces: bool = True,
) -> Image.Image:
    """Draw every ratio's crops on a copy of ``photo`` (the oriented original, any size).

    Each panel shows one requested ratio (in the order asked): the best crop with a thick outline, the others thinner,
    each labelled with its rank and score; faces are outlined in white. Below the panels, the
    description, the verdict (as in the JSON) and the top crop's reason.
    """
    found = {c.ratio for c in result.crops}  # panels in the order asked, each with crops
    ratios = [r for r in dict.fromkeys([*result.ratios, *(c.ratio for c in result.crops)]) if r in found]
    # the photo fits a panel_width x MAX_PANEL_HEIGHT box (a 1 x 4000 strip drawn 640 px wide was
    # 2.6 million px tall: gigabytes), centred in its column; a panorama gets a wider panel a row (a
    # trial's 27:1 photo was a strip 23 px tall in each of three columns)
    columns, wide = 3, round(STRIP_HEIGHT * result.width / result.height)
    if result.width > WIDE * result.height and wide > panel_width:
        panel_width, columns = max(panel_width, min(MAX_WIDE_PANEL, wide)), 1
    scale = min(panel_width / result.width, panel_width * MAX_PANEL_HEIGHT / result.height)
    pw, ph = max(1, round(result.width * scale)), max(1, round(result.height * scale))
    base = _shown(photo, (pw, ph))
    panels = [_ratio_panel(base, result, label, scale, show_faces, panel_width)
              for label in ratios or ["(no crop)"]]
    return _sheet(panels, result, panel_width, ph + _HEADER, columns)


_HEADER = 26
#: A panel's photo is at most this many times the panel width tall.
MAX_PANEL_HEIGHT = 2.0
#: A photo more than this many times wider than tall is a panorama: where a panel would show it under
#: :data:`STRIP_HEIGHT` px tall, one panel a row, wide enough for that, up to :data:`MAX_WIDE_PANEL` px.
WIDE = 4.0
STRIP_HEIGHT = 120
MAX_WIDE_PANEL = 2400


def _ratio_panel(base: Image.Image, result: CropResult, label: str, scale: float, show_faces: bool,
                 width: int) -> Image.Image:
    """One ratio's panel, ``width`` wide: the photo with its crops drawn, under a header naming the
    ratio."""
    small = _font(13)
    panel = base.copy()
    draw = ImageDraw.Draw(panel, "RGBA")
    crops = [c for c in result.crops if c.ratio == label]
    best = crops[0] if crops else None
    if best is not None:
        _shade_outside(draw, best, scale, panel.size)
    if show_faces:
        for f in result.analysis.faces:
            x, y, w, h = (v * scale for v in f.box)
            draw.rectangle([x, y, x + w, y + h], outline=(255, 255, 255, 220), width=1)
    for c in reversed(crops):  # every outline first, #1 on top ...
        colour = RANK_COLOURS[(c.rank - 1) % len(RANK_COLOURS)]
        x0, y0, x1, y1 = _pixels(c.box, scale, panel.size)  # the pixels the shade leaves: no gap between
        corners = [x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)]  # a box under a pixel wide still gets an outline
        draw.rectangle(corners, outline=colour + (255,), width=4 if c.rank == 1 else 2)
    placed: list[tuple[float, float, float, float]] = []
    digits = panel_digits(crops, result)
    for c in crops:  # ... then the labels, none under an outline or another label
        colour = RANK_COLOURS[(c.rank - 1) % len(RANK_COLOURS)]
        text = f"#{c.rank} {c.score:.{digits}f}"
        tb = draw.textbbox((0, 0), text, font=small)
        tx, ty = _label_spot(c.box, scale, (tb[2], tb[3]), placed, panel.size)
        placed.append((tx - 2, ty - 2, tx + tb[2] + 2, ty + tb[3] + 2))
        draw.rectangle(placed[-1], fill=(0, 0, 0, 200))
        draw.text((tx, ty), text, fill=colour, font=small)
    canvas = Image.new("RGB", (max(width, panel.width), panel.height + _HEADER), (24, 24, 24))
    canvas.paste(panel, ((canvas.width - panel.width) // 2, _HEADER))
    header = ImageDraw.Draw(canvas)
    header.text((8, 5), panel_title(label, best, result, digits), fill=(240, 240, 240), font=_font(15))
    if show_faces and result.analysis.faces:  # the white outlines' legend, at the header's right end
        key = "white: faces"
        width = header.textbbox((0, 0), key, font=small)[2]
        header.text((canvas.width - width - 8, 7), key, fill=(255, 255, 255), font=small)
    return canvas


def panel_digits(crops: Sequence[Crop], result: CropResult) -> int:
    """The decimals a ratio panel writes its scores with: enough to tell its crops apart, and its
    top crop from the uncropped photo as the verdict does (a trial: the headers printed two
    decimals where the verdict printed three or four)."""
    scores = [c.score for c in crops]
    if crops:
        return max(score_digits(scores), score_digits((crops[0].score, result.uncropped_score), 4))
    return 2


def panel_title(label: str, best: Crop | None, result: CropResult, digits: int | None = None) -> str:
    """A ratio panel's header: the ratio, its top crop's score (with ``digits`` decimals, else
    :func:`panel_digits`') and, for a shape the uncropped photo has, the JSON's words on how likely
    the crop looks better (:mod:`procrop.verdict`): one form for every panel (a trial saw "#1: 72%
    likely..." beside "#1: score 0.75")."""
    if best is None:
        return f"ratio {label}"
    if digits is None:
        digits = panel_digits([c for c in result.crops if c.ratio == label], result)
    title = f"ratio {label}  #1: score {best.score:.{digits}f}"
    if not can_keep([label], result.width, result.height):  # a shape the photo is not: no comparison
        return title
    whole = whole_words(best.box, result.width, result.height, result.content)
    too_small = too_small_to_judge(result.width, result.height)
    return f"{title}, {versus_original(best.confidence, whole, too_small=too_small)}"


def _label_spot(box: tuple[float, float, float, float], scale: float, size: tuple[int, int],
                placed: list[tuple[float, float, float, float]], panel: tuple[int, int]) -> tuple[float, float]:
    """Where a crop's label goes: inside its top-left corner, moved down (then right) past the
    labels already placed, so a lower-ranked crop's label never hides under a better one's."""
    x, y = box[0] * scale + 6, box[1] * scale + 6
    tw, th = size
    for _ in range(40):
        hit = next((r for r in placed if x - 2 < r[2] and r[0] < x + tw + 2 and y - 2 < r[3] and r[1] < y + th + 2), None)
        if hit is None:
            break
        y = hit[3] + 4
        if y + th > panel[1]:
            x, y = hit[2] + 4, box[1] * scale + 6
    return min(x, max(0.0, panel[0] - tw - 4)), min(y, max(0.0, panel[1] - th - 4))


def _sheet(panels: list[Image.Image], result: CropResult, panel_width: int, panel_height: int,
           columns: int = 3) -> Image.Image:
    """Panels on a grid of up to ``columns`` columns (one for a panorama); the description, the
    verdict and each asked ratio's top crop's reason below, in the panels' order, the order asked
    (named as in the verdict: "The top 4:5 crop: ..."; a trial read one reason under three panels
    and could not tell why the 4:5 crop it was sent to won; another had to hunt for a panel's line
    when they came best first)."""
    small = _font(13)
    cols = min(len(panels), columns)
    rows = (len(panels) + cols - 1) // cols
    width = min(cols * panel_width, 3 * 640) - 16  # the footer's text, in lines a reader can follow
    footer_lines = [line for text in footer_texts(result) for line in _wrap(text, small, width)]
    footer = 10 + 17 * len(footer_lines)
    sheet = Image.new("RGB", (cols * panel_width, rows * panel_height + footer), (24, 24, 24))
    for i, p in enumerate(panels):
        sheet.paste(p, ((i % cols) * panel_width, (i // cols) * panel_height))
    d = ImageDraw.Draw(sheet)
    y = rows * panel_height + 5
    for line in footer_lines:
        d.text((8, y), line, fill=(220, 220, 220), font=small)
        y += 17
    return sheet


def footer_texts(result: CropResult) -> list[str]:
    """The sheet's footer, a paragraph each: the description, the verdict and each asked ratio's top
    crop's reason, in the panels' order (:func:`_sheet`)."""
    texts = [result.description]
    if result.crops:
        asked = list(dict.fromkeys([*result.ratios, *(c.ratio for c in result.crops)]))
        texts.append(result.verdict)
        tops = {c.ratio: c for c in result.crops if c.rank == 1}
        for top in [tops[r] for r in asked if r in tops]:  # as the panels run
            name = top_crop_name(top.ratio, asked)
            texts.append(f"{name[0].upper()}{name[1:]}: {top.reason}")
    return texts


def _pixels(box: tuple[int, int, int, int], scale: float, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A crop's ``(x, y, w, h)`` box on the panel as whole pixels ``[x0, x1) x [y0, y1)``, inside it:
    the outline and the shade both follow it, so they meet without a gap or an overlap."""
    x, y, w, h = (v * scale for v in box)
    W, H = size
    x0, y0 = max(0, min(round(x), W)), max(0, min(round(y), H))
    return x0, y0, max(x0, min(round(x + w), W)), max(y0, min(round(y + h), H))


def _shade_outside(draw: ImageDraw.ImageDraw, crop: Crop, scale: float, size: tuple[int, int]) -> None:
    """Darken the panel outside the crop once, evenly: four bands on whole pixels that tile the outside
    without overlapping (Pillow's rectangle includes its far corner, so each band ends one pixel
    short; inclusive bands met on shared rows and columns, shading them twice into dark seams)."""
    W, H = size
    shade = (0, 0, 0, 110)
    x0, y0, x1, y1 = _pixels(crop.box, scale, size)
    for rx0, ry0, rx1, ry1 in ((0, 0, W, y0), (0, y1, W, H), (0, y0, x0, y1), (x1, y0, W, y1)):
        if rx1 > rx0 and ry1 > ry0:  # [rx0, rx1) x [ry0, ry1)
            draw.rectangle([rx0, ry0, rx1 - 1, ry1 - 1], fill=shade)


def _wrap(text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont, width: int) -> list[str]:
    words = text.split()
    lines: list[str] = []
    line = ""
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    for word in words:
        trial = f"{line} {word}".strip()
        if probe.textlength(trial, font=font) <= width or not line:
            line = trial
        else:
            lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines


def save_preview(image: Image.Image, path: str | Path) -> None:
    """Write a preview PNG atomically."""
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False)
    atomic_write_bytes(path, buf.getvalue())


def contact_sheet(
    tiles: Sequence[tuple[Image.Image, str]], tile_width: int = 256, columns: int = 4
) -> Image.Image:
    """A grid of labelled thumbnails (used by ``index query --preview`` and dataset previews)."""
    font = _font(13)
    thumbs = []
    for im, label in tiles:
        im = im.convert("RGB")
        h = max(1, round(im.height * tile_width / im.width))
        thumbs.append((im.resize((tile_width, h), Image.Resampling.LANCZOS), label))
    cols = max(1, min(columns, len(thumbs)))
    rows = (len(thumbs) + cols - 1) // cols if thumbs else 1
    row_h = [0] * rows
    for i, (t, _) in enumerate(thumbs):
        row_h[i // cols] = max(row_h[i // cols], t.height + 34)
    sheet = Image.new("RGB", (cols * (tile_width + 8) + 8, sum(row_h) + 8 or 40), (24, 24, 24))
    d = ImageDraw.Draw(sheet)
    y = 8
    for r in range(rows):
        for c in range(cols):
            i = r * cols + c
            if i >= len(thumbs):
                break
            t, label = thumbs[i]
            x = 8 + c * (tile_width + 8)
            sheet.paste(t, (x, y))
            for k, line in enumerate(_wrap(label, font, tile_width)[:2]):
                d.text((x, y + t.height + 2 + 15 * k), line, fill=(230, 230, 230), font=font)
        y += row_h[r]
    return sheet


def composition_map(tokens: np.ndarray, encoder: str = "layout", width: int = 192, aspect: float = 1.5) -> Image.Image:
    """Render a photo's composition tokens as a picture (used where no thumbnail is stored).

    Layout tokens: the 8x8 lightness layout in grey, saliency in red, faces in white, lines in
    yellow, the horizon in cyan. Other encoders: the mean activation per cell as a heat map.
    """
    import cv2

    from ..retrieval.encoders.layout import LAYOUT_CHANNELS
    from ..retrieval.encoders.registry import GRID, encoder_class

    height = max(1, round(width / aspect))
    grid = encoder_class(encoder).grid_from_tokens(np.asarray(tokens)[None])[0].reshape(GRID, GRID, -1)

    def up(channel: np.ndarray) -> np.ndarray:
        return cv2.resize(channel.astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)

    if encoder == "layout":
        c = {name: i for i, name in enumerate(LAYOUT_CHANNELS)}
        light = np.clip(up(grid[:, :, c["lightness"]]), 0, 1)
        rgb = np.repeat(light[:, :, None] * 0.7 + 0.1, 3, axis=2)
        sal = np.clip(up(grid[:, :, c["saliency"]]), 0, 1)[:, :, None]
        rgb = rgb * (1 - 0.7 * sal) + np.array([1.0, 0.15, 0.1]) * 0.7 * sal
        for name, colour in (("lines", (1.0, 0.9, 0.1)), ("horizon", (0.1, 0.9, 1.0)), ("faces", (1.0, 1.0, 1.0))):
            m = np.clip(up(grid[:, :, c[name]]) * (3.0 if name != "faces" else 1.0), 0, 1)[:, :, None]
            rgb = rgb * (1 - 0.8 * m) + np.array(colour) * 0.8 * m
    else:
        heat = np.abs(grid).mean(axis=2)
        heat = (heat - heat.min()) / max(float(np.ptp(heat)), 1e-9)
        rgb = cv2.applyColorMap((up(heat) * 255).clip(0, 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[:, :, ::-1] / 255.0
    return Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8))
