"""Animal names from the backbone the learned scorer already runs.

The object detector (YOLOX-nano) knows 80 COCO classes, ten of them animals, so a tiger comes out
as a "zebra" or a "giraffe", a wallaby as a "sheep" and a macaw as a "bird". The learned scorer's
frozen backbone is MobileNetV2 trained on ImageNet, whose 1,000 classes hold 398 animals, and its
classifier ships with it (``procrop/resources/models/mobilenet_v2_imagenet.npz``, labels in
``imagenet_labels.txt``). :func:`animal_names` reads the backbone's ``c5`` map ``(1280, h, w)``,
averaged over the cells an animal's box covers, through that classifier; where it names an
animal class with at least :data:`SURE` probability, the description uses that name instead of
the detector's (dog breeds say "dog", house cats "cat", birds "bird", a sorrel "horse"); where it
reads another animal than the detector's class less surely (from :data:`DOUBT`, and not one of its
:data:`KIN`), the description says "an animal" rather than the detector's name (a white tiger was "a
giraffe"). Only a confident detection covering :data:`MIN_SHARE` of the frame is named.

A salient region no detection names is named the same way (:func:`region_names`, pooled over its
box), but only into :data:`REGION_WORDS`: the classes the classifier got right over such regions
of the shared photos and the BSDS500 development photos (all 35 of the regions it named at
:data:`SURE_REGION` or more: mountains, lighthouses, boats, flowers, tigers, jellyfish...). Elsewhere
it reads the scene around the region as much as the region (a twig beside a bird called a
"bulbul", poppies "an ant", an elk "a bighorn"), so insects, birds, frogs, hoofed animals and
scene words ("lakeside", "valley") are never used.

Only words change: protection and the scorers read the detector's boxes and kinds as before, and
the learned scorer reads the description it was trained with
(:func:`procrop.perception.describe.describe` with ``animal_words=False``). Checked by eye on the
BSDS500 development photos (two new-user trials): named this way, tigers the detector called
zebras, lions it called a dog, brown, black and polar bears, piglets it called an elephant; a first
version that also named small or unsure detections and bird species got one in three wrong (a
roadrunner as a quail, a bear cub as a kit fox, two horses as a bighorn).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np

from .analysis import CONFIDENT, Region
from .detectors import Detection

#: The classifier's probability from which its animal name replaces the detector's.
SURE = 0.95
#: From this probability, a classifier reading of another animal than the detector's class makes
#: the description say "an animal" (a white tiger the detector called a giraffe, a new user's trial).
#: At 0.5 until 2026-12-08: on the 517 pool, 300 BSDS500 and fresh39's 41 photos, 0.25 changed the
#: words of 5 of 81 confident animal detections, all wrong before (a lion and a wolf called bears,
#: two camels called elephants, a deer called a horse; readings 0.27-0.46), and no other.
DOUBT = 0.25
#: Only a confident detection (:data:`~procrop.perception.analysis.CONFIDENT`) this large (a share
#: of the frame) is named: over a smaller box the pooled map mixes in the background (a roadrunner
#: read as a quail, a bear cub as a kit fox).
MIN_SHARE = 0.08
#: ImageNet's animal classes, as indices into the 1,001 labels (0 is "background").
ANIMALS = range(1, 399)
#: Groups named by their common word rather than the breed or species (indices into the 1,001
#: labels): dogs, house cats, and birds, whose species the pooled map gets wrong too often (a
#: roadrunner read as a quail, a booby as an albatross).
GROUPS = ((range(152, 270), "dog"), (range(282, 287), "cat"),
          (range(8, 26), "bird"), (range(81, 102), "bird"), (range(128, 148), "bird"))
#: Names kept shorter or plainer than ImageNet's first synonym.
PLAIN = {"sorrel": "horse", "ice bear": "polar bear", "tusker": "elephant", "hog": "pig",
         "ram": "sheep", "tabby": "cat"}

#: The classifier's probability from which it names an unnamed salient region.
SURE_REGION = 0.9
#: Only a region whose box covers this share of the frame is named.
MIN_REGION_SHARE = 0.03
#: What an unnamed salient region may be called, by ImageNet class (indices into the 1,001
#: labels): a few things and the animal families YOLOX has no class for (their own names).
REGION_WORDS: dict[int, str | None] = {
    971: "mountain", 438: "lighthouse", 473: "boat", 629: "ship", 498: "church", 986: "flower",
    948: "mushroom", 972: "bubble", 403: "guitar", 547: "guitar", 822: "bridge",
    **{i: "snake" for i in range(53, 70)}, 50: "crocodile", 51: "alligator",
    **{i: None for i in (*range(287, 299), 106, 108, 328, 345, 361, *range(366, 390), 394)},
}

#: Region words said without the region's colour (a church's region takes the trees' green, a
#: snowy peak's the sky's blue).
UNCOLOURED = frozenset(("church", "lighthouse", "bridge", "mountain"))

_MODELS = Path(__file__).resolve().parents[1] / "resources" / "models"


@functools.lru_cache(maxsize=1)
def _classifier() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The ImageNet classifier's weights ``(1001, 1280)``, bias ``(1001,)`` and labels."""
    with np.load(_MODELS / "mobilenet_v2_imagenet.npz") as z:
        weight, bias = z["classifier.weight"].astype(np.float32), z["classifier.bias"].astype(np.float32)
    labels = tuple(line.strip() for line in (_MODELS / "imagenet_labels.txt").read_text("utf-8").splitlines())
    return weight, bias, labels


def animal_word(index: int) -> str | None:
    """The plain name of ImageNet class ``index`` (of the 1,001 labels), ``None`` when it is not
    an animal: ``"tiger"``, ``"dog"`` for any breed, ``"bird"`` for any bird, ``"polar bear"``."""
    if index not in ANIMALS:
        return None
    for group, word in GROUPS:
        if index in group:
            return word
    first = _classifier()[2][index].split(",")[0].strip()
    return PLAIN.get(first, first)


def _cells(box: tuple[float, float, float, float], W: float, H: float, h: int, w: int) -> tuple[slice, slice]:
    """The map cells of an ``h x w`` map over the whole frame that a box (original pixels) covers."""
    x, y, bw, bh = box
    x0, x1 = int(math.floor(x / W * w)), int(math.ceil((x + bw) / W * w))
    y0, y1 = int(math.floor(y / H * h)), int(math.ceil((y + bh) / H * h))
    x0, y0 = min(max(x0, 0), w - 1), min(max(y0, 0), h - 1)
    return slice(y0, max(y1, y0 + 1)), slice(x0, max(x1, x0 + 1))


def _reading(feats: np.ndarray, box: tuple[float, float, float, float], W: float, H: float
             ) -> tuple[int, float]:
    """The classifier's surest class (an index into the 1,001 labels) over the cells of ``feats``
    ``(1280, h, w)`` that ``box`` covers, and its probability."""
    weight, bias, _ = _classifier()
    rows, cols = _cells(box, W, H, feats.shape[1], feats.shape[2])
    logits = weight @ feats[:, rows, cols].mean(axis=(1, 2)) + bias
    p = np.exp(logits - logits.max())
    best = int(np.argmax(p))
    return best, float(p[best] / p.sum())


def animal_names(c5: np.ndarray, found: list[Detection], W: float, H: float
                 ) -> tuple[tuple[tuple[float, float, float, float], str], ...]:
    """``(box, name)`` for each animal detection the classifier names surely (see the module
    docstring), from ``c5 (1280, h, w)``, the backbone's map of the photo squashed to a square;
    an unsure person (a weak detection, or one drawn below a face) that it surely calls an
    animal is named too (a koala whose face the face detector found: the description said "a
    figure" with "one small face")."""
    large = [d for d in found if d.box[2] * d.box[3] >= MIN_SHARE * W * H]
    animals = [d for d in large if (d.kind == "animal" and d.score >= CONFIDENT)
               or (d.kind == "person" and d.score < CONFIDENT)]
    feats = np.asarray(c5, np.float32)
    out = []
    for d in animals:
        best, sure = _reading(feats, d.box, W, H)
        word = animal_word(best)
        if word is not None and sure >= SURE:
            out.append((tuple(float(v) for v in d.box), word))
        elif word is not None and sure >= DOUBT and d.kind == "animal" and not _may_be(d.label, word):
            out.append((tuple(float(v) for v in d.box), "animal"))  # not sure what, but not the detector's
    return tuple(out)


#: ImageNet words each COCO animal class may be read as (besides its own name, or a name holding it:
#: "brown bear", "African elephant"; horses are often read as camels); a bird detection is never
#: doubted (birds are too many). Checked on the 517 pool and 300 BSDS500 photos: "an animal" replaced
#: a giraffe (a white tiger), a dog (a tiger), a horse (a penguin), a bear (a collie), a sheep (bison),
#: and a foal read as a dog became "an animal" too; a dead tree the detector calls a giraffe stays one.
KIN = {"cat": ("lion", "tiger", "cheetah", "leopard", "jaguar", "snow leopard", "lynx", "cougar"),
       "dog": ("timber wolf", "white wolf", "red wolf", "coyote", "dingo", "dhole", "African hunting dog",
               "hyena", "red fox", "kit fox", "Arctic fox", "grey fox"),
       "cow": ("ox", "water buffalo", "bison"), "sheep": ("bighorn", "ibex"),
       "horse": ("zebra", "Arabian camel"), "zebra": ("horse",),
       "giraffe": ("bird",)}  # ImageNet has no giraffe: a long neck reads as an ostrich


def _may_be(label: str, word: str) -> bool:
    """Whether the classifier's ``word`` can name what the detector calls ``label``."""
    return label == "bird" or label in word.split() or word in KIN.get(label, ())


def region_names(c5: np.ndarray, regions: list[Region], W: float, H: float
                 ) -> tuple[tuple[tuple[float, float, float, float], str], ...]:
    """``(box, word)`` for each salient region no detection names (no ``label``) covering
    :data:`MIN_REGION_SHARE` of the frame that the classifier reads, over its box, as one of
    :data:`REGION_WORDS` with at least :data:`SURE_REGION` probability (``c5`` as for
    :func:`animal_names`)."""
    feats = np.asarray(c5, np.float32)
    out = []
    for s in regions:
        if s.kind != "salient" or s.label or s.box[2] * s.box[3] < MIN_REGION_SHARE * W * H:
            continue
        best, sure = _reading(feats, s.box, W, H)
        if best in REGION_WORDS and sure >= SURE_REGION:
            out.append((tuple(float(v) for v in s.box), REGION_WORDS[best] or animal_word(best) or ""))
    return tuple(out)
