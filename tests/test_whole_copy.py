"""A written crop of the whole photo, at its size and in its format, is the input file's bytes."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

from procrop.output.batch import write_crops
from procrop.output.naming import CropJob


def _photo(path: Path, orientation: int = 1, size: tuple[int, int] = (96, 64)) -> None:
    rng = np.random.default_rng(0)
    im = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    if path.suffix == ".png":
        im.save(path)
    else:
        im.save(path, quality=80, exif=exif.tobytes())


Crop = tuple[tuple[int, int, int, int], tuple[int, int] | None]


def _write(src: Path, out: Path, *crops: Crop) -> list[str]:
    result = SimpleNamespace(crops=[SimpleNamespace(box=box, ratio="free", rank=i + 1, output_size=size)
                                    for i, (box, size) in enumerate(crops)])
    return write_crops(result, CropJob(str(src), src.stem), str(out))  # type: ignore[arg-type]


def test_whole_frame_crop_is_the_original_file(tmp_path: Path) -> None:
    for name in ("photo.jpg", "photo.png"):
        src = tmp_path / name
        _photo(src)
        whole, part = _write(src, tmp_path / "out", ((0, 0, 96, 64), None), ((0, 0, 95, 64), None))
        assert Path(whole).read_bytes() == src.read_bytes()
        assert Path(part).read_bytes() != src.read_bytes()
        with Image.open(part) as im:
            assert im.size == (95, 64)
        assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]


def test_whole_frame_is_encoded_when_it_must_change(tmp_path: Path) -> None:
    src = tmp_path / "turned.jpg"  # EXIF orientation 6: the crop is written upright, 64 x 96
    _photo(src, orientation=6)
    (path,) = _write(src, tmp_path / "out", ((0, 0, 64, 96), None))
    assert Path(path).read_bytes() != src.read_bytes()
    with Image.open(path) as im:
        assert im.size == (64, 96) and im.getexif().get(0x0112, 1) == 1
    plain = tmp_path / "plain.jpg"
    _photo(plain)
    (path,) = _write(plain, tmp_path / "sized", ((0, 0, 96, 64), (48, 32)))  # an output size
    with Image.open(path) as im:
        assert im.size == (48, 32)


def test_whole_frame_without_exif_is_encoded_not_copied(tmp_path: Path) -> None:
    """With the EXIF to be dropped (--strip-exif), the whole frame is encoded: a copy of the file
    would have kept the camera's data and the GPS position."""
    src = tmp_path / "gps.jpg"
    exif = Image.Exif()
    exif[0x010F] = "Camera maker"
    exif.get_ifd(0x8825).update({1: "N", 2: (50.0, 38.0, 44.0)})
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(
        src, quality=80, exif=exif)
    whole = SimpleNamespace(box=(0, 0, 96, 64), ratio="free", rank=1, output_size=None)
    job = CropJob(str(src), src.stem)
    result = SimpleNamespace(crops=[whole])
    (path,) = write_crops(result, job, str(tmp_path / "out"), keep_exif=False)  # type: ignore[arg-type]
    assert Path(path).read_bytes() != src.read_bytes()
    out = Image.open(path)
    assert out.size == (96, 64) and not len(out.getexif()) and not out.getexif().get_ifd(0x8825)
