"""Training keeps its progress: SIGINT/SIGTERM save last.pt and say where, last.pt is saved on a
clock as well as every N steps, best.pt is the best-scoring evaluation with its step and score, and
an error inside the run is one line, not a traceback."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("scipy")

from procrop.model.paper.config import Config  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_model import make_synthetic_set, train_config  # noqa: E402


def _signal_at(step: int, signum: int):  # noqa: ANN202 - a progress callback
    def progress(done: int, total: int, logs: dict[str, float]) -> None:
        if done == step:
            os.kill(os.getpid(), signum)
    return progress


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_last_pt_and_the_resume_matches_an_uninterrupted_run(tmp_path: Path, signum: int) -> None:
    from procrop.training.paper.trainer import Trainer, TrainingInterrupted

    make_synthetic_set(tmp_path / "data")
    # 2 images a batch: 2 steps an epoch; the signal comes mid-epoch, before any step-based save
    cfg = train_config(tmp_path / "data", tmp_path / "run", 5, batch_size=2, checkpoint_every=500)
    before = signal.getsignal(signum)
    with pytest.raises(TrainingInterrupted, match=r"interrupted at step 3 of 5: progress saved in .*last\.pt; "
                                                  r"continue with --resume .*last\.pt"):
        Trainer(cfg, quiet=True).run(_signal_at(3, signum))
    assert signal.getsignal(signum) is before  # the handler is put back
    last = tmp_path / "run" / "last.pt"
    state = torch.load(last, map_location="cpu", weights_only=False)
    assert (state["step"], state["epoch"], state["position"]) == (3, 1, 1)
    resumed = Trainer(cfg, resume=last, quiet=True).run()
    assert resumed.steps == 5
    whole = Trainer(cfg.replace(train={"out_dir": str(tmp_path / "whole")}), quiet=True).run()
    a, b = _weights(resumed.last_checkpoint), _weights(whole.last_checkpoint)
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0, msg=name)


def test_last_pt_is_saved_on_a_clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from procrop.training.shared import keeping
    from procrop.training.paper.trainer import Trainer

    make_synthetic_set(tmp_path / "data")
    now = [0.0]
    monkeypatch.setattr(keeping.time, "monotonic", lambda: now[0])
    saved: list[tuple[str, int]] = []

    def run(minutes: float) -> None:
        saved.clear()
        cfg = train_config(tmp_path / "data", tmp_path / f"run{minutes}", 4, batch_size=2, checkpoint_every=500,
                           checkpoint_minutes=minutes)
        trainer = Trainer(cfg, quiet=True)
        save = trainer.save

        def spy(name: str = "last.pt") -> Path:
            saved.append((name, trainer.step))
            return save(name)

        trainer.save = spy  # type: ignore[method-assign]

        def tick(done: int, total: int, logs: dict[str, float]) -> None:
            now[0] += 7 * 60.0 if done in (1, 2) else 2 * 60.0  # minutes 7, 14, 16, 18

        trainer.run(tick)

    run(10.0)  # due at minute 14 (step 2); minute 18 is 4 after that save: the end's save only
    assert saved == [("last.pt", 2), ("last.pt", 4)]
    run(0.0)  # off: the end's save only (checkpoint_every is 500 steps)
    assert saved == [("last.pt", 4)]


def test_best_pt_is_the_best_evaluation_with_its_step_and_score(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from procrop.evaluation import evaluate as evaluation
    from procrop.training.paper.trainer import Trainer

    make_synthetic_set(tmp_path / "data")
    srcc = iter([0.2, 0.6, 0.4, 0.5])
    real = evaluation.evaluate

    def scripted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - a real evaluation, SRCC scripted
        report = real(*args, **kwargs)
        report.methods[0].metrics["SRCC"] = next(srcc)
        return report

    monkeypatch.setattr(evaluation, "evaluate", scripted)
    cfg = train_config(tmp_path / "data", tmp_path / "run", 4, eval_benchmark="gaicd-v2",
                       eval_data=str(tmp_path / "data"), eval_split="train", eval_every=1)
    Trainer(cfg, quiet=True).run()
    best = json.loads((tmp_path / "run" / "best.json").read_text())
    assert (best["step"], best["metric"], best["score"]) == (2, "SRCC", 0.6)
    assert best["epoch"] == 2  # one step an epoch: step 2 is in epoch 2, as metrics.csv numbers it
    state = torch.load(tmp_path / "run" / "best.pt", map_location="cpu", weights_only=False)
    assert state["step"] == 2
    # the best so far travels with last.pt: a resumed run keeps best.pt unless it does better
    srcc = iter([0.55, 0.7])
    Trainer(cfg.replace(train={"max_steps": 6}), resume=tmp_path / "run" / "last.pt", quiet=True).run()
    best = json.loads((tmp_path / "run" / "best.json").read_text())
    assert (best["step"], best["score"]) == (6, 0.7)
    assert [json.loads(x).get("eval/SRCC") for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
            if "eval/SRCC" in x] == [0.2, 0.6, 0.4, 0.5, 0.55, 0.7]


def _toml(cfg: Config) -> str:
    lines = []
    for section, values in cfg.to_dict().items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {json.dumps(list(v) if isinstance(v, tuple) else v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def _cli():  # noqa: ANN202 - a Typer app holding `train`
    import typer

    from procrop.cli.train import train_command

    app = typer.Typer()
    app.command("train")(train_command)
    app.command("other")(lambda: None)  # two commands: `train` stays a subcommand
    return app


def test_the_train_command_stops_on_sigterm_naming_last_pt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from procrop.training.paper.trainer import Trainer

    make_synthetic_set(tmp_path / "data")
    config = tmp_path / "run.toml"
    config.write_text(_toml(train_config(tmp_path / "data", tmp_path / "run", 6, batch_size=2, checkpoint_every=500)))
    run = Trainer.run
    monkeypatch.setattr(Trainer, "run", lambda self, progress=None: run(self, _signal_at(2, signal.SIGTERM)))
    r = CliRunner().invoke(_cli(), ["train", str(config)])
    last = tmp_path / "run" / "last.pt"
    assert r.exit_code == 130 and "Traceback" not in r.output
    assert f"interrupted at step 2 of 6: progress saved in {last}" in " ".join(r.output.split())
    # said after the progress bar's last line (a log file had the bar after it)
    assert "stopped:" in r.output and "training" not in r.output.split("stopped:")[1], r.output
    assert torch.load(last, map_location="cpu", weights_only=False)["step"] == 2


def test_an_error_inside_the_run_is_one_line(tmp_path: Path) -> None:
    """A DatabaseError raised in trainer.run (the conditioning) escaped the error handler as a traceback."""
    from typer.testing import CliRunner

    make_synthetic_set(tmp_path / "data")
    cfg = train_config(tmp_path / "data", tmp_path / "run", 2, reference_db=str(tmp_path / "no_db"))
    config = tmp_path / "run.toml"
    config.write_text(_toml(cfg.replace(model={"retrieval": "xattn"})))
    r = CliRunner().invoke(_cli(), ["train", str(config), "--quiet"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "no_db" in r.output and len(r.output.strip().splitlines()) == 1


def test_the_guard_puts_the_handlers_back_however_the_run_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a guarded run Ctrl-C stops the process again: the handlers from before come back after a
    caught signal, an error, a nested entry of the same guard, and when the one before was installed
    outside Python (``signal.signal`` reports it as None, which cannot be installed again)."""
    from procrop.training.shared.keeping import InterruptGuard

    # Python's own Ctrl-C handler first (a pytest-xdist worker ignores SIGINT), back as it was after
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _guard_checks(monkeypatch, InterruptGuard)
    finally:
        signal.signal(signal.SIGINT, previous)


def _guard_checks(monkeypatch: pytest.MonkeyPatch, InterruptGuard) -> None:  # noqa: ANN001, N803
    before = {s: signal.getsignal(s) for s in InterruptGuard.SIGNALS}

    def restored() -> bool:
        return all(signal.getsignal(s) is h for s, h in before.items())

    guard = InterruptGuard(quiet=True)
    with guard:
        os.kill(os.getpid(), signal.SIGINT)  # caught: asks the run to stop
        assert guard.requested and signal.getsignal(signal.SIGINT) == guard._handle
    assert restored()
    with pytest.raises(KeyboardInterrupt):  # and a later Ctrl-C stops again
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(10_000):
            pass
    with pytest.raises(RuntimeError, match="boom"), InterruptGuard(quiet=True):
        raise RuntimeError("boom")
    assert restored()
    with guard:
        assert not guard.requested  # a new run starts with no stop asked
        with guard:
            pass
        assert signal.getsignal(signal.SIGINT) == guard._handle
    assert restored()

    real = signal.signal
    seen: set[int] = set()

    def from_outside_python(signum, handler):  # noqa: ANN001, ANN202 - the first install of each sees None
        previous = real(signum, handler)
        if signum in seen:
            return previous
        seen.add(signum)
        return None

    monkeypatch.setattr(signal, "signal", from_outside_python)
    with InterruptGuard(quiet=True):
        pass
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    for s, h in before.items():
        signal.signal(s, h)


def test_a_run_that_fails_puts_the_handlers_back(tmp_path: Path) -> None:
    from procrop.training.paper.trainer import Trainer

    make_synthetic_set(tmp_path / "data")
    cfg = train_config(tmp_path / "data", tmp_path / "run", 3, batch_size=2, checkpoint_every=500)
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def fail(done: int, total: int, logs: dict[str, float]) -> None:
        raise RuntimeError("a failing step")

    with pytest.raises(RuntimeError, match="a failing step"):
        Trainer(cfg, quiet=True).run(fail)
    assert all(signal.getsignal(s) is h for s, h in before.items())


def test_a_signal_while_the_conditioning_is_cached_stops_after_the_image(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Ctrl-C before the first step (the conditioning of every training image is cached first,
    minutes on a full pool) stops after the image under way, keeps what is cached, and says so (a
    researcher's trial: it carried on for 20 s, then ran a step)."""
    import numpy as np

    from procrop.training.paper import conditioning
    from procrop.training.shared.keeping import PreparationInterrupted

    make_synthetic_set(tmp_path / "data")
    images = sorted((tmp_path / "data" / "images" / "train").glob("*.png"))
    samples = [type("Sample", (), {"image": p, "extra": {}})() for p in images]
    done: list[Path] = []

    class Computer:  # stands for the analysis and retrieval of one image
        def __init__(self, conditioner: object) -> None:
            pass

        def __call__(self, image: Path, exclude: set[str]) -> tuple[np.ndarray, ...]:
            done.append(image)
            return np.zeros((1, 2)), np.zeros(1), np.zeros(3, np.int64)

    monkeypatch.setattr(conditioning, "_Computer", Computer)
    cfg = Config().replace(model={"retrieval": "none", "text": "learned"}, train={"reference_db": "none"})
    with pytest.raises(PreparationInterrupted, match=r"\(2 of 4 cached\): run the same command again"):
        conditioning.compute_conditioning(cfg, samples, tmp_path / "cache", stop=lambda: len(done) == 2)
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2
    assert len(conditioning.compute_conditioning(cfg, samples, tmp_path / "cache")) == 4 and len(done) == 4


def test_a_resume_on_other_images_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The checkpoint's data fingerprint is checked on --resume: other images (another set, or
    images added) are said on stderr, beside the progress bar (a trial saw nothing)."""
    from procrop.training.paper.trainer import Trainer

    make_synthetic_set(tmp_path / "a")
    make_synthetic_set(tmp_path / "b", n=3)
    cfg = train_config(tmp_path / "a", tmp_path / "run", 2, batch_size=2)
    last = Trainer(cfg, quiet=True).run().last_checkpoint
    capsys.readouterr()
    Trainer(cfg.replace(train={"max_steps": 3}), resume=last).run()
    said = capsys.readouterr().err
    assert f"resuming {last} at step 2 of 3" in said and "differ" not in said  # the same images: no warning
    Trainer(cfg.replace(train={"data": str(tmp_path / "b"), "max_steps": 4}), resume=last).run()
    assert f"warning: the training images differ from those {last} was trained on" in capsys.readouterr().err


def test_the_final_step_is_logged(tmp_path: Path) -> None:
    """metrics.csv holds the final step's loss, the summary's "final loss", whatever log_every is (a
    trial's 2-step run logged only step 1)."""
    from procrop.training.paper.trainer import Trainer

    make_synthetic_set(tmp_path / "data")
    result = Trainer(train_config(tmp_path / "data", tmp_path / "run", 3, batch_size=2), quiet=True).run()
    steps = [row["step"] for row in result.history if "loss" in row]
    assert steps == [1, 3]
    assert (tmp_path / "run" / "metrics.csv").read_text().splitlines()[-1].startswith("3,")
