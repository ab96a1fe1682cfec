"""The float MobileNetV2 converted from google-coral's quantised TFLite classifier
(procrop.model.shared.mobilenet).

* top-1 of the float torch model agrees with the original ``mobilenet_v2_1.0_224_quant.tflite`` on 40 real
  photos, run through ai-edge-litert when it is installed; without it, against the TFLite top-1 labels
  recorded below (so the check still runs);
* feature map shapes for even, odd and tiny inputs (TF 'SAME' arithmetic: side ``ceil(n / stride)``);
* nothing is read at import; a missing or corrupt weights file raises ModelLoadError naming it;
* ``tools/convert_mobilenet.py`` rebuilds the packaged npz byte for byte.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from procrop.errors import ModelLoadError, ProcropError
from procrop.model.shared import mobilenet as mn

ROOT = Path(__file__).resolve().parents[1]
TFLITE_NAME = "mobilenet_v2_1.0_224_quant.tflite"

# (photo, top-1 index of the original TFLite model (0 = background), its top-1 minus top-2 probability).
# Recorded with ai-edge-litert 2.3.0 (built-in kernels, no XNNPACK) on the photo resized to 224x224 with
# PIL bilinear. Over all 517 photos of ../shared/data/photos the float model agrees on 485 (93.8 %);
# every disagreement had a TFLite margin under 0.13.
EXPECTED = [
    ("zelex-kodak/kodim01.jpg", 499, 0.22),  # cinema
    ("zelex-kodak/kodim02.jpg", 638, 0.46),  # mailbox
    ("zelex-kodak/kodim03.jpg", 702, 0.11),  # parachute
    ("zelex-kodak/kodim04.jpg", 453, 0.34),  # bonnet
    ("zelex-kodak/kodim05.jpg", 429, 0.16),  # barrow
    ("zelex-kodak/kodim06.jpg", 485, 0.09),  # catamaran
    ("zelex-kodak/kodim07.jpg", 739, 0.02),  # pot
    ("zelex-kodak/kodim08.jpg", 830, 0.25),  # streetcar
    ("zelex-kodak/kodim09.jpg", 485, 0.20),  # catamaran
    ("zelex-kodak/kodim10.jpg", 872, 0.33),  # trimaran
    ("zelex-kodak/kodim11.jpg", 781, 0.07),  # schooner
    ("zelex-kodak/kodim12.jpg", 976, 0.14),  # lakeside
    ("zelex-kodak/kodim13.jpg", 980, 0.80),  # valley
    ("zelex-kodak/kodim14.jpg", 694, 0.51),  # paddle
    ("zelex-kodak/kodim15.jpg", 453, 0.13),  # bonnet
    ("zelex-kodak/kodim16.jpg", 976, 0.93),  # lakeside
    ("zelex-kodak/kodim17.jpg", 951, 0.05),  # orange
    ("zelex-kodak/kodim18.jpg", 400, 0.04),  # abaya
    ("zelex-kodak/kodim19.jpg", 438, 0.59),  # beacon
    ("zelex-kodak/kodim20.jpg", 896, 0.95),  # warplane
    ("zelex-kodak/kodim21.jpg", 438, 1.00),  # beacon
    ("zelex-kodak/kodim22.jpg", 450, 0.62),  # boathouse
    ("zelex-kodak/kodim23.jpg", 89, 1.00),  # macaw
    ("zelex-kodak/kodim24.jpg", 717, 0.04),  # picket fence
    ("zelex-wikipedia-photos/001.jpg", 293, 0.45),  # tiger
    ("zelex-wikipedia-photos/002.jpg", 885, 0.68),  # vault
    ("zelex-wikipedia-photos/003.jpg", 822, 0.13),  # steel arch bridge
    ("zelex-wikipedia-photos/004.jpg", 980, 0.29),  # valley
    ("zelex-wikipedia-photos/005.jpg", 510, 0.04),  # confectionery
    ("zelex-wikipedia-photos/006.jpg", 707, 0.04),  # patio
    ("zelex-wikipedia-photos/008.jpg", 781, 0.00),  # schooner
    ("zelex-wikipedia-photos/009.jpg", 484, 0.83),  # castle
    ("zelex-wikipedia-photos/011.jpg", 719, 0.11),  # pier
    ("zelex-wikipedia-photos/012.jpg", 885, 0.26),  # vault
    ("zelex-wikipedia-photos/013.jpg", 971, 0.11),  # alp
    ("zelex-wikipedia-photos/014.jpg", 868, 0.13),  # trailer truck
    ("zelex-wikipedia-photos/016.jpg", 418, 1.00),  # balloon
    ("zelex-wikipedia-photos/017.jpg", 563, 0.11),  # fountain
    ("zelex-wikipedia-photos/018.jpg", 979, 0.16),  # seashore
    ("zelex-wikipedia-photos/020.jpg", 440, 0.22),  # bearskin
]
MIN_AGREE = 36  # of 40: close calls (small TFLite margin) may flip under activation quantisation noise
CLEAR_MARGIN = 0.15  # photos whose TFLite top-1 leads by this much must always agree


def _photo(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB").resize((224, 224), Image.BILINEAR))


@pytest.fixture(scope="module")
def model():
    return mn.load_pretrained()


@pytest.fixture(scope="module")
def photos(photos_dir: Path) -> list[tuple[str, np.ndarray, int, float]]:
    missing = [f for f, _, _ in EXPECTED if not (photos_dir / f).is_file()]
    if missing:
        pytest.skip(f"photos missing from {photos_dir}: {missing[:3]}")
    return [(f, _photo(photos_dir / f), label, margin) for f, label, margin in EXPECTED]


def _probs(model, image: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return torch.softmax(model(model.preprocess(image)), -1)[0].numpy()


def _tflite(shared: Path):
    litert = pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert not installed")
    path = shared / "models" / "backbone" / TFLITE_NAME
    if not path.is_file():
        pytest.skip(f"{path} not found")
    interp = litert.Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interp.allocate_tensors()
    return interp, path


def test_top1_matches_recorded_tflite_labels(model, photos) -> None:
    agree, clear_misses = 0, []
    for name, image, label, margin in photos:
        top1 = int(_probs(model, image).argmax())
        agree += top1 == label
        if top1 != label and margin >= CLEAR_MARGIN:
            clear_misses.append((name, label, top1))
    assert not clear_misses, f"clear-cut photos disagree with the TFLite top-1: {clear_misses}"
    assert agree >= MIN_AGREE, f"top-1 agrees on {agree}/{len(photos)} photos"


def test_top1_and_probabilities_match_tflite(model, photos, shared: Path) -> None:
    interp, _ = _tflite(shared)
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    scale, zero_point = out["quantization"]
    agree, diffs, clear_misses = 0, [], []
    for name, image, _, _ in photos:
        interp.set_tensor(inp["index"], image[None])
        interp.invoke()
        ref = (interp.get_tensor(out["index"])[0].astype(np.float64) - zero_point) * scale
        ours = _probs(model, image)
        agree += ours.argmax() == ref.argmax()
        diffs.append(np.abs(ours - ref).mean())
        top2 = np.sort(ref)[-2:]
        if ours.argmax() != ref.argmax() and top2[1] - top2[0] >= CLEAR_MARGIN:
            clear_misses.append(name)
    assert not clear_misses
    assert agree >= MIN_AGREE, f"top-1 agrees on {agree}/{len(photos)} photos"
    assert float(np.mean(diffs)) < 5e-4  # measured: 2.1e-4 over the 517 photos


@pytest.mark.parametrize("size", [(224, 224), (320, 320), (225, 231), (97, 33), (1, 1), (480, 641)])
def test_feature_shapes(size: tuple[int, int]) -> None:
    h, w = size
    net = mn.MobileNetV2().eval()
    with torch.no_grad():
        feats = net.features(torch.zeros(2, 3, h, w))
        logits = net(torch.zeros(1, 3, h, w))
    assert logits.shape == (1, 1001)
    assert set(feats) == set(mn.FEATURE_STRIDES)
    for name, fmap in feats.items():
        s = mn.FEATURE_STRIDES[name]
        assert fmap.shape == (2, mn.FEATURE_CHANNELS[name], -(-h // s), -(-w // s)), name
    assert feats["c5"].shape[1] == net.out_channels == net.num_channels == 1280


def test_c5_backbone_adapter(model) -> None:
    pixels = torch.rand(1, 3, 96, 130) * 255
    want = model.features(model.normalizer(pixels))["c5"]
    for mode, x in [
        ("unit", pixels / 255),
        (
            "imagenet",
            (pixels / 255 - torch.tensor(mn.IMAGENET_MEAN).view(1, 3, 1, 1))
            / torch.tensor(mn.IMAGENET_STD).view(1, 3, 1, 1),
        ),
        ("native", model.normalizer(pixels)),
    ]:
        backbone = mn.C5Backbone(model, mode)
        with torch.no_grad():
            got = backbone(x)
        assert got.shape == (1, backbone.num_channels, 3, 5)
        assert torch.allclose(got, want.detach(), atol=1e-3), mode


def test_tf_same_padding_is_asymmetric_on_even_sides() -> None:
    assert mn.tf_same_pads(224, 3, 2) == (0, 1)
    assert mn.tf_same_pads(225, 3, 2) == (1, 1)
    assert mn.tf_same_pads(7, 1, 1) == (0, 0)
    conv = mn.ConvSame(1, 1, 3, 2, relu6=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 0, 0] = 1.0  # picks the top-left input of each window
        conv.bias.zero_()
        x = torch.arange(16.0).reshape(1, 1, 4, 4)
        # TF pads (0, 1) on a side of 4: windows start at rows/cols 0 and 2, not -1 and 1.
        assert conv(x)[0, 0].tolist() == [[0.0, 2.0], [8.0, 10.0]]


def test_packaged_weights_and_metadata(model) -> None:
    path = mn.default_weights_path()
    assert path.is_file() and path.stat().st_size <= 8_000_000
    assert sum(p.numel() for p in model.parameters()) == 3_489_097
    meta = model.metadata
    assert meta["source"]["path"] == TFLITE_NAME and meta["licence"] == "Apache-2.0"
    assert meta["source"]["commit"] == "104342d2d3480b3e66203073dac24f4e2dbb4c41"
    assert meta["input_normalization"] == {
        **meta["input_normalization"],
        "zero_point": 128.0,
        "scale": 0.0078125,
    }
    assert float(model.normalizer(torch.tensor([0.0, 128.0, 255.0]))[0]) == -1.0
    headless = mn.load_pretrained(classifier=False)
    assert headless.classifier is None and headless.features(torch.zeros(1, 3, 64, 64))["c5"].shape[1] == 1280


def test_import_reads_no_weights() -> None:
    code = (
        "import numpy\n"
        "def refuse(*a, **k): raise SystemExit('np.load called at import')\n"
        "numpy.load = refuse\n"
        "import procrop.model.shared.mobilenet as mn\n"
        "assert mn.MobileNetV2().features is not None\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_missing_weights_raise_model_load_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.npz"
    with pytest.raises(ModelLoadError, match="nope.npz"):
        mn.MobileNetV2.from_file(path)
    assert issubclass(ModelLoadError, ProcropError)


def _corrupt_files(tmp_path: Path) -> list[Path]:
    good = mn.default_weights_path()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"this is not a zip file" * 10)
    wrong_shape = tmp_path / "wrong_shape.npz"
    with np.load(good) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["stem.weight"] = arrays["stem.weight"][:16]
    np.savez(wrong_shape, **arrays)
    partial = tmp_path / "partial.npz"
    np.savez(partial, **{k: v for k, v in arrays.items() if not k.startswith("head.")})
    empty = tmp_path / "empty.npz"
    with zipfile.ZipFile(empty, "w"):
        pass
    return [truncated, garbage, wrong_shape, partial, empty]


def test_corrupt_weights_raise_model_load_error(tmp_path: Path) -> None:
    for path in _corrupt_files(tmp_path):
        with pytest.raises(ModelLoadError) as info:
            mn.load_pretrained(path)
        assert path.name in str(info.value)


@pytest.mark.slow
def test_converter_rebuilds_identical_bytes(tmp_path: Path, shared: Path) -> None:
    _, tflite = _tflite(shared)
    out = tmp_path / "mobilenet_v2_imagenet.npz"
    cmd = [
        sys.executable,
        str(ROOT / "tools" / "convert_mobilenet.py"),
        "--tflite",
        str(tflite),
        "--out",
        str(out),
    ]
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == mn.default_weights_path().read_bytes()
