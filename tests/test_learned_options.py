"""No silent changes or drops on the learned scorer's path: a run resumed under other options is
refused with the reason, every hint names a command that exists, exporting a model trained with
references without them is refused (or warned about with --no-refs), bad inputs are one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from procrop.errors import UsageError  # noqa: E402
from procrop.training.scorer.boxsets import write_shard  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MAPS = {"c3": (32, 32, 32), "c4": (96, 16, 16), "c5": (1280, 8, 8)}


def _learned(*args: str):  # noqa: ANN202 - a click Result
    from procrop.cli.learned import learned_app

    return CliRunner().invoke(learned_app, list(args))


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 canvases of random cached features (training never runs the backbone)."""
    folder = tmp_path_factory.mktemp("sets")
    rng = np.random.default_rng(0)
    records = []
    for i in range(40):
        x1, y1 = rng.uniform(0, 0.3, 2)
        records.append({"photo": f"p{i // 2}.jpg", "fill": "none", "text": "a photo",
                        "frame": np.array([x1, y1, x1 + 0.6, y1 + 0.6], np.float32), "canvas": (320, 240),
                        **{k: rng.normal(0, 1, s).astype(np.float16) for k, s in MAPS.items()}})
    write_shard(folder / "shard-0000.npz", records)
    return folder


def test_a_run_resumed_under_other_options_is_refused(sets: Path, tmp_path: Path) -> None:
    """`learned build --epochs 2` on a finished 1-epoch folder resumed under another schedule, silently."""
    from procrop.training.scorer.boxtrain import BoxTrainConfig, train_boxnet

    run = tmp_path / "run"
    train_boxnet(str(sets), str(sets), run, None, BoxTrainConfig(epochs=1, batch=4, threads=1))
    stamp = (run / "last.pt").stat().st_mtime_ns
    with pytest.raises(UsageError, match=r"run: a run started with other options \(epochs 1 -> 2; lr 0.001 -> 0.002\)"):
        train_boxnet(str(sets), str(sets), run, None, BoxTrainConfig(epochs=2, batch=4, threads=1, lr=2e-3))
    # the number of threads is no option of the run: the same run, finished, nothing to do
    train_boxnet(str(sets), str(sets), run, None, BoxTrainConfig(epochs=1, batch=4, threads=2))
    assert (run / "last.pt").stat().st_mtime_ns == stamp
    r = _learned("train", "--train", str(sets), "--val", str(sets), "--out", str(run), "--epochs", "3", "--threads", "1")
    assert r.exit_code == 2 and "epochs 1 -> 3" in r.output and len(r.output.strip().splitlines()) == 1


def test_export_without_the_training_references_is_refused_or_warned(sets: Path, tmp_path: Path) -> None:
    from procrop.training.scorer.boxtrain import BoxTrainConfig, train_boxnet

    run = tmp_path / "run"
    train_boxnet(str(sets), str(sets), run, None, BoxTrainConfig(epochs=1, batch=4, threads=1))
    state = torch.load(run / "best.pt", weights_only=False)
    state["meta"]["references"] = "work/refdb_train_mobilenet"  # as `learned build` trains it
    torch.save(state, run / "best.pt")
    r = _learned("export", str(run / "best.pt"), str(tmp_path / "bundle"))
    assert r.exit_code == 2 and "trained with references (work/refdb_train_mobilenet)" in r.output
    assert "--no-refs" in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "bundle").exists()
    r = _learned("export", str(run / "best.pt"), str(tmp_path / "bundle"), "--no-refs")
    assert r.exit_code == 0, r.output
    assert "warning:" in r.output and "crops will run without them" in " ".join(r.output.split())
    assert (tmp_path / "bundle" / "model.json").exists() and not (tmp_path / "bundle" / "references").exists()
    r = _learned("export", str(tmp_path / "nowhere.pt"), str(tmp_path / "b2"))
    assert r.exit_code == 2 and "nowhere.pt: no such checkpoint" in r.output and "Traceback" not in r.output


def test_training_on_no_box_sets_is_one_line_naming_the_command(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    r = _learned("train", "--train", str(tmp_path / "empty"), "--val", str(tmp_path / "empty"),
                 "--out", str(tmp_path / "run"), "--threads", "1")
    assert r.exit_code == 2 and "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1
    assert "no box-set shards (make them with `procrop learned boxsets`)" in r.output


HINT = re.compile(r"""[`'"]procrop ([a-z][a-z-]*)((?:[ /]+[a-z][a-z-]*)?)""")


def test_every_hint_names_a_command_that_exists() -> None:
    """Every `procrop COMMAND [SUBCOMMAND]` quoted in the package's code and docstrings is a command of
    the CLI (one named `procrop dataset boxsets`, which does not exist)."""
    import typer

    from procrop.cli.app import app

    cli = typer.main.get_command(app)
    wrong, seen = [], 0
    for path in sorted((ROOT / "procrop").rglob("*.py")):
        for m in HINT.finditer(path.read_text(encoding="utf-8")):
            seen += 1
            command = cli.commands.get(m.group(1))  # type: ignore[attr-defined]
            if command is None:
                wrong.append(f"{path.relative_to(ROOT)}: procrop {m.group(1)}")
                continue
            subs = getattr(command, "commands", None)
            for sub in filter(None, re.split(r"[ /]+", m.group(2))):
                if subs is not None and sub not in subs:
                    wrong.append(f"{path.relative_to(ROOT)}: procrop {m.group(1)} {sub}")
    assert seen > 20 and not wrong, wrong


def test_a_signal_mid_epoch_saves_last_pt_and_the_rerun_matches_an_uninterrupted_run(
        sets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`learned train` saved last.pt once an epoch: Ctrl-C lost the epoch under way."""
    import os
    import signal

    from procrop.training.scorer import boxtrain
    from procrop.training.scorer.boxtrain import BoxTrainConfig, train_boxnet

    cfg = BoxTrainConfig(epochs=2, threads=1)  # 40 canvases, batches of 32: 2 steps an epoch, 4 in all
    calls = {"n": 0}
    real = boxtrain.box_loss

    def loss_then_signal(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] == 3:  # the first step of the second epoch
            os.kill(os.getpid(), signal.SIGTERM)
        return real(*args, **kwargs)

    monkeypatch.setattr(boxtrain, "box_loss", loss_then_signal)
    run = tmp_path / "run"
    before = signal.getsignal(signal.SIGTERM)
    r = _learned("train", "--train", str(sets), "--val", str(sets), "--out", str(run), "--epochs", "2", "--threads", "1")
    assert r.exit_code == 130, r.output
    assert signal.getsignal(signal.SIGTERM) is before  # the trainer put the handler back
    assert (f"interrupted at step 3 of 4: progress saved in {run / 'last.pt'}; rerun the same command to continue"
            in " ".join(r.output.split()))
    state = torch.load(run / "last.pt", weights_only=False)
    assert state["epoch"] == 0 and state["partial"]["step"] == 1
    monkeypatch.setattr(boxtrain, "box_loss", real)
    train_boxnet(str(sets), str(sets), run, None, cfg)
    train_boxnet(str(sets), str(sets), tmp_path / "whole", None, cfg)
    a = torch.load(run / "last.pt", weights_only=False)
    b = torch.load(tmp_path / "whole" / "last.pt", weights_only=False)
    assert a["epoch"] == b["epoch"] == 1 and a["partial"] is None
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])


def test_finetune_starts_from_the_checkpoint_and_exports_a_bundle(sets: Path, photo_paths: list[Path],
                                                                  tmp_path: Path) -> None:
    """`procrop learned finetune`: the user's photos -> box sets -> training initialised with the
    checkpoint's weights (at learning rate 0 they come out unchanged) -> a bundle that crops."""
    from procrop.cropper import Cropper
    from procrop.training.scorer.boxtrain import BoxTrainConfig, train_boxnet

    train_boxnet(str(sets), str(sets), tmp_path / "run", None, BoxTrainConfig(epochs=1, batch=4, threads=1))
    mine = tmp_path / "mine"
    mine.mkdir()
    for p in photo_paths[:3]:
        (mine / p.name).write_bytes(p.read_bytes())
    r = _learned("finetune", str(mine), "--from", str(tmp_path / "run" / "best.pt"), "--work", str(tmp_path / "w"),
                 "--out", str(tmp_path / "bundle"), "--epochs", "1", "--lr", "0", "--heldout-every", "3")
    assert r.exit_code == 0, r.output
    start = torch.load(tmp_path / "run" / "best.pt", weights_only=False)["model"]
    tuned = torch.load(tmp_path / "w" / "run" / "best.pt", weights_only=False)
    assert all(torch.equal(start[k], tuned["model"][k]) for k in start)
    assert tuned["meta"]["train_canvases"] == 2 * 12 and tuned["meta"]["val_canvases"] == 4
    card = json.loads((tmp_path / "bundle" / "model.json").read_text())
    assert card["name"] == "procrop-learned-finetuned"
    assert card["finetuned_from"]["checkpoint"] == str((tmp_path / "run" / "best.pt").resolve())
    assert (tmp_path / "bundle" / "references" / "manifest.json").exists()  # the network fuses references
    assert Cropper(learned_model=tmp_path / "bundle").crop(str(photo_paths[0]), "1:1", top_k=1)
    r = _learned("finetune", str(photo_paths[0]), "--from", str(tmp_path / "run" / "best.pt"),
                 "--work", str(tmp_path / "w2"), "--out", str(tmp_path / "b2"))
    assert r.exit_code == 2 and "at least 2 photos" in r.output
