"""Image input: formats, modes, orientation, shrink-on-load, and every kind of bad file."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import asymmetric_rgb
from procrop.errors import ImageLoadError
from procrop.files import atomic_write
from procrop.imaging.load import load_image, open_full
from procrop.imaging.save import save_image

# inverse of the transposition procrop applies for each EXIF orientation
INVERSE = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def _with_orientation(upright: Image.Image, orientation: int) -> tuple[Image.Image, Image.Exif]:
    op = INVERSE[orientation]
    stored = upright if op is None else upright.transpose(op)
    exif = Image.Exif()
    exif[0x0112] = orientation
    return stored, exif


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int, fmt: str) -> None:
    upright = Image.fromarray(asymmetric_rgb(96, 64))
    stored, exif = _with_orientation(upright, orientation)
    path = tmp_path / f"o{orientation}.{fmt.lower()}"
    stored.save(path, format=fmt, exif=exif, **({"quality": 98} if fmt == "JPEG" else {}))
    loaded = load_image(path, max_side=256)
    assert (loaded.width, loaded.height) == (96, 64)
    assert loaded.orientation == orientation
    diff = np.abs(loaded.pixels.astype(int) - np.asarray(upright).astype(int))
    assert diff.mean() < (1.0 if fmt == "PNG" else 6.0)
    # the oriented full-resolution image (used to write crops) agrees
    full = open_full(path)
    assert full.size == (96, 64)


@pytest.mark.parametrize(
    "fmt,ext,kwargs",
    [
        ("JPEG", "jpg", {"quality": 95}),
        ("PNG", "png", {}),
        ("WEBP", "webp", {"quality": 95}),
        ("TIFF", "tif", {}),
        ("BMP", "bmp", {}),
        ("GIF", "gif", {}),
    ],
)
def test_formats(tmp_path: Path, fmt: str, ext: str, kwargs: dict) -> None:
    rgb = asymmetric_rgb(120, 80)
    path = tmp_path / f"x.{ext}"
    Image.fromarray(rgb).save(path, format=fmt, **kwargs)
    loaded = load_image(path, max_side=60)
    assert (loaded.width, loaded.height) == (120, 80)
    assert loaded.pixels.shape == (40, 60, 3) and loaded.pixels.dtype == np.uint8
    assert loaded.format == fmt
    # red top-left block survives every codec
    assert loaded.pixels[2, 2, 0] > 180 and loaded.pixels[2, 2, 2] < 90


def test_gif_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (40, 30), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    loaded = load_image(path)
    assert loaded.pixels[10, 10].tolist()[0] > 200 and loaded.pixels[10, 10, 2] < 50


@pytest.mark.parametrize(
    "mode,value,expected",
    [
        ("L", 100, (100, 100, 100)),
        ("1", 1, (255, 255, 255)),
        ("P", 0, None),  # palette entry 0 of an RGB-converted image
        ("LA", (50, 255), (50, 50, 50)),
        ("RGBA", (0, 0, 255, 0), (255, 255, 255)),  # fully transparent -> white background
        ("RGBA", (0, 0, 255, 255), (0, 0, 255)),
        ("I;16", 65535, (255, 255, 255)),
        ("I;16", 32896, (128, 128, 128)),
        ("I", 40000, (156, 156, 156)),  # 32-bit integers: nominal 16-bit range
        ("F", 0.5, (127, 127, 127)),
        ("CMYK", (0, 255, 255, 0), (255, 0, 0)),
    ],
)
def test_modes_convert_to_rgb(tmp_path: Path, mode: str, value, expected) -> None:
    if mode == "P":
        im = Image.new("RGB", (20, 10), (10, 200, 30)).convert("P", palette=Image.Palette.ADAPTIVE)
        expected = (10, 200, 30)
    else:
        im = Image.new(mode, (20, 10), value)
    ext = {"CMYK": "tif", "F": "tif", "I": "tif", "LA": "png"}.get(mode, "png")
    path = tmp_path / f"m.{ext}"
    im.save(path)
    loaded = load_image(path)
    assert loaded.pixels.shape == (10, 20, 3)
    assert np.abs(loaded.pixels[5, 5].astype(int) - np.asarray(expected)).max() <= 2
    assert loaded.has_alpha == (mode in ("LA", "RGBA"))


def test_cmyk_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (64, 32), (0, 0, 255, 0)).save(path, quality=95)  # yellow
    px = load_image(path).pixels[16, 32].astype(int)
    assert px[0] > 230 and px[1] > 230 and px[2] < 40


def test_16bit_rgb_png(tmp_path: Path) -> None:
    import cv2

    arr = np.zeros((30, 40, 3), np.uint16)
    arr[:, :, 2] = 65535  # OpenCV writes BGR: this is red
    path = tmp_path / "deep.png"
    cv2.imwrite(str(path), arr)
    px = load_image(path).pixels[15, 20]
    assert px[0] > 250 and px[1] < 5 and px[2] < 5


def test_arrays_and_pil_inputs() -> None:
    rgb = asymmetric_rgb(80, 40)
    a = load_image(rgb)
    assert (a.width, a.height) == (80, 40) and a.path is None
    g = load_image(rgb[:, :, 0])
    assert g.pixels.shape == (40, 80, 3)
    f = load_image(rgb.astype(np.float32) / 255.0)
    assert np.abs(f.pixels.astype(int) - rgb.astype(int)).max() <= 1
    u16 = load_image(rgb.astype(np.uint16) * 257)
    assert np.abs(u16.pixels.astype(int) - rgb.astype(int)).max() <= 1
    p = load_image(Image.fromarray(rgb))
    assert (p.width, p.height) == (80, 40)
    with pytest.raises(ImageLoadError, match="shape"):
        load_image(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(ImageLoadError, match="no pixels"):
        load_image(np.zeros((0, 4, 3), np.uint8))
    with pytest.raises(ImageLoadError, match="holds no finite value"):
        load_image(np.full((4, 4, 3), np.nan, np.float32))
    with pytest.raises(ImageLoadError, match="cannot read an object of type BytesIO"):
        load_image(io.BytesIO(b"\xff\xd8"))  # type: ignore[arg-type]
    with pytest.raises(ImageLoadError, match="cannot read None: give a path"):
        load_image(None)  # type: ignore[arg-type]
    with pytest.raises(ImageLoadError, match="cannot read an object of type int"):  # "a int" before
        load_image(42)  # type: ignore[arg-type]


def test_shrink_on_load_decodes_jpeg_small(tmp_path: Path) -> None:
    # a 24 MP JPEG: the working image is a few hundred pixels and the decoder never made the full one
    path = tmp_path / "big.jpg"
    rng = np.random.default_rng(0)
    small = (rng.random((375, 250, 3)) * 255).astype(np.uint8)
    Image.fromarray(small).resize((6000, 4000)).save(path, quality=80)
    loaded = load_image(path, max_side=256)
    assert (loaded.width, loaded.height) == (6000, 4000)
    assert max(loaded.pixels.shape[:2]) == 256
    assert loaded.decoded_size is not None and max(loaded.decoded_size) <= 750  # DCT scale 1/8


def test_errors_name_the_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageLoadError, match="empty.jpg: empty file"):
        load_image(empty)

    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    with pytest.raises(ImageLoadError, match="notes.png: not an image"):
        load_image(text)

    with pytest.raises(ImageLoadError, match="missing.jpg: no such file"):
        load_image(tmp_path / "missing.jpg")

    with pytest.raises(ImageLoadError, match="is a directory"):
        load_image(tmp_path)

    good = io.BytesIO()
    Image.fromarray(asymmetric_rgb(400, 300)).save(good, format="JPEG", quality=90)
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    with pytest.raises(ImageLoadError, match="cut.jpg: .*truncated"):
        load_image(truncated)

    png = io.BytesIO()
    Image.fromarray(asymmetric_rgb(400, 300)).save(png, format="PNG")
    cut_png = tmp_path / "cut.png"
    cut_png.write_bytes(png.getvalue()[:200])
    with pytest.raises(ImageLoadError, match="cut.png"):
        load_image(cut_png)

    with pytest.raises(ImageLoadError, match="empty data"):
        load_image(b"")


def test_unsupported_format(tmp_path: Path) -> None:
    path = tmp_path / "x.ico"
    Image.new("RGB", (16, 16)).save(path, format="ICO")
    with pytest.raises(ImageLoadError, match="format ICO is not supported"):
        load_image(path)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_decompression_bomb_limit(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_only(100_000, 100_000))
    # Pillow refuses it before procrop's own limit: in the same words, with the pixels and Pillow's limit
    words = r"bomb.png: 10,000,000,000 pixels exceeds the limit of [\d,]+ \(Pillow's decompression-bomb"
    with pytest.raises(ImageLoadError, match=words) as refused:
        load_image(bomb)
    from procrop.server.errors import from_procrop  # the API names it as it names procrop's own limit

    assert from_procrop(refused.value).error == "too_many_pixels"
    small = tmp_path / "small.png"
    Image.new("RGB", (100, 100)).save(small)
    with pytest.raises(ImageLoadError, match="exceeds the limit of 5,000"):
        load_image(small, max_pixels=5000)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # chmod cannot lock out root (CI runs as root), so make the open itself fail as it would
    path = tmp_path / "locked.png"
    Image.new("RGB", (8, 8)).save(path)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Image, "open", denied)
    with pytest.raises(ImageLoadError, match="locked.png: permission denied"):
        load_image(path)


def test_atomic_write_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError):
        with atomic_write(target, "w") as fh:
            fh.write("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with atomic_write(target, "w") as fh:
        fh.write("whole")
    assert target.read_text() == "whole"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_save_image_keeps_icc_quality_and_resets_orientation(tmp_path: Path) -> None:
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src_path = tmp_path / "src.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    exif.get_ifd(0x8769).update({0xA002: 200, 0xA003: 100, 0x829A: (1, 250)})  # pixel size, exposure
    Image.fromarray(asymmetric_rgb(200, 100)).save(src_path, quality=70, icc_profile=icc, exif=exif)
    src = open_full(src_path)
    assert src.size == (100, 200)  # rotated upright
    out = tmp_path / "crop.jpg"
    save_image(src.crop((0, 0, 50, 40)), out, source=src)
    saved = Image.open(out)
    assert saved.info.get("icc_profile") == icc
    assert saved.getexif().get(0x0112) == 1
    # the pixel size EXIF records is the crop's (a trial found the photo's), the camera's data kept
    sub = saved.getexif().get_ifd(0x8769)
    assert (sub.get(0xA002), sub.get(0xA003)) == (50, 40) and 0x829A in sub
    assert src.getexif().get_ifd(0x8769).get(0xA002) == 200  # the photo's own EXIF is left as it was
    plain = tmp_path / "plain.jpg"  # EXIF without its sub-IFD: the crop gets none (an empty one was added)
    tags = Image.Exif()
    tags[0x010F], tags[0x0100], tags[0x0101] = "Maker", 200, 100
    Image.fromarray(asymmetric_rgb(100, 200)).save(plain, exif=tags)
    save_image(open_full(plain).crop((0, 0, 30, 20)), tmp_path / "p.jpg", source=open_full(plain))
    written = Image.open(tmp_path / "p.jpg").getexif()
    assert 0x8769 not in written and (written.get(0x0100), written.get(0x0101)) == (30, 20)
    # same quantisation tables as the source: quality preserved, not re-encoded at a default
    assert saved.quantization == Image.open(src_path).quantization


def test_a_photo_loads_alike_from_its_path_and_its_pillow_image(photo_paths) -> None:
    """``Image.open(path)`` is read as the path is (the same pixels, so the same description); a
    JPEG already decoded in full is shrunk as DCT scaling would, to within a grey level."""
    from procrop import Cropper

    cropper = Cropper(reference_db=None, scorer="classic")
    for path in [p for p in photo_paths if p.suffix == ".jpg"][:6]:
        from_path = cropper.load(path)
        from_image = cropper.load(Image.open(path))
        assert np.array_equal(from_path.pixels, from_image.pixels), path
        assert cropper.describe(path) == cropper.describe(Image.open(path)), path
        decoded = Image.open(path)
        decoded.load()
        loaded = cropper.load(decoded)
        assert loaded.decoded_size == from_path.decoded_size, path
        assert np.abs(loaded.pixels.astype(int) - from_path.pixels).mean() < 1.0, path


def test_a_broken_link_in_a_folder_is_an_input_that_fails(tmp_path: Path) -> None:
    """A link to a moved photo was left out without a word ("1 of 1 image(s) done"); named directly
    it failed: now it is an input either way, and loading it says "no such file"."""
    from procrop.imaging.files import iter_image_files

    (tmp_path / "good.jpg").write_bytes(b"x")
    (tmp_path / "broken.jpg").symlink_to(tmp_path / "gone.jpg")
    (tmp_path / "notes.txt").symlink_to(tmp_path / "gone.txt")  # not an image name: not an input
    files, problems = iter_image_files([str(tmp_path)])
    assert sorted(Path(f).name for f in files) == ["broken.jpg", "good.jpg"] and problems == []
    with pytest.raises(ImageLoadError, match="no such file"):
        load_image(str(tmp_path / "broken.jpg"))


def _broken_mpo_jpeg(path: Path) -> Path:
    """A JPEG with an MPO (APP2 "MPF") segment Pillow cannot parse: it reads as the plain JPEG."""
    buf = io.BytesIO()
    Image.fromarray(asymmetric_rgb(96, 64)).save(buf, "JPEG")
    payload = b"MPF\0" + b"\0" * 40
    data = buf.getvalue()
    path.write_bytes(data[:2] + b"\xff\xe2" + struct.pack(">H", len(payload) + 2) + payload + data[2:])
    return path


def test_a_broken_mpo_header_prints_no_pillow_warning_on_the_command_line(tmp_path: Path) -> None:
    """A trial's camera photo printed Pillow's UserWarning (with Pillow's source line) under --quiet,
    once more per worker; a library user's process keeps Pillow's warning."""
    import os
    import subprocess
    import sys
    import warnings

    a, b = _broken_mpo_jpeg(tmp_path / "a.jpg"), _broken_mpo_jpeg(tmp_path / "b.jpg")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        load_image(a)
    assert any("malformed MPO" in str(w.message) for w in seen)  # the file does warn
    env = {**os.environ, "PYTHONWARNINGS": "always"}
    for jobs in ("1", "2"):  # in the command's own process, and in its workers
        out = subprocess.run([sys.executable, "-m", "procrop", "crop", str(a), str(b), "-r", "1:1", "-q",
                              "--scorer", "classic", "-j", jobs, "--force", "-o", str(tmp_path / "out")],
                             capture_output=True, text=True, env=env, timeout=300)
        assert out.returncode == 0, out.stderr
        assert "MPO" not in out.stderr
