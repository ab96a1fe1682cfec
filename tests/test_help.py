"""Every entry point's --help reads as plain words and documents every option: each procrop command,
each ``python benchmarks/*.py`` script and each ``python -m`` module (``procrop.server``, the trainers)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

MARKUP = re.compile(r":(?:[A-Za-z]+:)?[A-Za-z]+:`|``")
#: typer's raw type labels (``<list[str]>``, ``<bool>``, ``<int range>``, ``<train|heldout>``) where a
#: readable metavar (PATH, N, RATIO) belongs; ``<name>_preview.png`` in a help text is no type
RAW_TYPE = re.compile(r"<(?:list\[[^>]*\]|bool|str|text|int|float|path|Path|file|dir|directory|"
                      r"(?:int|float) range|[\w.-]+(?:\|[\w.-]+)+|[\w.,]*(?:int|float|str)[\w.,]*)>")

#: Entry points whose file belongs to work in progress elsewhere (their owners were told):
#: strict, so that the fix there turns this into a failure that asks to drop the entry.
PENDING: dict[str, str] = {
}


def _scripts() -> list[str]:
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "benchmarks").glob("*.py")
                  if "__main__" in p.read_text(encoding="utf-8"))


def _modules() -> list[str]:
    """The ``python -m`` entry points with an argparse parser (the procrop command is checked apart)."""
    out = []
    for p in sorted((ROOT / "procrop").rglob("*.py")):
        if p.parent.name != "cli" and re.search(r"^if __name__ == .__main__.:", p.read_text(encoding="utf-8"), re.M):
            parts = p.relative_to(ROOT).with_suffix("").parts
            out.append(".".join(parts[:-1] if parts[-1] == "__main__" else parts))
    return out


def test_the_entry_points_are_found():
    assert "benchmarks/preferences_recheck.py" in _scripts() and len(_scripts()) >= 15
    assert {"procrop.training.scorer.saliency", "procrop.server"} <= set(_modules())


def test_every_procrop_command_documents_every_option_in_plain_words(monkeypatch: pytest.MonkeyPatch):
    import click
    import typer.main
    from typer.testing import CliRunner

    from procrop.cli.app import app

    monkeypatch.setenv("COLUMNS", "200")

    def walk(cmd: click.Command, path: list[str]):
        yield path, cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            yield from walk(sub, path + [name])

    problems, commands = [], 0
    for path, cmd in walk(typer.main.get_command(app), []):
        commands += 1
        name = " ".join(["procrop", *path])
        if not (cmd.help or "").split("\f")[0].strip():
            problems.append(f"{name}: no help")
        for p in cmd.params:
            if p.name != "help" and not (getattr(p, "help", None) or "").strip():
                problems.append(f"{name} {'/'.join(p.opts)}: no help")
        shown = CliRunner().invoke(app, [*path, "--help"]).stdout
        if MARKUP.search(shown):
            problems.append(f"{name} --help shows {MARKUP.search(shown).group(0)!r}")
        if RAW_TYPE.search(shown):
            problems.append(f"{name} --help shows the raw type {RAW_TYPE.search(shown).group(0)!r}")
    assert commands >= 25 and not problems, "\n".join(problems)


def _entry_points() -> list:
    return [pytest.param(t, marks=pytest.mark.xfail(reason=PENDING[t], strict=True)) if t in PENDING else t
            for t in _scripts() + _modules()]


@pytest.mark.parametrize("target", _entry_points())
def test_script_help_documents_every_option_in_plain_words(target: str):
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "_help_audit.py"), target], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    problems = json.loads(r.stdout.strip().splitlines()[-1])
    assert not problems, "\n".join(problems)


def test_every_option_shows_a_readable_metavar(monkeypatch: pytest.MonkeyPatch):
    """Values read as what they are (RATIO, PATH, N), flags show none, and the type labels typer
    would show in their place (``<list[str]>``, ``<bool>``) appear nowhere."""
    from typer.testing import CliRunner

    from procrop.cli.app import app

    monkeypatch.setenv("COLUMNS", "200")
    crop = " ".join(CliRunner().invoke(app, ["crop", "--help"]).stdout.split())
    for shown in ("--ratio -r RATIO", "--top-k -k N [from 1 to 50]", "--out -o PATH", "--json PATH",
                  "--preference-model PATH", "--workers -j N [at least 1]", "--min-area NUMBER", "INPUTS Image files"):
        assert shown in crop, shown
    assert "--preview With --out" in crop and "--help -h Show this" in crop  # flags: no metavar
    sheets = " ".join(CliRunner().invoke(app, ["prefs", "sheets", "--help"]).stdout.split())
    assert "--part train|heldout" in sheets and "<train|heldout>" not in sheets
    assert RAW_TYPE.search("<list[str]> <bool> <int range> <str> <path> <train|heldout>")
    assert not RAW_TYPE.search("write <name>_preview.png")

