"""Work in other processes never hangs: every ProcropError crosses a process boundary whole, a failed
worker ends the run with the file's name, and the pools' watchdog stops a stuck run."""

from __future__ import annotations

import importlib
import inspect
import io
import os
import pickle
import pkgutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import multiprocessing as mp
from PIL import Image
import pytest

import procrop
from procrop.errors import ProcropError, UsageError
from procrop.executor import ProcessExecutor, WorkerStallError, make_executor
from procrop.threads import inference_threads, max_threads


def _all_error_classes() -> list[type[ProcropError]]:
    """Every ProcropError subclass in the package (every module imported first)."""
    for mod in pkgutil.walk_packages(procrop.__path__, "procrop."):
        if mod.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(mod.name)
        except ImportError:  # an optional extra that is not installed
            continue
    seen: list[type[ProcropError]] = []
    todo = [ProcropError]
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.append(cls)
            todo.extend(cls.__subclasses__())
    return sorted(seen, key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _argument(annotation: str) -> object:
    """A value of the annotated type for a constructor parameter."""
    text = str(annotation)
    if "Sequence" in text or "list" in text:
        return [3, 1]
    if "float" in text:
        return 2.5
    if "int" in text and "str" not in text:
        return 7
    return "photos/cut.jpg"


def make_error(path: str) -> ProcropError:
    """An instance of the class at ``module:qualname``, its constructor fed by its annotations."""
    module, name = path.split(":")
    cls = getattr(importlib.import_module(module), name)
    params = [p for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
              if p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if cls.__init__ is ProcropError.__init__ or not params:
        return cls("photos/cut.jpg: a problem")
    return cls(*[_argument(p.annotation) for p in params])


def raise_error(path: str) -> None:
    """A task that raises the error named ``module:qualname`` (run in a worker)."""
    raise make_error(path)


ERRORS = [f"{c.__module__}:{c.__qualname__}" for c in _all_error_classes()]


def test_the_error_classes_are_found() -> None:
    names = {e.split(":")[1] for e in ERRORS}
    assert {"ProcropError", "ImageLoadError", "UsageError", "MissingExtraError", "ModelLoadError",
            "DatabaseError", "DatasetError", "WorkerStallError"} <= names


@pytest.mark.parametrize("path", ERRORS)
def test_every_error_pickles_whole(path: str) -> None:
    exc = make_error(path)
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc) and str(back) == str(exc) and back.args == exc.args
    assert back.__dict__ == exc.__dict__


def test_every_error_raised_in_a_process_pool_worker_arrives_whole() -> None:
    """concurrent.futures sends the exception itself back: it must unpickle, or the pool breaks."""
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:
        futures = {path: pool.submit(raise_error, path) for path in ERRORS}
        for path, fut in futures.items():
            expected = make_error(path)
            with pytest.raises(type(expected)) as info:
                fut.result(timeout=300)
            assert str(info.value) == str(expected)


def test_every_error_raised_in_procrop_executors_is_reported_per_item() -> None:
    expected = [str(make_error(p)) for p in ERRORS]
    with make_executor(workers=2, stall_timeout=300) as ex:
        got = {o.index: o.error for o in ex.run(raise_error, ERRORS)}
    assert [got[i] for i in range(len(ERRORS))] == expected


def test_every_error_raised_in_a_ray_worker_is_reported_per_item() -> None:
    ray = pytest.importorskip("ray")
    import sys

    from procrop.executor import RayExecutor

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import tests/

    expected = [str(make_error(p)) for p in ERRORS]
    with RayExecutor(workers=1, stall_timeout=300) as ex:
        got = {o.index: o.error for o in ex.run(raise_error, ERRORS)}
    assert [got[i] for i in range(len(ERRORS))] == expected


def sleep_forever(item: int) -> int:
    """A task that never finishes (a stuck worker)."""
    time.sleep(3600)
    return item


def test_the_watchdog_ends_a_stuck_pool() -> None:
    ex = ProcessExecutor(2, stall_timeout=2)
    with pytest.raises(WorkerStallError, match=r"no worker finished an item in 2 s \(item\(s\) #0, #1, #2 in flight\)") as info:
        list(ex.run(sleep_forever, [0, 1, 2]))
    assert info.value.indices == [0, 1, 2] and ex._pool is None  # the workers were stopped


def nap(item: int) -> int:
    time.sleep(0.5)
    return item


def test_ctrl_c_lets_the_tasks_under_way_finish_and_stops_the_pool() -> None:
    """Ctrl-C while a pool works (the third trial's `crop -j 2` sometimes never exited): the
    queued items are cancelled, the ones under way finish, the workers go, promptly."""
    ex = ProcessExecutor(2)
    got = []
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with ex:
            for outcome in ex.run(nap, list(range(40))):
                got.append(outcome.value)
                if len(got) == 3:
                    raise KeyboardInterrupt
    assert ex._pool is None and len(got) == 3 and time.monotonic() - start < 20


def test_a_failed_box_set_worker_ends_the_run_with_the_file_name(photo_paths: list[Path], tmp_path: Path) -> None:
    """`learned boxsets` with two workers and a truncated photo: one line naming it, exit non-zero
    (it hung: the worker's ImageLoadError could not be unpickled, so the pool never returned)."""
    pytest.importorskip("torch")
    from PIL import Image
    from typer.testing import CliRunner

    from procrop.cli.learned import learned_app

    good = io.BytesIO()
    Image.open(photo_paths[0]).convert("RGB").resize((320, 240)).save(good, format="JPEG")
    cut = tmp_path / "truncated.jpg"
    cut.write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    ok = tmp_path / "ok.jpg"
    ok.write_bytes(good.getvalue())
    r = CliRunner().invoke(learned_app, ["boxsets", str(cut), str(ok), "-o", str(tmp_path / "sets"),
                                         "-n", "1", "-j", "2"])
    assert r.exit_code != 0
    assert "truncated.jpg" in r.output and "Traceback" not in r.output
    assert not list((tmp_path / "sets").glob("shard-*.npz"))


def test_learned_build_refuses_a_split_with_missing_or_no_photos(photo_paths: list[Path], tmp_path: Path) -> None:
    """A split listing a missing photo sat idle for 10 minutes; an empty held-out list ended in a traceback."""
    pytest.importorskip("torch")
    import json

    from typer.testing import CliRunner

    from procrop.cli.learned import learned_app

    photos = photo_paths[0].parents[1]
    present = photo_paths[0].relative_to(photos).as_posix()
    cases = {"missing": {"train": [present, "gone/nowhere.jpg"], "heldout": [present]},
             "empty": {"train": [present], "heldout": []}}
    for name, content in cases.items():
        split = tmp_path / f"{name}.json"
        split.write_text(json.dumps(content), encoding="utf-8")
        r = CliRunner().invoke(learned_app, ["build", "--photos", str(photos), "--split", str(split),
                                             "--work", str(tmp_path / "work"), "--out", str(tmp_path / "bundle")])
        assert r.exit_code == 2 and "Traceback" not in r.output
        assert len(r.output.strip().splitlines()) == 1
        assert ("gone/nowhere.jpg" if name == "missing" else "'heldout' list is empty") in r.output
    assert not (tmp_path / "work").exists()


def test_inference_threads_follow_procrop_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROCROP_THREADS", raising=False)
    assert 1 <= inference_threads() <= 2
    monkeypatch.setenv("PROCROP_THREADS", "3")
    assert inference_threads() == 3
    for bad in ("0", "two", "999", str(max_threads() + 1)):
        monkeypatch.setenv("PROCROP_THREADS", bad)
        with pytest.raises(UsageError, match="PROCROP_THREADS"):
            inference_threads()
    monkeypatch.setenv("PROCROP_THREADS", str(max_threads()))  # the bound itself is allowed
    assert inference_threads() == max_threads() == 4 * (os.cpu_count() or 1)


def test_procrop_threads_above_the_bound_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """PROCROP_THREADS=999 (a typo) stops ``procrop crop`` with one line naming the bound, nothing written."""
    from typer.testing import CliRunner

    from procrop.cli.app import app

    monkeypatch.setenv("PROCROP_THREADS", "999")
    photo = tmp_path / "p.png"
    Image.new("RGB", (96, 64), (120, 90, 60)).save(photo)
    r = CliRunner().invoke(app, ["crop", str(photo), "--out", str(tmp_path / "out")])
    assert r.exit_code != 0 and "Traceback" not in r.output, r.output
    lines = [line for line in r.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "PROCROP_THREADS='999'" in lines[0] and f"at most {max_threads()}" in lines[0], lines
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_same_stop_twice_is_one_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    """`timeout` and process managers signal the command and its process group: the second SIGTERM
    of one stop must not kill a process that is unwinding the first (a -j 2 batch died with 143
    half the time, its workers left running)."""
    import procrop.signals as signals

    monkeypatch.setattr(signals, "_first_stop", None)
    with pytest.raises(KeyboardInterrupt):
        signals.unwind_on_sigterm(15, None)
    signals.unwind_on_sigterm(15, None)  # the same stop again: ignored
    ended: list[int] = []
    monkeypatch.setattr(signals.os, "_exit", ended.append)
    monkeypatch.setattr(signals, "_first_stop", signals.time.monotonic() - signals.REPEAT_GRACE_S - 1)
    signals.unwind_on_sigterm(15, None)  # a later one: the process ends now
    assert ended == [143]


def test_end_descendants_ends_only_the_named_processes_this_one_started() -> None:
    """Ray stopped in its start left its agents running (nothing knew them yet); the processes this
    one started whose command line names it are ended, the caller's others are left alone."""
    import subprocess
    import sys
    import time

    from procrop.signals import end_descendants

    code = "import time; time.sleep(60)"
    named = subprocess.Popen([sys.executable, "-c", code, "procrop-test-ray-like"])
    other = subprocess.Popen([sys.executable, "-c", code, "something-else"])
    try:
        time.sleep(0.3)
        assert end_descendants("procrop-test-ray-like") == 1
        assert named.wait(timeout=10) != 0 and other.poll() is None
    finally:
        other.kill()
        named.kill()
