"""Importing foreign checkpoints: official (Conditional DETR / ProCrop) names -> procrop's network.

The synthetic checkpoints are written here with the official names, spelled out independently of
the importer's map (DETR's ``backbone.0.body``, ``transformer.encoder/decoder``, Conditional
DETR's ``sa_*``/``ca_*`` projections with ``self_attn``/``cross_attn.out_proj``, ProCrop's
``input_norm``, ``crop_proj.net`` and ``crop_norm``)."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from procrop.errors import ModelLoadError  # noqa: E402
from procrop.model.paper.config import Config  # noqa: E402

D, ENC, DEC, Q, K, T = 64, 1, 2, 8, 2, 4


def small_official() -> Config:
    return Config().replace(model=dict(backbone="resnet50", backbone_weights="", lr_backbone=1e-7, d_model=D, nheads=4,
                                       enc_layers=ENC, dec_layers=DEC, dim_feedforward=128, num_queries=Q, retrieval="mix",
                                       canvas=128, k_refs=K, ref_tokens=T, ref_dim=D, text="none"))


def resnet_names() -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {"conv1.weight": (64, 3, 7, 7)}
    for bn, n in (("bn1", 64),):
        out.update({f"{bn}.{k}": (n,) for k in ("weight", "bias", "running_mean", "running_var")})
    inplanes = 64
    for li, (planes, blocks) in enumerate(((64, 3), (128, 4), (256, 6), (512, 3)), 1):
        for b in range(blocks):
            p = f"layer{li}.{b}"
            cin = inplanes if b == 0 else planes * 4
            out[f"{p}.conv1.weight"] = (planes, cin, 1, 1)
            out[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            out[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
            for j, n in ((1, planes), (2, planes), (3, planes * 4)):
                out.update({f"{p}.bn{j}.{k}": (n,) for k in ("weight", "bias", "running_mean", "running_var")})
            if b == 0:
                out[f"{p}.downsample.0.weight"] = (planes * 4, cin, 1, 1)
                out.update({f"{p}.downsample.1.{k}": (planes * 4,) for k in ("weight", "bias", "running_mean", "running_var")})
        inplanes = planes * 4
    return {f"backbone.0.body.{k}": v for k, v in out.items()}


def lin(name: str, i: int, o: int) -> dict[str, tuple[int, ...]]:
    return {f"{name}.weight": (o, i), f"{name}.bias": (o,)}


def norm(name: str, n: int) -> dict[str, tuple[int, ...]]:
    return {f"{name}.weight": (n,), f"{name}.bias": (n,)}


def official_shapes(procrop_official: bool, classes: int = 1, queries: int = Q) -> dict[str, tuple[int, ...]]:
    s = resnet_names()
    s.update({"input_proj.weight": (D, 2048, 1, 1), "input_proj.bias": (D,), "query_embed.weight": (queries, D)})
    s.update(lin("class_embed", D, classes))
    for i in range(3):
        s.update(lin(f"bbox_embed.layers.{i}", D, 4 if i == 2 else D))
    for i in range(ENC):
        p = f"transformer.encoder.layers.{i}"
        s.update({f"{p}.self_attn.in_proj_weight": (3 * D, D), f"{p}.self_attn.in_proj_bias": (3 * D,)})
        s.update(lin(f"{p}.self_attn.out_proj", D, D) | lin(f"{p}.linear1", D, 128) | lin(f"{p}.linear2", 128, D))
        s.update(norm(f"{p}.norm1", D) | norm(f"{p}.norm2", D))
    for i in range(DEC):
        p = f"transformer.decoder.layers.{i}"
        projs = ["sa_qcontent_proj", "sa_qpos_proj", "sa_kcontent_proj", "sa_kpos_proj", "sa_v_proj", "ca_qcontent_proj",
                 "ca_kcontent_proj", "ca_kpos_proj", "ca_v_proj", "ca_qpos_sine_proj"] + (["ca_qpos_proj"] if i == 0 else [])
        for name in projs:
            s.update(lin(f"{p}.{name}", D, D))
        s.update(lin(f"{p}.self_attn.out_proj", D, D) | lin(f"{p}.cross_attn.out_proj", D, D))
        s.update(lin(f"{p}.linear1", D, 128) | lin(f"{p}.linear2", 128, D))
        s.update(norm(f"{p}.norm1", D) | norm(f"{p}.norm2", D) | norm(f"{p}.norm3", D))
    s.update(norm("transformer.decoder.norm", D))
    s.update(lin("transformer.decoder.query_scale.layers.0", D, D) | lin("transformer.decoder.query_scale.layers.1", D, D))
    s.update(lin("transformer.decoder.ref_point_head.layers.0", D, D) | lin("transformer.decoder.ref_point_head.layers.1", D, 2))
    if procrop_official:
        hw, extra = (128 // 32) ** 2, K * T
        s.update(norm("transformer.input_norm", D) | norm("transformer.crop_norm", D))
        s.update(norm("transformer.crop_proj.net.0", hw + extra) | lin("transformer.crop_proj.net.1", hw + extra, hw))
        s.update(lin("transformer.crop_proj.net.4", hw, hw))
        s.update(norm("bbox_embed.norms.0", D) | norm("bbox_embed.norms.1", D))
    return s


def write(path: Path, shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    sd = {k: torch.randn(v, generator=g) for k, v in shapes.items()}
    torch.save({"model": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3}, path)
    return sd


def test_import_official_procrop(tmp_path: Path) -> None:
    from procrop.model.paper.checkpoint import load_model
    from procrop.model.paper.importers import import_checkpoint

    src = write(tmp_path / "official.pth", official_shapes(True))
    report = import_checkpoint("procrop-official", tmp_path / "official.pth", tmp_path / "m.pt", small_official())
    model, state = load_model(tmp_path / "m.pt")
    sd = model.state_dict()
    pairs = {
        "backbone.layer3.2.conv2.weight": "backbone.0.body.layer3.2.conv2.weight",
        "backbone.layer1.0.downsample.1.running_var": "backbone.0.body.layer1.0.downsample.1.running_var",
        "encoder.layers.0.self_attn.in_proj_weight": "transformer.encoder.layers.0.self_attn.in_proj_weight",
        "decoder.layers.1.sa_out.weight": "transformer.decoder.layers.1.self_attn.out_proj.weight",
        "decoder.layers.1.ca_out.bias": "transformer.decoder.layers.1.cross_attn.out_proj.bias",
        "decoder.layers.0.ca_qpos_proj.weight": "transformer.decoder.layers.0.ca_qpos_proj.weight",
        "decoder.ref_point_head.layers.1.weight": "transformer.decoder.ref_point_head.layers.1.weight",
        "fusion.fc2.weight": "transformer.crop_proj.net.4.weight", "fusion.norm_in.bias": "transformer.crop_proj.net.0.bias",
        "fusion.norm_out.weight": "transformer.crop_norm.weight", "ref_proj.norm.weight": "transformer.input_norm.weight",
        "class_embed.weight": "class_embed.weight", "query_embed.weight": "query_embed.weight",
    }
    for ours, theirs in pairs.items():
        torch.testing.assert_close(sd[ours], src[theirs], rtol=0, atol=0, msg=ours)
    torch.testing.assert_close(sd["ref_proj.proj.weight"], torch.eye(D))  # official: tokens unprojected
    assert "decoder.layers.1.ca_qpos_proj.weight" in report.not_in_source  # deleted by Conditional DETR
    assert all(n.startswith("box_scorer.") or "ca_qpos_proj" in n for n in report.not_in_source)
    assert report.unused_source == [] and state["imported"]["format"] == "procrop-official"


def test_import_conditional_detr_skips_coco_heads_and_lists_mismatches(tmp_path: Path) -> None:
    from procrop.model.paper.importers import import_checkpoint

    shapes = official_shapes(False, classes=91, queries=300)
    write(tmp_path / "coco.pth", shapes)
    report = import_checkpoint("conditional-detr", tmp_path / "coco.pth", tmp_path / "m.pt", small_official())
    assert {"class_embed.weight", "query_embed.weight"} <= set(report.skipped)
    assert any(n.startswith("fusion.") for n in report.not_in_source)
    shapes["transformer.encoder.layers.0.linear1.weight"] = (99, D)
    shapes["input_proj.bias"] = (7,)
    write(tmp_path / "bad.pth", shapes)
    with pytest.raises(ModelLoadError, match=r"2 shape mismatch.*input_proj.bias \(7,\) -> input_proj.bias \(64,\).*linear1"):
        import_checkpoint("conditional-detr", tmp_path / "bad.pth", tmp_path / "m2.pt", small_official())


def test_import_checkpoint_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from procrop.cli.app import app

    write(tmp_path / "official.pth", official_shapes(True))
    sets = ["--set", "model.d_model=64", "--set", "model.enc_layers=1", "--set", "model.dec_layers=2",
            "--set", "model.dim_feedforward=128", "--set", "model.num_queries=8", "--set", "model.canvas=128",
            "--set", "model.k_refs=2", "--set", "model.ref_tokens=4", "--set", "model.ref_dim=64", "--set", "model.nheads=4"]
    r = CliRunner().invoke(app, ["import-checkpoint", "procrop-official", str(tmp_path / "official.pth"), str(tmp_path / "m.pt"), *sets])
    assert r.exit_code == 0, r.stdout + str(r.exception)
    assert (tmp_path / "m.pt").exists() and "loaded" in r.stdout
    r = CliRunner().invoke(app, ["import-checkpoint", "detr", str(tmp_path / "official.pth"), str(tmp_path / "x.pt")])
    assert r.exit_code == 2


def test_an_official_checkpoint_as_main_ap_saves_it_loads_whole(tmp_path: Path) -> None:
    """main_ap.py saves ``model_without_ddp.state_dict()`` of ConditionalDETR_distill: every name begins
    with ``conditionalDETR.``. The importer stripped only ``module.``: 0 loaded, and it succeeded."""
    from procrop.model.paper.checkpoint import load_model
    from procrop.model.paper.importers import import_checkpoint

    g = torch.Generator().manual_seed(1)
    src = {k: torch.randn(v, generator=g) for k, v in official_shapes(True).items()}
    torch.save({"model": {f"conditionalDETR.{k}": v for k, v in src.items()}, "optimizer": {}, "lr_scheduler": {},
                "epoch": 7, "args": None}, tmp_path / "checkpoint.pth")
    report = import_checkpoint("procrop-official", tmp_path / "checkpoint.pth", tmp_path / "m.pt", small_official())
    assert report.unused_source == [] and len(report.loaded) == len(src)  # every tensor arrives
    sd = load_model(tmp_path / "m.pt")[0].state_dict()
    from procrop.model.paper.importers import official_name

    for ours in report.loaded:
        torch.testing.assert_close(sd[ours], src[official_name(ours, "procrop-official")], rtol=0, atol=0, msg=ours)


def test_an_import_that_finds_too_little_is_refused(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from procrop.cli.checkpoints import import_checkpoint_command
    from procrop.model.paper.importers import import_checkpoint

    shapes = official_shapes(True)
    g = torch.Generator().manual_seed(2)
    torch.save({"model": {f"student.{k}": torch.randn(v, generator=g) for k, v in shapes.items()}}, tmp_path / "x.pth")
    with pytest.raises(ModelLoadError, match=r"only 0 of the \d+ tensors a procrop-official checkpoint provides were "
                                             r"found \(0 %, at least 95 % needed\); \d+ source tensors unused \(student\.backbone"):
        import_checkpoint("procrop-official", tmp_path / "x.pth", tmp_path / "x.pt", small_official())
    assert not (tmp_path / "x.pt").exists()
    # most, not all: 10 % of the tensors gone is refused too
    names = sorted(shapes)
    kept = {k: v for i, (k, v) in enumerate(sorted(shapes.items())) if i % 10}
    write(tmp_path / "part.pth", kept)
    with pytest.raises(ModelLoadError, match=r"a procrop-official checkpoint provides were found \(89 %.*lacks the others"):
        import_checkpoint("procrop-official", tmp_path / "part.pth", tmp_path / "p.pt", small_official())
    assert len(kept) < len(names)
    # the command: one line, exit 2
    import typer

    app = typer.Typer()
    app.command("import-checkpoint")(import_checkpoint_command)
    app.command("other")(lambda: None)
    sets = [f"--set=model.{k}={v}" for k, v in (("d_model", D), ("enc_layers", ENC), ("dec_layers", DEC),
                                                ("dim_feedforward", 128), ("num_queries", Q), ("canvas", 128),
                                                ("k_refs", K), ("ref_tokens", T), ("ref_dim", D), ("nheads", 4))]
    r = CliRunner().invoke(app, ["import-checkpoint", "procrop-official", str(tmp_path / "x.pth"), str(tmp_path / "x.pt"), *sets])
    assert r.exit_code == 2 and "only 0 of the" in r.output and len(r.output.strip().splitlines()) == 1
