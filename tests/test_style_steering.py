"""The style term follows what sets the references apart, and steers the horizon also in a fixed
ratio (issue 20, steering benchmark).

Before: every statistic the references agreed on counted alike, so references whose subjects fill the
frame pulled as much towards a centred subject (which they share with most photographs) as towards a
large one, and a crop of a photo whose subject cannot be large moved to the centre instead. Also: a
1:1 crop of a landscape photo can move the horizon only by its scale, and the style term proposed the
references' horizon height at one size (the subject's fill) only; a crop that left the horizon out
counted as one the horizon did not concern (its statistic missing, not far off), so the "low horizon"
references could be followed by cropping the horizon away.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from procrop import Cropper
from procrop.retrieval import build_database
from procrop.perception.analysis import Region
from procrop.retrieval.composition import COLUMNS, crop_stats, horizon_height, subject_box
from procrop.scoring.terms.style import HORIZON_SCALES, _closeness, _distinctiveness, _placed, subject_kept


def scene(path: Path, horizon: float, w: int = 480, h: int = 320, seed: int = 0) -> Path:
    """Sky above ``horizon`` (fraction of the height from the top), a field below, a red ball on it."""
    rng = np.random.default_rng(seed)
    px = np.zeros((h, w, 3), np.uint8)
    px[: int(horizon * h)] = (120, 160, 215)
    px[int(horizon * h):] = (70, 110, 50)
    px = np.clip(px + rng.normal(0, 6, px.shape), 0, 255).astype(np.uint8)
    im = Image.fromarray(px)
    r, x, y = h // 10, int(0.5 * w), int(min(horizon + 0.12, 0.9) * h)
    ImageDraw.Draw(im).ellipse([x - r, y - r, x + r, y + r], fill=(235, 40, 30))
    im.filter(ImageFilter.GaussianBlur(0.8)).save(path, quality=92)
    return path


@pytest.fixture(scope="module")
def horizons(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two databases built with default options: horizons on the upper third, on the lower third."""
    out = {}
    for name, hz in (("high", 1 / 3), ("low", 2 / 3)):
        folder = tmp_path_factory.mktemp(f"photos_{name}")
        paths = [str(scene(folder / f"{name}{i}.jpg", hz + 0.02 * (i - 1), seed=i)) for i in range(3)]
        db = tmp_path_factory.mktemp("db") / name
        assert build_database(paths, db).added == 3
        out[name] = db
    return out


def test_a_horizon_outside_the_crop_keeps_its_height(tmp_path: Path) -> None:
    cropper = Cropper()
    analysis = cropper.analyze(scene(tmp_path / "q.jpg", 0.5))
    hy = horizon_height(analysis)
    assert hy is not None and abs(hy / 320 - 0.5) < 0.05
    above, across = [0, int(hy) + 20, 200, 100], [0, 0, 480, 320]  # the sky cut away; the whole photo
    clipped = crop_stats(analysis, np.asarray([above, across]))[:, 3]
    kept = crop_stats(analysis, np.asarray([above, across]), horizon_outside=True)[:, 3]
    assert np.isnan(clipped[0]) and kept[0] < 0  # the horizon is above that crop
    assert clipped[1] == pytest.approx(kept[1]) == pytest.approx(hy / 320)


def test_horizon_proposed_at_several_sizes_with_a_subject() -> None:
    W, H, hy = 1024.0, 640.0, 320.0
    boxes = _placed((462.0, 400.0, 100.0, 80.0), hy, np.asarray([0.5, 0.7, 0.02, 0.7]), 1.0, W, H)
    heights = sorted({round(b[3]) for b in boxes})
    assert len(heights) >= len(HORIZON_SCALES) - 1  # sizes, not one
    placed = [(hy - y) / h for x, y, w, h in boxes if 0 < y and y + h < H]  # not pushed back inside the photo
    assert len(placed) >= 2 and all(abs(p - 0.7) < 1e-6 for p in placed)  # each at the reference's height


def _region(box: tuple[float, float, float, float], mass: float, label: str = "") -> Region:
    return Region(box, (box[0] + box[2] / 2, box[1] + box[3] / 2), mass, "salient", label=label)


def test_how_much_of_the_subject_a_crop_keeps() -> None:
    a = SimpleNamespace(people=[], subjects=[_region((100.0, 100.0, 50.0, 50.0), 0.6)])
    kept = subject_kept(a, np.array([[0, 0, 400, 300], [200, 0, 200, 300], [120, 0, 200, 300]]))
    assert kept.tolist() == pytest.approx([1.0, 0.0, 0.6])
    assert subject_kept(SimpleNamespace(people=[], subjects=[]), np.zeros((2, 4))).tolist() == [1.0, 1.0]


def test_a_minor_salient_region_is_no_subject() -> None:
    # a corner of snow holding 16 % of the saliency is not what a photo is of; a detection is
    spot = (0.0, 512.0, 117.0, 128.0)
    assert subject_box(SimpleNamespace(people=[], subjects=[_region(spot, 0.16)])) is None
    assert subject_box(SimpleNamespace(people=[], subjects=[_region(spot, 0.16, "dog")])) == spot
    assert subject_box(SimpleNamespace(people=[], subjects=[_region(spot, 0.4)])) == spot


def test_a_style_out_of_reach_still_pulls() -> None:
    # coming one tolerance closer gains more the farther the aim (up to 6 tolerances), so of two
    # styles out of reach on the same side the farther moves the crop further (the heavy-tailed
    # kernel alone gains most 1.4 tolerances away); closeness falls with distance
    gain = lambda z: float(np.diff(_closeness(np.array([z, z - 1.0])))[0])  # noqa: E731
    gains = [gain(z) for z in np.linspace(1.0, 6.0, 11)]
    assert (np.diff(gains) > 0).all() and gains[0] > 0
    z = np.linspace(0, 12, 121)
    assert (np.diff(_closeness(z)) <= 0).all() and _closeness(np.zeros(1))[0] == pytest.approx(1.0)
    assert (_closeness(z) >= 0).all()


@pytest.mark.parametrize("ratio", ["1:1", "free"])
def test_references_steer_the_horizon(horizons: dict[str, Path], tmp_path: Path, ratio: str) -> None:
    query = scene(tmp_path / "query.jpg", 0.5, w=720, h=320, seed=7)
    got = {}
    for name, db in horizons.items():
        cropper = Cropper(reference_db=db, style_strength=4.0)
        crop = cropper.process(query, ratio, 1).crops[0]
        got[name] = float(crop_stats(cropper.analyze(query), np.asarray([crop.box]))[0, 3])
    assert np.isfinite(list(got.values())).all(), got  # neither crop leaves the horizon out
    assert got["high"] < 0.45 < 0.55 < got["low"], got


def test_what_sets_references_apart_counts_most() -> None:
    rng = np.random.default_rng(0)
    general = {str(i): {"cx": float(rng.normal(0.5, 0.17)), "cy": float(rng.normal(0.5, 0.17)),
                        "fill": float(np.exp(rng.normal(-2.2, 1.4)).clip(1e-3, 1)), "horizon": float(rng.normal(0.5, 0.2))}
               for i in range(300)}
    # subjects filling the frame, centred as most photographs' are; horizons as usual
    close = np.column_stack([rng.normal(0.5, 0.03, 24), rng.normal(0.5, 0.03, 24), np.log(rng.uniform(0.8, 1.0, 24)),
                             rng.normal(0.5, 0.05, 24)])
    d = dict(zip(COLUMNS, _distinctiveness(close, general)))
    assert d["fill"] > 0.6 and max(d["cx"], d["cy"], d["horizon"]) < 0.1, d
    # references like photographs in general set nothing apart; without general photos, everything counts
    like = np.column_stack([rng.normal(0.5, 0.17, 40), rng.normal(0.5, 0.17, 40), rng.normal(-2.2, 1.4, 40),
                            rng.normal(0.5, 0.2, 40)])
    assert (_distinctiveness(like, general) < 0.2).all()
    assert (_distinctiveness(close, {}) == 1).all()


def test_references_not_the_finished_photo_rule_decide_how_much_to_keep(horizons: dict[str, Path]) -> None:
    """The finished-photo rule (a small crop of a well-framed photo loses up to 2 logits) gives way
    to a user's references: their composition says how tight to crop."""
    from procrop.scoring.terms.preference import PreferenceTerm

    steered = Cropper(reference_db=horizons["high"], style_strength=4.0)
    plain = Cropper(reference_db=None)
    term = next(t for t in steered.extra_terms if isinstance(t, PreferenceTerm))
    assert term.steered and not next(t for t in plain.extra_terms if isinstance(t, PreferenceTerm)).steered
    assert not Cropper(reference_db=horizons["high"], style_strength=0.0).extra_terms[-1].steered
