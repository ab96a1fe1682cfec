"""Every benchmark script that writes files takes where to write them; recovery.py renders elsewhere
than benchmarks/RESULTS.md when asked (it overwrote it, with no output option)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

WRITES = re.compile(r"\.write_text\(|\.write_bytes\(|imwrite\(|\.savefig\(|open\([^)]*[\"']w")
OUTPUT_OPTION = re.compile(r"add_argument\(\s*[\"']--(out|md|json)[\"']")


def test_every_benchmark_that_writes_files_takes_an_output_path() -> None:
    scripts = sorted((ROOT / "benchmarks").glob("*.py"))
    writers = [p for p in scripts if "__main__" in p.read_text("utf-8") and WRITES.search(p.read_text("utf-8"))]
    assert len(writers) >= 6
    missing = [p.name for p in writers if not OUTPUT_OPTION.search(p.read_text("utf-8"))]
    assert not missing, missing


def test_recovery_renders_where_it_is_told(tmp_path: Path) -> None:
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.read_bytes()
    out = tmp_path / "results"
    out.mkdir()
    shutil.copy(ROOT / "benchmarks" / "results" / "recovery.json", out / "recovery.json")
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "recovery.py"), "--render-only", "--out", str(out),
                        "--md", str(tmp_path / "R.md")], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    assert results.read_bytes() == before  # untouched
    text = (tmp_path / "R.md").read_text("utf-8")
    assert text.startswith("# Benchmark results") and "## Frame recovery on held-out photos" in text


def test_recovery_keeps_the_blind_checks_sections(tmp_path: Path) -> None:
    """A full run rewrote RESULTS.md without the five blind checks' tallies other scripts had added."""
    out = tmp_path / "results"
    out.mkdir()
    shutil.copy(ROOT / "benchmarks" / "results" / "recovery.json", out / "recovery.json")
    md = tmp_path / "R.md"
    md.write_text("# old\n\n<!-- blind_peers a1 -->\n## A\nrow a\n<!-- /blind_peers a1 -->\n\n"
                  "hand-written\n\n<!-- blind_peers b2 -->\n## B\nrow b\n<!-- /blind_peers b2 -->\n", "utf-8")
    for _ in range(2):  # and once more: each kept once
        args = ["--render-only", "--out", str(out), "--md", str(md)]
        r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "recovery.py"), *args],
                           capture_output=True, text=True, cwd=ROOT, timeout=600)
        assert r.returncode == 0, r.stderr
        text = md.read_text("utf-8")
        assert text.startswith("# Benchmark results") and "hand-written" not in text
        assert text.count("<!-- blind_peers a1 -->\n## A\nrow a\n<!-- /blind_peers a1 -->") == 1
        assert text.count("<!-- blind_peers b2 -->\n## B\nrow b\n<!-- /blind_peers b2 -->") == 1
