"""Defaults that fit together (issue 17, item 2): a database built by ``procrop index build`` with
default options has the reference tokens the model configurations expect, and the documented
recipe ``procrop train configs/small_weak.toml --set train.reference_db=DB`` trains on it.

Before: ``index build`` defaulted to the ``layout`` encoder (64 tokens x 14) while the configs
expect the ``mobilenet`` tokens (64 x 64), and training failed on the shape.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from procrop.cli.app import app  # noqa: E402
from procrop.model.paper.config import Config  # noqa: E402
from procrop.retrieval import ReferenceDB  # noqa: E402

from test_model import make_synthetic_set  # noqa: E402

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def default_db(photo_paths: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for i, p in enumerate(photo_paths[7::61][:4]):
        (folder / f"{i:02d}_{p.name}").symlink_to(p)
    out = tmp_path_factory.mktemp("db") / "db"
    r = runner.invoke(app, ["index", "build", str(folder), "--out", str(out), "--quiet"])  # default options
    assert r.exit_code == 0, r.output
    return out


def test_default_database_has_the_configs_token_shape(default_db: Path) -> None:
    db = ReferenceDB.open(default_db)
    assert db.encoder_info["name"] == "mobilenet"
    cfg = Config.load(ROOT / "configs" / "small_weak.toml")
    assert cfg.model.retrieval != "none"
    assert tuple(db.tokens.shape[1:]) == (cfg.model.ref_tokens, cfg.model.ref_dim) == (64, 64)


def test_documented_train_recipe_runs_on_a_default_database(default_db: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    make_synthetic_set(tmp_path / "data")
    sets = ["train.reference_db=" + str(default_db), "train.mode=supervised", "train.benchmark=gaicd-v2",
            "train.split=train", "train.refine=false", "train.batch_size=2", "model.k_refs=2"]
    args = ["train", str(ROOT / "configs" / "small_weak.toml"), "--data", str(tmp_path / "data"),
            "--out", str(tmp_path / "run"), "--max-steps", "1", "--quiet"]
    for s in sets:
        args += ["--set", s]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "run" / "last.pt").exists()
    # --resume without --out continues in the checkpoint's folder (it wrote the config's runs/small_weak)
    monkeypatch.chdir(tmp_path / "data")
    resumed = [a for a in args if a not in ("--out", str(tmp_path / "run"))]
    resumed[resumed.index("--max-steps") + 1] = "2"
    r = runner.invoke(app, [*resumed, "--resume", str(tmp_path / "run" / "last.pt")])
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "data" / "runs").exists()
    assert torch.load(tmp_path / "run" / "last.pt", map_location="cpu", weights_only=False)["step"] == 2
    r = runner.invoke(app, [*resumed, "--resume", str(tmp_path / "run")])  # the folder, not its checkpoint
    assert r.exit_code == 2 and "not a checkpoint file (e.g. OUT/last.pt)" in r.output, r.output
