"""One wording for confidence and keep-original (issue 17, item 6): the JSON's ``verdict`` and
each crop's ``versus_original``, the CLI summary and the web page (tests/test_server_browser.py)
say the same thing, naming what is compared with what, which is better, and whose score is whose.

Before: the page said "the top crop beats the uncropped photo (score 0.79) with only 0 %
confidence" (the uncropped photo's score presented as the crop's) and the JSON had no words.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from procrop import Cropper
from procrop.candidates import CandidateConfig
from procrop.cli.app import app

runner = CliRunner()


def _kept_result() -> dict:
    """A photo whose only candidate is the uncropped frame: the advice is to keep it."""
    cropper = Cropper(scorer="classic", reference_db=None, candidates=CandidateConfig(min_area=1.0))
    img = np.random.default_rng(0).integers(0, 255, (120, 180, 3), dtype=np.uint8)
    return cropper.process(img, ["original"], top_k=3).to_dict(include_analysis=False)


def test_keep_verdict_names_each_score_as_its_own() -> None:
    from procrop.verdict import verdict

    assert verdict(0.61, 0.79, 0.03) == ("Keep the uncropped photo: the top crop (score 0.61) is only 3% likely "
                                         "to look better than the uncropped photo (score 0.79).")
    d = _kept_result()
    top = d["crops"][0]["score"]
    assert d["keep_original"] is True
    assert d["crops"][0]["versus_original"] == "the uncropped photo itself"  # not "50% likely to look better"
    # the top crop is the whole frame: no comparison of the photo with itself ("50% likely to look better")
    assert d["verdict"] == f"Keep the uncropped photo: the best crop is the whole frame (score {top:.2f})."


def test_crop_verdict_and_wording_functions() -> None:
    from procrop.verdict import NEW_SHAPE, keep_original, verdict, versus_original

    assert verdict(0.83, 0.79, 0.72) == ("Crop it: the top crop (score 0.83) is 72% likely to look better "
                                         "than the uncropped photo (score 0.79).")
    assert verdict(None, 0.79, 0.0) == "Keep the uncropped photo (score 0.79): no crop was found."
    assert verdict(0.66, 0.66, 0.5) == ("A close call, either will do: the top crop (score 0.66) is 50% "
                                        "likely to look better than the uncropped photo (score 0.66).")
    assert verdict(0.6, 0.7, 0.45).startswith("A close call, either will do: the top crop (score 0.60) is 45")
    # scores equal at two decimals get as many more as tell them apart (a trial read 0.67 against 0.67)
    assert verdict(0.5864, 0.5862, 0.501).endswith("(score 0.5864) is 50.1% likely to look better than the "
                                                   "uncropped photo (score 0.5862).")  # a trial: 0.586, 0.586
    tied = verdict(0.6741, 0.6748, 0.18)
    assert tied == ("Keep the uncropped photo: the top crop (score 0.674) is only 18% likely to look better "
                    "than the uncropped photo (score 0.675).")
    assert verdict(0.6, 0.7, 0.39).startswith("Keep the uncropped photo:")
    from procrop.verdict import result_verdict
    from types import SimpleNamespace
    near = SimpleNamespace(ratio="free", score=0.62, confidence=0.47, box=(10, 10, 50, 50))
    d = result_verdict([near], 0.61, 100, 100)
    assert d["close_call"] and d["keep_original"] and d["verdict"].startswith("A close call, either will do:")
    # the words follow the number shown: 39.96 % reads "40%", as 40 % does, and neither is a close call
    assert [verdict(0.6, 0.7, c).split(":")[0] for c in (0.3996, 0.4, 0.6, 0.6004)] == [
        "Keep the uncropped photo", "Keep the uncropped photo", "Crop it", "Crop it"]
    assert versus_original(0.005) == "0% likely to look better than the uncropped photo"
    # a new shape: no discouraging "0%" (a trial), the odds only above even
    assert versus_original(0.005, new_shape_under=True) == NEW_SHAPE and NEW_SHAPE.startswith("a new shape: ")
    assert keep_original(0.49) and not keep_original(0.5)
    from procrop.verdict import is_whole

    # the picture inside a scan border is the whole photo: a crop that only leaves the border out
    # read "Crop it" or "Keep" by the border's width (a trial: 104022, 189080)
    assert is_whole((0, 0, 321, 476), 321, 481, (0, 0, 321, 476)) and not is_whole((0, 0, 321, 476), 321, 481)
    assert is_whole((0, 0, 321, 479), 321, 481)
    assert not is_whole((0, 1, 10, 8), 10, 10) and is_whole((0, 0, 10, 10), 10, 10)  # a fifth is no hairline
    assert not is_whole((0, 40, 321, 400), 321, 481, (0, 0, 321, 476))
    from types import SimpleNamespace

    from procrop.verdict import result_verdict

    # the picture inside its border: its own score beside the uncropped photo's, each named
    inner = SimpleNamespace(box=(0, 0, 321, 476), ratio="free", score=0.62, confidence=0.7)
    said = result_verdict([inner], 0.55, 321, 481, ["free"], (0, 0, 321, 476))
    assert said == {"confidence": 0.7, "keep_original": True, "close_call": False,
                    "verdict": "Keep the uncropped photo: the best crop is the whole picture inside its "
                    "border (score 0.62; the uncropped photo, border and all: 0.55)."}
    whole = SimpleNamespace(box=(0, 0, 321, 481), ratio="free", score=0.55, confidence=0.5)
    assert result_verdict([whole], 0.55, 321, 481, ["free"], (0, 0, 321, 476))["verdict"] == (
        "Keep the uncropped photo: the best crop is the whole frame (score 0.55).")
    # a hairline left out is not "the whole frame" with one score; scores that round alike get a decimal
    hairline = SimpleNamespace(box=(0, 0, 321, 479), ratio="free", score=0.662, confidence=0.5)
    assert result_verdict([hairline], 0.656, 321, 481, ["free"])["verdict"] == (
        "Keep the uncropped photo: the best crop is the whole frame less a hairline at its edge "
        "(score 0.662; the uncropped photo: 0.656).")
    # a thin scan border (beach.jpg: 3-5 px a side, within the hairline's slack) is still a border: a
    # trial read "less a hairline at its edge" for it; each crop's words say the same
    from procrop.verdict import INSIDE_BORDER, whole_words

    beach = SimpleNamespace(box=(5, 3, 759, 506), ratio="free", score=0.565, confidence=0.52)
    assert result_verdict([beach], 0.561, 768, 512, ["free"], (5, 3, 759, 506))["verdict"] == (
        "Keep the uncropped photo: the best crop is the whole picture inside its border (score 0.565; the "
        "uncropped photo, border and all: 0.561).")
    assert whole_words((5, 3, 759, 506), 768, 512, (5, 3, 759, 506)) == INSIDE_BORDER
    assert whole_words((0, 0, 768, 512), 768, 512) == versus_original(0.5, "the uncropped photo itself")
    assert whole_words((0, 0, 321, 479), 321, 481) == "the whole frame less a hairline at its edge"
    # no border found (the content is the whole frame): an exact 3:2 of a 640 x 427 photo is no border
    hairline = "the whole frame less a hairline at its edge"
    assert whole_words((1, 1, 639, 426), 640, 427, (0, 0, 640, 427)) == hairline
    assert whole_words((0, 40, 321, 400), 321, 481) is None
    # near the line, a decimal on its own side: "50%" was "Crop it" on one photo, "Keep" on another
    assert " is 49.7% likely" in verdict(0.4, 0.5, 0.497) and " is 50.3% likely" in verdict(0.4, 0.5, 0.503)
    assert versus_original(0.4999).startswith("49.9% ") and versus_original(0.506).startswith("51% ")


def test_cli_summary_prints_the_json_verdict(tmp_path: Path) -> None:
    photo = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (90, 120, 3), dtype=np.uint8)).save(photo)
    out = tmp_path / "result.json"
    r = runner.invoke(app, ["crop", str(photo), "--scorer", "classic", "--no-db", "--json", str(out)])
    assert r.exit_code == 0, r.output
    data = json.loads(out.read_text())
    result = data[0] if isinstance(data, list) else data
    assert result["verdict"] and f"noise.png: {result['verdict']}" in " ".join(r.stderr.split())
    for crop in result["crops"]:
        whole = crop["box"] == [0, 0, 120, 90]
        assert (crop["versus_original"] == "the uncropped photo itself" if whole
                else crop["versus_original"].endswith("% likely to look better than the uncropped photo"))


def test_adjusted_box_json_has_the_wording() -> None:
    pytest.importorskip("fastapi")
    from procrop import Crop
    from procrop.server.boxscore import BoxScore

    box = BoxScore(Crop((0, 0, 10, 10), "free", 0.6, 1, 0.3, {}, "why"), 0.7, {}).to_dict()
    assert box["versus_original"] == "30% likely to look better than the uncropped photo"


def test_fixed_ratio_requests_never_advise_keeping_the_photo() -> None:
    """Only a request the uncropped photo answers (free, original, its own ratio) can be told to keep
    it; for 4:5 of a 3:2 photo the verdict compares without advising (a new user's report)."""
    from procrop.verdict import NEW_SHAPE, can_keep

    cropper = Cropper(scorer="classic", reference_db=None)
    img = np.random.default_rng(0).integers(0, 255, (120, 180, 3), dtype=np.uint8)
    d = cropper.process(img, ["4:5", "1:1"], top_k=1).to_dict(include_analysis=False)
    top, uncropped = d["crops"][0]["score"], d["uncropped_score"]
    assert d["keep_original"] is False
    assert d["verdict"].startswith("The uncropped photo is of none of the ratios asked (4:5, 1:1), so ")
    name = f"the top {d['crops'][0]['ratio']} crop"  # several ratios: each one's top crop, the best named
    assert f"so use each ratio's top crop (the best, {name}, scores {top:.2f}; " in d["verdict"]
    under = top < uncropped  # the odds only above the uncropped photo's score, else why it scores more
    assert (f"photo scores {uncropped:.2f}, " if under else f", score {uncropped:.2f}).") in d["verdict"]
    for crop in d["crops"]:  # each crop of a new shape under the uncropped photo's score says so
        assert (crop["versus_original"] == NEW_SHAPE) == (crop["score"] < uncropped)
    d = cropper.process(img, ["1:1", "4:5"], top_k=1).to_dict(include_analysis=False)
    assert d["verdict"].startswith("The uncropped photo is of none of the ratios asked (1:1, 4:5), so ")
    assert "Keep" not in d["verdict"] and "Crop it" not in d["verdict"]
    for ratio in (["free"], ["original"], ["3:2"], ["4:5", "1200x800"]):
        d = cropper.process(img, ratio, top_k=1).to_dict(include_analysis=False)
        said = d["verdict"]
        assert said.startswith(("Keep the uncropped photo:", "Crop it:", "A close call")), (ratio, said)
    assert can_keep(["free"], 180, 120) and can_keep(["3:2"], 181, 120) and not can_keep(["4:5", "16:9"], 180, 120)


def test_the_verdict_names_the_top_crops_ratio_when_several_were_asked() -> None:
    """A new user's trial: "the top crop" of beach.jpg at 1:1, 4:5, 16:9 did not say which ratio won."""
    from types import SimpleNamespace

    from procrop.verdict import result_verdict, top_crop_name

    def crop(ratio: str, box: tuple[int, int, int, int]) -> SimpleNamespace:
        return SimpleNamespace(ratio=ratio, score=0.51, confidence=0.32, box=box)

    one = result_verdict([crop("4:5", (0, 0, 80, 100))], 0.56, 150, 100, ["4:5"])["verdict"]
    assert one == ("The uncropped photo is not of the ratio asked (4:5), so the top crop is the one to use "
                   "(score 0.51; the uncropped photo scores 0.56, as a photographer's own frame nearly "
                   "always does).")
    three = result_verdict([crop("16:9", (0, 8, 150, 84))], 0.56, 150, 100, ["1:1", "4:5", "16:9"])["verdict"]
    assert three == ("The uncropped photo is of none of the ratios asked (1:1, 4:5, 16:9), so use each "
                     "ratio's top crop (the best, the top 16:9 crop, scores 0.51; the uncropped photo scores "
                     "0.56, as a photographer's own frame nearly always does).")
    # a photographer posting 1:1 read "2% likely to look better" as failure: the odds only above the
    # uncropped photo's score (a classic score 0.62 against 0.60 is under even odds, with its margin)
    for score, confidence, odds in ((0.64, 0.91, "91%"), (0.62, 0.38, "38%")):
        better = result_verdict([SimpleNamespace(ratio="4:5", score=score, confidence=confidence,
                                                 box=(0, 0, 80, 100))], 0.60, 150, 100, ["4:5"])["verdict"]
        assert better.endswith(f"(score {score}; {odds} likely to look better than the uncropped photo, "
                               "score 0.60).")
    keep = result_verdict([crop("free", (5, 5, 100, 80))], 0.56, 150, 100, ["free", "1:1"])["verdict"]
    assert keep.startswith("Keep the uncropped photo: the top free-form crop (score 0.51) is only 32% likely")
    assert top_crop_name("1080x1350", ["1080x1350", "1:1"]) == "the top 1080x1350 crop"
    assert top_crop_name("original", ["original", "1:1"]) == "the top crop of the photo's own ratio"
    assert top_crop_name("16:9", ["16:9"]) == "the top crop"
    # equal at two decimals: three, so the lower score is not printed equal to the one it is under
    tied = SimpleNamespace(ratio="16:9", score=0.6741, confidence=0.49, box=(0, 8, 150, 84))
    close = result_verdict([tied], 0.6748, 150, 100, ["4:5", "16:9"])["verdict"]
    assert "scores 0.674; the uncropped photo scores 0.675, as a photographer's own frame" in close


def test_the_preview_says_the_verdict_and_names_the_top_crop(monkeypatch: pytest.MonkeyPatch) -> None:
    from procrop.output import preview

    cropper = Cropper(scorer="classic", reference_db=None)
    img = np.random.default_rng(0).integers(0, 255, (120, 180, 3), dtype=np.uint8)
    result = cropper.process(img, ["4:5", "16:9"], top_k=1)
    wrapped: list[str] = []
    real = preview._wrap
    monkeypatch.setattr(preview, "_wrap", lambda text, *a: wrapped.append(text) or real(text, *a))
    preview.render_preview(Image.fromarray(img), result, panel_width=180)
    assert result.to_dict(include_analysis=False)["verdict"] in wrapped
    for top in (result.for_ratio("4:5")[0], result.for_ratio("16:9")[0]):  # each ratio's, not one alone
        assert f"The top {top.ratio} crop: {top.reason}" in wrapped


def test_the_python_result_has_the_verdict_the_json_has() -> None:
    """A developer's trial: keep_original and verdict were only in to_dict(), and for_ratio('1/1')
    answered [] for a ratio asked as '1/1' (stored as '1:1')."""
    from procrop.errors import UsageError

    root = Path(__file__).resolve().parents[1]
    beach = str(root / "examples" / "beach.jpg")
    r = Cropper(scorer="classic", profile="fast").process(beach, ["1/1", "free"])
    d = r.to_dict(include_analysis=False)
    assert (r.keep_original, r.verdict) == (d["keep_original"], d["verdict"]) and r.verdict
    assert r.for_ratio("1/1") == r.for_ratio("1:1") != []
    with pytest.raises(UsageError):
        r.for_ratio("1:")


def test_advice_to_keep_the_photo_says_which_asked_shapes_still_need_a_crop() -> None:
    """A trial asked 1:1, 4:5 and 16:9 of a square photo and read "Keep the uncropped photo" as meant
    for all three: the verdict now names the ratios the photo does not answer."""
    from types import SimpleNamespace

    from procrop.verdict import result_verdict

    whole = SimpleNamespace(ratio="1:1", score=0.71, confidence=0.5, box=(0, 0, 100, 100))
    d = result_verdict([whole], 0.71, 100, 100, ["1:1", "4:5", "16:9"])
    assert d["keep_original"]
    assert d["verdict"] == ("Keep the uncropped photo: the best crop is the whole frame (score 0.71). The "
                            "photo is not 4:5 or 16:9: use their top crops.")
    low = SimpleNamespace(ratio="free", score=0.5, confidence=0.2, box=(5, 5, 80, 80))
    assert result_verdict([low], 0.7, 100, 100, ["free", "4:5"])["verdict"].endswith(
        " The photo is not 4:5: use the top 4:5 crop.")
    # keep or crop is judged on the best crop of a ratio the photo answers, not of one it cannot
    high = SimpleNamespace(ratio="4:5", score=0.6, confidence=0.3, box=(10, 0, 80, 100))
    d = result_verdict([high, low], 0.7, 100, 100, ["free", "4:5"])
    assert d["verdict"].startswith("Keep the uncropped photo: the top free-form crop (score 0.50)")
    assert result_verdict([low], 0.7, 100, 100, ["free"])["verdict"].endswith("(score 0.70).")  # nothing more


def test_a_photo_too_small_to_judge_is_kept_where_it_can_be() -> None:
    """A 20 x 20 flat square asked for 1:1 read "Crop it: ... 79% likely to look better" for a 1-px
    trim, beside the warning that it is too small to judge."""
    from types import SimpleNamespace

    from procrop.verdict import SMALL_PHOTO_SIDE, result_verdict

    trim = SimpleNamespace(ratio="1:1", score=0.78, confidence=0.79, box=(0, 0, 19, 19))
    d = result_verdict([trim], 0.70, 20, 20, ["1:1", "4:5"])
    assert d["keep_original"] is True
    assert d["verdict"] == ("Keep the uncropped photo: at 20x20 pixels it is too small to judge a crop by "
                            "(the top crop scores 0.78; the uncropped photo 0.70). The photo is not 4:5: use "
                            "the top 4:5 crop.")
    tall = SimpleNamespace(ratio="4:5", score=0.6, confidence=0.3, box=(2, 0, 16, 20))
    assert not result_verdict([tall], 0.70, 20, 20, ["4:5"])["keep_original"]  # no shape asked it answers
    side = SMALL_PHOTO_SIDE
    big = SimpleNamespace(ratio="1:1", score=0.78, confidence=0.79, box=(0, 0, side - 5, side - 5))
    assert result_verdict([big], 0.70, side, side, ["1:1"])["verdict"].startswith("Crop it")
    whole = SimpleNamespace(ratio="free", score=0.75, confidence=0.5, box=(0, 0, 40, 1500))  # a strip, whole
    said = result_verdict([whole], 0.75, 40, 1500)["verdict"]
    assert said == "Keep the uncropped photo: the best crop is the whole frame (score 0.75)."
    # the crops say so too, in the JSON and the preview's header (not "79% likely to look better")
    img = np.full((20, 20, 3), (200, 30, 30), np.uint8)
    result = Cropper(scorer="classic", reference_db=None).process(img, ["1:1"], top_k=1)
    from procrop.output.preview import panel_title
    from procrop.verdict import TOO_SMALL
    d = result.to_dict(include_analysis=False)
    assert d["keep_original"] and all(c["versus_original"] in (TOO_SMALL, "the uncropped photo itself")
                                      for c in d["crops"])
    assert "likely" not in panel_title("1:1", result.crops[0], result)


def test_every_preview_panel_header_has_one_form() -> None:
    """A trial saw "ratio free  #1: 72% likely to look better..." beside "ratio 1:1  #1: score 0.75"."""
    from procrop.output.preview import panel_digits, panel_title

    img = np.random.default_rng(1).integers(0, 255, (120, 180, 3), dtype=np.uint8)
    result = Cropper(scorer="classic", reference_db=None).process(img, ["free", "1:1"], top_k=1)
    top = {c.ratio: c for c in result.crops if c.rank == 1}
    d = {r: panel_digits([c for c in result.crops if c.ratio == r], result) for r in top}
    assert panel_title("1:1", top["1:1"], result) == f"ratio 1:1  #1: score {top['1:1'].score:.{d['1:1']}f}"
    free = panel_title("free", top["free"], result)
    assert free.startswith(f"ratio free  #1: score {top['free'].score:.{d['free']}f}, ")
    assert panel_title("free", None, result) == "ratio free"


def test_the_preview_footer_follows_the_panels_order() -> None:
    """A trial had to hunt for a panel's line when the reasons came best first."""
    from procrop.output.preview import footer_texts

    img = np.random.default_rng(2).integers(0, 255, (120, 180, 3), dtype=np.uint8)
    result = Cropper(scorer="classic", reference_db=None).process(img, ["16:9", "1:1", "4:5"], top_k=1)
    texts = footer_texts(result)
    assert texts[0] == result.description and texts[1] == result.verdict
    assert [t.split(" crop:")[0] for t in texts[2:]] == ["The top 16:9", "The top 1:1", "The top 4:5"]


def test_the_results_confidence_is_the_judged_crops_and_equal_scores_are_said_once() -> None:
    """A trial: obama2's top-level confidence 0.589 was its 9:16 crop's while the verdict judged the
    free crop at 53%; a hairline's verdict read "(score 0.638; the uncropped photo: 0.638)"."""
    from types import SimpleNamespace

    from procrop.verdict import result_verdict

    tall = SimpleNamespace(ratio="9:16", score=0.68, confidence=0.59, box=(2, 48, 621, 1104))
    free = SimpleNamespace(ratio="free", score=0.67, confidence=0.53, box=(0, 40, 620, 1100))
    d = result_verdict([tall, free], 0.669, 626, 1200, ["free", "9:16"])
    assert d["confidence"] == 0.53 and "53%" in d["verdict"]
    hairline = SimpleNamespace(ratio="4:5", score=0.6381, confidence=0.5, box=(1, 1, 908, 1135))
    said = result_verdict([hairline], 0.6379, 910, 1137, ["4:5"])["verdict"]
    assert said == ("Keep the uncropped photo: the best crop is the whole frame less a hairline at its edge "
                    "(score 0.638, as the uncropped photo's).")


def test_scores_printed_with_the_decimals_that_tell_them_apart() -> None:
    """A trial: the preview's panel headers printed two decimals where the verdict printed three or four
    (0.66 beside 0.6624 and 0.6571); two crops of a panel at 0.662 and 0.656 read "0.66" twice."""
    from types import SimpleNamespace

    from procrop.output.preview import panel_digits, panel_title
    from procrop.verdict import score_digits

    assert score_digits([0.662, 0.656]) == 3 and score_digits([0.662, 0.656, 0.71]) == 3
    assert score_digits([0.62, 0.71]) == 2 and score_digits([0.5, 0.5]) == 2 and score_digits([]) == 2
    assert score_digits([0.66241, 0.66238], 4) == 4 and score_digits([0.66241, 0.66238]) == 3
    assert score_digits([0.662, 0.656], 1) == 2  # never under two
    crops = [SimpleNamespace(ratio="1:1", score=s, box=(0, 0, 10, 10), confidence=0.5)
             for s in (0.662, 0.656)]
    square = SimpleNamespace(width=40, height=40, uncropped_score=0.2, crops=crops, content=None)
    assert panel_digits(crops, square) == 3 and panel_digits(crops[:1], square) == 2
    assert panel_title("1:1", crops[0], square).startswith("ratio 1:1  #1: score 0.662, ")
    # the top crop told from the uncropped photo, as the verdict does, whatever the panel's shape
    square.uncropped_score = 0.6624
    assert panel_digits(crops[:1], square) == 4
    wide = SimpleNamespace(width=60, height=40, uncropped_score=0.6624, crops=crops[:1], content=None)
    assert panel_title("1:1", crops[0], wide) == "ratio 1:1  #1: score 0.6620"
