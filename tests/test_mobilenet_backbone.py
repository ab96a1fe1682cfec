"""The ``mobilenet_v2`` backbone of the neural model (procrop.model.paper.backbone).

* a tiny ProCrop network with ``backbone = "mobilenet_v2"`` and the packaged ImageNet weights builds and
  runs forward on a 2-image batch;
* its backbone's output is exactly ``MobileNetV2.features()["c5"]`` of the same pixels, whichever input
  normalisation the config uses (``minmax``: [0, 1] pixels; ``imagenet``: mean/std);
* ``lr_backbone = 0`` freezes it, a positive one makes it trainable; ``""`` is random initialisation and a
  missing weights file is a ModelLoadError naming it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from procrop.errors import ModelLoadError  # noqa: E402
from procrop.model.paper.config import Config  # noqa: E402
from procrop.model.shared.mobilenet import IMAGENET_MEAN, IMAGENET_STD, load_pretrained  # noqa: E402
from procrop.model.paper.network import build_model  # noqa: E402

TINY = dict(d_model=64, nheads=4, enc_layers=1, dec_layers=2, dim_feedforward=128, dropout=0.0, num_queries=8,
            test_short=128, max_long=160, backbone="mobilenet_v2", backbone_weights="imagenet")


def tiny_config(**model) -> Config:
    return Config().replace(model={**TINY, **model})


@pytest.mark.parametrize("normalize", ["minmax", "imagenet"])
def test_tiny_network_runs_and_c5_matches(normalize: str) -> None:
    cfg = tiny_config(normalize=normalize, lr_backbone=0.0)
    model = build_model(cfg.model).eval()
    assert model.backbone.num_channels == 1280
    assert not any(p.requires_grad for p in model.backbone.parameters())
    gen = torch.Generator().manual_seed(0)
    pixels = torch.rand(2, 3, 128, 192, generator=gen)  # [0, 1] RGB
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    images = pixels if normalize == "minmax" else (pixels - mean) / std
    mask = torch.zeros(2, 128, 192, dtype=torch.bool)
    mask[1, :, 160:] = True
    with torch.no_grad():
        out = model(images, mask)
        c5 = model.backbone(images)
        reference = load_pretrained(classifier=False)
        expected = reference.features(reference.preprocess(pixels * 255.0))["c5"]
    q = cfg.model.num_queries
    assert out["logits"].shape == (2, q) and out["boxes"].shape == (2, q, 4)
    assert out["features"].shape == (2, cfg.model.d_model, 4, 6)
    assert torch.isfinite(out["logits"]).all()
    assert c5.shape == expected.shape == (2, 1280, 4, 6)
    torch.testing.assert_close(c5, expected, rtol=1e-4, atol=1e-4)


def test_trainable_random_and_missing_weights(tmp_path: Path) -> None:
    model = build_model(tiny_config(lr_backbone=1e-5).model)
    assert all(p.requires_grad for p in model.backbone.parameters())
    random = build_model(tiny_config(backbone_weights="").model).backbone
    packaged = build_model(tiny_config().model).backbone
    assert not torch.equal(random.model.head.weight, packaged.model.head.weight)
    with pytest.raises(ModelLoadError, match="nope.npz"):
        build_model(tiny_config(backbone_weights=str(tmp_path / "nope.npz")).model)
