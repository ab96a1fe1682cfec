"""--help says allowed ranges in words and is not squeezed to 80 columns where no terminal gives a width
(a new user's trial read ``[0.01<=x<=1.0]`` and help columns a few words wide in a pipe)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import click
import pytest
import typer.main
from typer.testing import CliRunner

from conftest import ROOT
from procrop.cli.app import app
from procrop.cli.common import MIN_HELP_WIDTH, help_width, range_in_words

NOTATION = re.compile(r"<=|>=|\[[-\d.]+ ?, ?[-\d.]+[])]|\([-\d.]+ ?, ?[-\d.]+\]|\d\.\.\d")


def test_range_in_words() -> None:
    assert range_in_words(1, 50) == "from 1 to 50"
    assert range_in_words(0.01, 1.0) == "from 0.01 to 1"
    assert range_in_words(1, None) == "at least 1"
    assert range_in_words(None, 5) == "at most 5"
    assert range_in_words(None, None) is None


def test_no_command_help_uses_range_notation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")

    def walk(cmd: click.Command, path: list[str]):
        yield path
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, path + [name])

    found = []
    for path in walk(typer.main.get_command(app), []):
        shown = CliRunner().invoke(app, [*path, "--help"]).stdout
        found += [f"procrop {' '.join(path)}: {m.group(0)!r}" for m in NOTATION.finditer(shown)]
    assert not found, "\n".join(found)
    crop = " ".join(CliRunner().invoke(app, ["crop", "--help"]).stdout.split())
    assert "--min-area NUMBER [from 0.01 to 1]" in crop and "--analysis-size N [from 64 to 2048]" in crop


def test_help_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TERMINAL_WIDTH", raising=False)
    monkeypatch.setenv("COLUMNS", "90")
    assert help_width() is None  # a width asked for: rich follows it
    monkeypatch.delenv("COLUMNS")
    if not (sys.stdout.isatty() or sys.stderr.isatty() or sys.stdin.isatty()):
        assert help_width() == MIN_HELP_WIDTH


def test_piped_help_is_at_least_100_columns() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "TERMINAL_WIDTH", "LINES")}
    r = subprocess.run([sys.executable, "-m", "procrop.cli", "crop", "--help"], cwd=ROOT, env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert max(len(line) for line in r.stdout.splitlines()) == MIN_HELP_WIDTH


def test_help_on_a_narrow_terminal_is_plain_and_cuts_nothing() -> None:
    env = {**os.environ, "COLUMNS": "80"}
    r = subprocess.run([sys.executable, "-m", "procrop.cli", "crop", "--help"], cwd=ROOT, env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "│" not in r.stdout and "…" not in r.stdout  # click's layout: nothing truncated
    assert "--preference-model PATH" in r.stdout and "procrop[distributed]" in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 80
