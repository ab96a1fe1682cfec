"""The default style strength with a user's database is said alike everywhere it is said."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from procrop.cli.app import app
from procrop.scoring.terms.style import DEFAULT_STRENGTH

ROOT = Path(__file__).resolve().parents[1]
SAID = f"{DEFAULT_STRENGTH:g}"


def test_every_place_says_the_default_style_strength() -> None:
    runner = CliRunner()
    for command in ("crop", "serve"):
        text = " ".join(runner.invoke(app, [command, "--help"]).output.replace("\u2502", " ").split())
        assert f"Default {SAID} with --db" in text, command
    page = (ROOT / "procrop" / "server" / "static" / "index.html").read_text("utf-8")
    assert re.search(rf'id="strength"[^>]*value="{SAID}"', page) and f'for="strength">{SAID}<' in page
    for module in ("app.py", "__main__.py", "settings.py"):
        text = " ".join((ROOT / "procrop" / "server" / module).read_text("utf-8").split())
        assert f"default {SAID})" in text or f"the default, {SAID})" in text, module
    readme = " ".join((ROOT / "README.md").read_text("utf-8").split())
    assert f"default {SAID} with `--db`" in readme and f"0-10, default {SAID};" in readme
