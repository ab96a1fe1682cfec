"""The crop-or-keep verdict in words: one wording for the JSON, the CLI summary and the web page.

A crop's ``confidence`` is how likely it looks better than the uncropped photo (0.5: no better, no
worse); below :data:`KEEP_BELOW` for the top crop, the photo is best kept as it is
(``keep_original``). The sentences name what is compared with what, which is better, and whose
score is whose:

* :func:`versus_original` (a crop's ``versus_original``): "72% likely to look better than the
  uncropped photo";
* :func:`verdict` (a result's ``verdict``): "Crop it: the top crop (score 0.83) is 72% likely to
  look better than the uncropped photo (score 0.79)." or "Keep the uncropped photo: the top crop
  (score 0.61) is only 3% likely to look better than the uncropped photo (score 0.79)."
"""

from __future__ import annotations

#: The top crop's confidence below which the photo is best kept uncropped.
KEEP_BELOW = 0.5


def keep_original(confidence: float) -> bool:
    """Whether a top crop of this ``confidence`` leaves the photo best kept as it is."""
    return bool(confidence < KEEP_BELOW)


def _pct(confidence: float) -> str:
    return f"{round(100 * float(confidence))}%"


def versus_original(confidence: float) -> str:
    """One crop's confidence in words: "72% likely to look better than the uncropped photo"."""
    return f"{_pct(confidence)} likely to look better than the uncropped photo"


def verdict(top_score: float | None, uncropped_score: float, confidence: float) -> str:
    """Crop or keep, in one sentence naming both scores (``top_score`` None: no crop was found)."""
    if top_score is None:
        return f"Keep the uncropped photo (score {uncropped_score:.2f}): no crop was found."
    crop = f"the top crop (score {top_score:.2f}) is"
    original = f"likely to look better than the uncropped photo (score {uncropped_score:.2f})."
    if keep_original(confidence):
        return f"Keep the uncropped photo: {crop} only {_pct(confidence)} {original}"
    return f"Crop it: {crop} {_pct(confidence)} {original}"
