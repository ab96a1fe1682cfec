"""Written crops, in every format procrop reads: re-opened and compared with the source region.

The same sources go through the three writers (the CLI's ``--out``, the Python API's
:func:`procrop.imaging.save.save_image` and the server's ``/v1/crop/image``), and a write that
fails leaves nothing behind.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from procrop.cli.app import app
from procrop.imaging.load import open_full, to_rgb_array
from procrop.imaging.save import crop_resized, save_image

W, H = 320, 240


def _scene() -> np.ndarray:
    """Flat colour blocks on a mid grey: every codec (GIF's palette too) keeps them nearly exact."""
    img = np.full((H, W, 3), 128, np.uint8)
    img[20:100, 30:150] = (220, 40, 40)
    img[130:220, 180:300] = (30, 60, 210)
    img[60:200, 120:170] = (40, 200, 60)
    img[:, 300:] = (250, 250, 250)
    return img


def _grey16() -> np.ndarray:
    return (_scene()[:, :, 1].astype(np.uint16) * 257).astype(np.uint16)


def _write_sources(folder: Path) -> dict[str, tuple[Path, float]]:
    """name -> (file, the mean absolute difference its codec may leave)."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    rgb = Image.fromarray(_scene())
    made: dict[str, tuple[Path, float]] = {}

    def save(name: str, im: Image.Image, tol: float, **kw) -> None:
        path = folder / name
        im.save(path, **kw)
        made[name] = (path, tol)

    save("a.jpg", rgb, 4.0, quality=95)
    save("b.png", rgb, 0.0)
    save("c.webp", rgb, 4.0, quality=95)
    save("d_plain.tif", rgb, 0.0)
    save("e_lzw.tif", rgb, 0.0, compression="tiff_lzw")
    cv2.imwrite(str(folder / "f_rgb16.tif"), (_scene().astype(np.uint16) * 257)[:, :, ::-1])
    made["f_rgb16.tif"] = (folder / "f_rgb16.tif", 0.0)
    save("g_grey16.tif", Image.fromarray(_grey16()), 0.0)
    save("h_float.tif", Image.fromarray(_scene()[:, :, 0].astype(np.float32) / 255.0), 0.5)
    save("i.gif", rgb.convert("P", palette=Image.Palette.ADAPTIVE), 1.0)
    save("j.bmp", rgb, 0.0)
    return made


def _expected(source: Path, box: list[int], size: tuple[int, int] | None) -> np.ndarray:
    return to_rgb_array(crop_resized(open_full(source), tuple(box), size))[0].astype(int)


def _assert_same(written: Path | bytes, source: Path, box: list[int], size: tuple[int, int] | None,
                 tol: float) -> None:
    im = Image.open(io.BytesIO(written) if isinstance(written, bytes) else written)
    im.load()  # a truncated or mislabelled file fails here
    want = (box[2], box[3]) if size is None else size
    assert im.size == want, (source.name, im.size, want)
    if size is None:
        # a plain crop is the source's own pixels: compared with the source region itself
        region = to_rgb_array(open_full(source))[0][box[1]:box[1] + box[3], box[0]:box[0] + box[2]].astype(int)
    else:
        region = _expected(source, box, size)
    diff = np.abs(to_rgb_array(im)[0].astype(int) - region).mean()
    assert diff <= tol + (2.5 if size is not None else 0.0), (source.name, diff)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, float]]:
    return _write_sources(tmp_path_factory.mktemp("sources") / "in")


def test_cli_writes_every_format_readable_and_faithful(sources, tmp_path: Path) -> None:
    out = tmp_path / "out"
    folder = next(iter(sources.values()))[0].parent
    r = CliRunner().invoke(app, ["crop", str(folder), "-r", "1:1,16:9,200x150", "-k", "1", "-o", str(out),
                                 "--scorer", "classic", "--no-db", "--fast", "-q"], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    for name, (path, tol) in sources.items():
        data = json.loads((out / f"{path.stem}.json").read_text())
        assert len(data["crops"]) == 3, name
        for crop in data["crops"]:
            written = Path(crop["file"])
            assert written.suffix == path.suffix
            size = tuple(crop["output_size"]) if crop.get("output_size") else None
            _assert_same(written, path, crop["box"], size, tol)


def test_crops_follow_the_content_when_the_name_misleads(tmp_path: Path) -> None:
    """A PNG named .jpg gave lossy JPEG crops, a JPEG named .png 1.3 MB PNG ones (a trial): the
    crops take the format the file holds; a name that says it (.jpeg) is kept."""
    from procrop.imaging.save import crop_extension

    rng = np.random.default_rng(0)
    pixels = (rng.random((120, 160, 3)) * 255).astype(np.uint8)
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    Image.fromarray(pixels).save(folder / "really_png.jpg", format="PNG")
    Image.fromarray(pixels).save(folder / "really_jpeg.png", format="JPEG")
    r = CliRunner().invoke(app, ["crop", str(folder), "-r", "1:1", "-k", "1", "-o", str(out),
                                 "--scorer", "classic", "--no-db", "--fast", "-q"], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    for stem, fmt in (("really_png", "PNG"), ("really_jpeg", "JPEG")):
        written = Path(json.loads((out / f"{stem}.json").read_text())["crops"][0]["file"])
        assert Image.open(written).format == fmt and written.suffix == (".png" if fmt == "PNG" else ".jpg")
    assert crop_extension("a.JPEG", "JPEG") == ".jpeg" and crop_extension("a.jpg", "MPO") == ".jpg"


@pytest.mark.parametrize("fmt,ext,quality",
                         [("jpeg", ".jpg", 95), ("png", ".png", None), ("webp", ".webp", 95)])
def test_cli_writes_the_format_asked_from_every_source(sources, tmp_path: Path, fmt: str, ext: str,
                                                       quality: int | None) -> None:
    """--format and --quality (a photographer's trial asked for them): every source's crops in the
    format asked, faithful to the source's pixels; a re-run with another format replaces them."""
    out = tmp_path / "out"
    folder = next(iter(sources.values()))[0].parent
    args = ["crop", str(folder), "-r", "1:1", "-k", "1", "-o", str(out), "--format", fmt,
            *(["--quality", str(quality)] if quality else []),
            "--scorer", "classic", "--no-db", "--fast", "-q"]
    r = CliRunner().invoke(app, args, catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    for name, (path, tol) in sources.items():
        crop = json.loads((out / f"{path.stem}.json").read_text())["crops"][0]
        written = Path(crop["file"])
        assert written.suffix == ext and Image.open(written).format == fmt.upper(), name
        _assert_same(written, path, crop["box"], None, tol + (3.0 if fmt != "png" else 0.0))
    other = "png" if fmt != "png" else "jpeg"
    r = CliRunner().invoke(app, [*args[:9], other, "--scorer", "classic", "--no-db", "--fast", "-q"],
                           catch_exceptions=False)
    assert r.exit_code == 0 and not list(out.glob(f"*{ext}")), r.stderr  # the former files are gone


def test_format_and_quality_are_checked(tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    Image.fromarray(_scene()).save(photo)
    gif, o = ["--format", "gif", "-o", str(tmp_path / "o")], ["-o", str(tmp_path / "o")]
    for extra, words in ((gif, "--format 'gif': use jpeg, png, webp"),
                         (["--quality", "50"], "--quality applies to the crop files: add --out"),
                         (["--strip-exif", "--format", "png"], "--format and --strip-exif apply to the crop"),
                         ([*o, "--format", "png", "--no-save-crops"], "not written with --no-save-crops"),
                         ([*o, "--format", "png", "--quality", "50"], "a PNG is lossless")):
        r = CliRunner().invoke(app, ["crop", str(photo), *extra, "--scorer", "classic", "--no-db"])
        assert r.exit_code == 2 and words in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()
    # jpg is jpeg; a transparent palette colour stays transparent in WebP; grey stays grey in JPEG
    pal = Image.fromarray(_scene()).convert("P", palette=Image.Palette.ADAPTIVE)
    holes = np.array(pal)
    holes[::4, ::4] = 0  # transparent pixels all over (an opaque WebP is written without alpha)
    pal = Image.fromarray(holes, "P")
    pal.putpalette(Image.fromarray(_scene()).convert("P", palette=Image.Palette.ADAPTIVE).getpalette())
    pal.save(tmp_path / "t.gif", transparency=0)
    Image.fromarray(_grey16()).save(tmp_path / "g.png")
    for name, fmt, mode in (("t.gif", "webp", "RGBA"), ("g.png", "jpg", "L")):
        args = ["crop", str(tmp_path / name), "-r", "1:1", "-k", "1", *o, "--format", fmt]
        r = CliRunner().invoke(app, [*args, "--scorer", "classic", "--no-db", "-q"])
        crop = json.loads((tmp_path / "o" / f"{Path(name).stem}.json").read_text())["crops"][0]
        assert r.exit_code == 0 and Image.open(crop["file"]).mode == mode, (name, r.stderr)
    # --quality without --format: a PNG photo's crops stay PNG, and the warning says the quality went unused
    r = CliRunner().invoke(app, ["crop", str(photo), "-r", "1:1", "-k", "1", *o, "--quality", "50",
                                 "--scorer", "classic", "--no-db"])
    said = "--quality 50 does not apply to PNG crops"
    assert r.exit_code == 0 and said in " ".join(r.stderr.split()), r.stderr
    assert json.loads((tmp_path / "o" / "p.json").read_text())["warnings"][0].startswith(said)


def test_crops_turned_back_on_are_written(tmp_path: Path) -> None:
    """A run with --no-save-crops, then one without it into the same folder, skipped the image as
    done and wrote no crop (the trial of --format)."""
    photo = tmp_path / "p.png"
    Image.fromarray(_scene()).save(photo)
    base = ["crop", str(photo), "-r", "1:1", "-k", "1", "-o", str(tmp_path / "o"),
            "--scorer", "classic", "--no-db"]
    assert CliRunner().invoke(app, [*base, "--no-save-crops"]).exit_code == 0
    assert not list((tmp_path / "o").glob("p_1x1_*"))
    r = CliRunner().invoke(app, base)
    assert r.exit_code == 0 and "skipped" not in r.stderr, r.stderr
    assert list((tmp_path / "o").glob("p_1x1_1.png"))


@pytest.mark.parametrize("size", [None, (90, 140)])
def test_api_save_image_every_format(sources, tmp_path: Path, size) -> None:
    box = [25, 15, 210, 190]
    for name, (path, tol) in sources.items():
        photo = open_full(path)
        target = tmp_path / f"{path.stem}{path.suffix}"
        save_image(crop_resized(photo, tuple(box), size), target, source=photo)
        _assert_same(target, path, box, size, tol)


def test_server_crop_image_every_format(sources) -> None:
    pytest.importorskip("fastapi")
    pytest.importorskip("httpx")
    from fastapi.testclient import TestClient

    from procrop import Cropper
    from procrop.server import ServerSettings, create_app

    box = [25, 15, 210, 190]
    with TestClient(create_app(ServerSettings(), Cropper(scorer="classic", reference_db=None))) as client:
        for name, (path, tol) in sources.items():
            for size in (None, (90, 140)):
                fields = {"box": ",".join(map(str, box))}
                if size:
                    fields.update(width=str(size[0]), height=str(size[1]))
                r = client.post("/v1/crop/image", files={"file": (name, path.read_bytes())}, data=fields)
                assert r.status_code == 200, (name, r.text)
                # the server writes 16-bit and float sources as 8-bit: compare in 8-bit RGB
                _assert_same(r.content, path, box, size, tol + (1.0 if "float" in name else 0.0))


def test_failed_write_leaves_nothing(sources, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from procrop.output import batch

    real = batch.save_image
    calls = []

    def fail_second(im, path, source=None, **kw):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("encoder error -8 when writing image file")
        real(im, path, source=source, **kw)

    monkeypatch.setattr(batch, "save_image", fail_second)
    out = tmp_path / "out"
    path = sources["e_lzw.tif"][0]
    r = CliRunner().invoke(app, ["crop", str(path), "-r", "1:1,16:9", "-k", "1", "-o", str(out),
                                 "--scorer", "classic", "--no-db", "--fast", "-q"], catch_exceptions=False)
    assert r.exit_code == 1
    assert "cannot write" in r.stderr and "encoder error -8" in r.stderr and "Traceback" not in r.stderr
    assert len(calls) == 2 and not Path(calls[0]).exists()  # the first crop, written, is taken back
    assert not out.exists() or not list(out.iterdir())


def test_output_stems_follow_their_sources_across_runs(tmp_path: Path) -> None:
    """Two inputs named x.jpg write x.* and x-2.*; re-running the second alone replaced the first's
    x.* with its own (a new user's trial): a stem whose result names another source is not taken,
    and an input keeps the stem its stored result has, whatever the order of the inputs."""
    import json
    import os

    from procrop.output.naming import plan_jobs

    a, b, c = (str(tmp_path / d / "x.jpg") for d in "abc")
    assert [j.stem for j in plan_jobs([a, b, c])] == ["x", "x-2", "x-3"]
    out = tmp_path / "out"
    out.mkdir()
    for stem, src in (("x", a), ("x-2", b)):
        (out / f"{stem}.json").write_text(json.dumps({"crops": [], "source": os.path.abspath(src)}))
    assert [j.stem for j in plan_jobs([b], str(out))] == ["x-2"]
    assert [j.stem for j in plan_jobs([b, a], str(out))] == ["x-2", "x"]
    assert [j.stem for j in plan_jobs([c], str(out))] == ["x-3"]
    assert [j.stem for j in plan_jobs([c, b], str(out))] == ["x-3", "x-2"]


def test_no_pillow_bomb_warning_for_a_photo_within_procrops_limit(tmp_path: Path, monkeypatch) -> None:
    """A 10000 x 10000 photo (under procrop's 178-megapixel limit, over Pillow's 89) printed Pillow's
    raw DecompressionBombWarning while its crop was written (a photographer's trial); Pillow's limit
    is lowered here so that a small photo stands in for it."""
    import warnings

    photo = tmp_path / "p.jpg"
    Image.fromarray(_scene()).save(photo)
    w, h = Image.open(photo).size
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", int(w * h * 0.6))  # warns, and 2x that does not raise
    for extra in ([], ["--format", "png"]):  # the photo's own bytes copied; a crop encoded and read back
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            args = ["crop", str(photo), "-r", "free", "-k", "1", "-o", str(tmp_path / "o"), *extra]
            r = CliRunner().invoke(app, [*args, "--scorer", "classic", "--no-db"], catch_exceptions=False)
        assert r.exit_code == 0, r.stderr


def test_save_crop_writes_a_crop_as_the_cli_does(tmp_path: Path) -> None:
    """A developer's trial had to re-implement writing a crop (orientation, output size, ICC, EXIF,
    quality): procrop.save_crop does it."""
    import procrop
    from procrop.errors import UsageError

    src = tmp_path / "rotated.jpg"
    rng = np.random.default_rng(1)
    upright = Image.fromarray((rng.random((60, 90, 3)) * 255).astype(np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 60 x 90: the oriented photo is 90 wide, 60 tall
    upright.transpose(Image.Transpose.ROTATE_90).save(src, quality=95, exif=exif)
    crop = procrop.Crop((10, 5, 40, 50), "4:5", 0.5, 1, 0.5, {}, "", output_size=(80, 100))
    procrop.save_crop(src, crop, tmp_path / "c.jpg")
    out = Image.open(tmp_path / "c.jpg")
    assert out.size == (80, 100) and out.getexif().get(0x0112, 1) == 1
    procrop.save_crop(src, (10, 5, 40, 50), tmp_path / "c.png")
    oriented = np.asarray(open_full(src))[5:55, 10:50]
    assert open_full(src).size == (90, 60)
    assert np.abs(np.asarray(Image.open(tmp_path / "c.png")).astype(int) - oriented).max() == 0
    with pytest.raises(UsageError):
        procrop.save_crop(src, (60, 0, 40, 40), tmp_path / "outside.jpg")
    assert not (tmp_path / "outside.jpg").exists()
    with pytest.raises(UsageError, match="no such folder"):  # it made the folder on the way (a trial)
        procrop.save_crop(src, (10, 5, 40, 50), tmp_path / "nowhere" / "c.jpg")
    assert not (tmp_path / "nowhere").exists()
    # encoded bytes are a photo too; a Pillow image or an array has no file to cut from: said in
    # words (a trial got a bare TypeError from deep inside)
    procrop.save_crop(src.read_bytes(), (10, 5, 40, 50), tmp_path / "b.png")
    from_bytes, from_file = (np.asarray(Image.open(tmp_path / n)) for n in ("b.png", "c.png"))
    assert np.array_equal(from_bytes, from_file)
    for photo in (Image.open(src), np.asarray(open_full(src))):
        with pytest.raises(UsageError, match="give its path or encoded bytes, not (JpegImageFile|ndarray)"):
            procrop.save_crop(photo, (10, 5, 40, 50), tmp_path / "d.jpg")
    with pytest.raises(UsageError, match=r"is not inside the 90x60 photo in memory$"):
        procrop.save_crop(src.read_bytes(), (60, 0, 40, 40), tmp_path / "d.jpg")
    # a size, a quality or a box that is not one: a UsageError naming it, nothing written (a trial's
    # size=(100000, 100000) ran out of memory; others were bare TypeErrors, quality 101 was written)
    too_large, not_size, not_quality, not_box = "is too large", "size must be", "quality must be", "a crop is"
    bad = [({"size": (100000, 100000)}, too_large), ({"size": (0, 10)}, not_size),
           ({"size": "80x100"}, not_size), ({"size": (80.5, 100)}, not_size), ({"quality": 101}, not_quality),
           ({"quality": 0}, not_quality), ({"quality": "high"}, not_quality), ({"crop": None}, not_box),
           ({"crop": (1, 2, 3)}, not_box), ({"crop": "1234"}, not_box),
           ({"crop": (True, 0, 10, 10)}, not_box)]
    for kw, words in bad:
        crop_arg = kw.pop("crop", (10, 5, 40, 50))
        with pytest.raises(UsageError, match=words):
            procrop.save_crop(src, crop_arg, tmp_path / "e.jpg", **kw)
    with pytest.raises(UsageError, match="quality sets JPEG and WebP quality: .*e.png is PNG"):
        procrop.save_crop(src, (10, 5, 40, 50), tmp_path / "e.png", quality=50)
    assert not (tmp_path / "e.jpg").exists()
    stretched = "size 100x100 is not the shape of the 40x50 box: the crop is stretched"
    with pytest.warns(UserWarning, match=stretched):  # it was silent (a trial)
        procrop.save_crop(src, (10, 5, 40, 50), tmp_path / "s.png", size=(100, 100))
    assert Image.open(tmp_path / "s.png").size == (100, 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        procrop.save_crop(src, (10, 5, 40, 50), tmp_path / "s.png", size=(81, 101))  # within a pixel: no word


def test_what_crop_files_lose_is_said(tmp_path: Path) -> None:
    """16-bit colour PNG and TIFF crops are 8-bit (Pillow reads colour at 8 bits) and a JPEG of a
    transparent photo is white where it was clear: each said once, in the JSON's warnings (a trial
    found both silent)."""
    import cv2

    deep = (np.random.default_rng(0).random((90, 120, 3)) * 65535).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    cv2.imwrite(str(tmp_path / "deep.tif"), deep)
    clear = np.dstack([_scene()[:90, :120], np.full((90, 120), 255, np.uint8)])
    clear[:30, :, 3] = 0
    Image.fromarray(clear, "RGBA").save(tmp_path / "clear.png")
    Image.fromarray(_grey16()).save(tmp_path / "grey16.png")
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["crop", str(tmp_path), "-r", "1:1", "-o", str(out), "-q", "--no-analysis"])
    assert r.exit_code == 0, r.output
    said = {p.stem: json.loads(p.read_text())["warnings"] for p in out.glob("*.json")}
    assert [w for w in said["deep"] if "16 bits a colour channel" in w]
    assert [w for w in said["deep-2"] if "16 bits a colour channel" in w]  # the TIFF (same stem)
    assert not said["clear"] and not said["grey16"]  # PNG keeps transparency; 16-bit grey stays 16-bit
    r = CliRunner().invoke(app, ["crop", str(tmp_path / "clear.png"), str(tmp_path / "deep.png"), "-r", "1:1",
                                 "-o", str(tmp_path / "jpeg"), "--format", "jpeg", "-q", "--no-analysis"])
    said = {p.stem: json.loads(p.read_text())["warnings"] for p in (tmp_path / "jpeg").glob("*.json")}
    assert said["clear"] == ["the photo has transparent parts; JPEG crops hold none: they are white there"]
    opaque = tmp_path / "opaque.png"  # an RGBA export of an opaque photo: nothing to say
    Image.fromarray(np.dstack([_scene()[:90, :120], np.full((90, 120), 255, np.uint8)]), "RGBA").save(opaque)
    r = CliRunner().invoke(app, ["crop", str(opaque), "-r", "1:1", "-o", str(tmp_path / "o2"),
                                 "--format", "jpeg", "-q", "--no-analysis"])
    assert json.loads((tmp_path / "o2" / "opaque.json").read_text())["warnings"] == []
    assert said["deep"] == []  # a JPEG is 8-bit: nothing unexpected


def test_strip_exif_writes_crops_without_the_photos_exif(tmp_path: Path) -> None:
    """``--strip-exif`` drops the camera's data and the GPS position from the crop files (a trial's
    publishing pipeline leaked a photo's location), the ICC profile kept; by default EXIF stays, with
    the crop's own pixel size."""
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    exif.get_ifd(0x8825).update({1: "N", 2: (50.0, 38.0, 44.0)})  # GPS
    photo = tmp_path / "gps.jpg"
    Image.fromarray(_scene()).save(photo, exif=exif, icc_profile=icc, quality=90, comment=b"12 Secret Lane",
                                   dpi=(300, 300))
    for extra, kept in (([], True), (["--strip-exif"], False)):
        out = tmp_path / ("stripped" if extra else "kept")
        args = ["crop", str(photo), "-r", "1:1", "-k", "1", "-o", str(out), *extra, "--scorer", "classic",
                "--no-db", "-q"]
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 0, r.stderr
        crop = Image.open(json.loads((out / "gps.json").read_text())["crops"][0]["file"])
        assert crop.info.get("icc_profile") == icc
        tags = crop.getexif()
        assert (tags.get(0x010F) == "Camera maker") is kept and bool(tags.get_ifd(0x8825)) is kept
        assert (crop.info.get("comment") == b"12 Secret Lane") is kept  # a JPEG comment is a place too
        assert crop.info.get("dpi") == (300, 300)  # the print resolution stays (it was dropped)
    import procrop
    from procrop.errors import UsageError

    resolution = Image.Exif()
    resolution.update({0x011A: 240, 0x011B: 240, 0x0128: 2})  # X/YResolution, in inches
    exif_only = tmp_path / "exif_dpi.jpg"
    Image.fromarray(_scene()).save(exif_only, exif=resolution)
    Image.fromarray(_scene()).save(tmp_path / "no_dpi.tif")  # Pillow reads (1, 1): not the photo's
    procrop.save_crop(tmp_path / "no_dpi.tif", (0, 0, 50, 50), tmp_path / "n.jpg")
    assert "dpi" not in Image.open(tmp_path / "n.jpg").info  # it was a 1-dpi crop (a review)
    for ext in ("png", "tif"):  # a resolution only EXIF records is kept too, in every format with one
        procrop.save_crop(exif_only, (0, 0, 50, 50), tmp_path / f"r.{ext}", keep_exif=False)
        assert [round(v) for v in Image.open(tmp_path / f"r.{ext}").info["dpi"]] == [240, 240]
    with pytest.raises(UsageError, match="keep_exif must be True or False, got 'false'"):
        procrop.save_crop(photo, (0, 0, 50, 50), tmp_path / "x.jpg",
                          keep_exif="false")  # type: ignore[arg-type]
