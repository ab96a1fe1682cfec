"""Online refinement writes only when it brings a new label, and writes beside the generated file."""

from __future__ import annotations

from pathlib import Path

from procrop.weaklabels.refine import update_annotation_file

W, H = 800, 600
# a generated file: the pseudo-label (a 4:3 frame, no score), a 4:3 box scored 8.0, and a 9.799 box
# that today's rules would not keep (the frame covers only 79 % of it)
GENERATED = "100.0 100.0 500.0 633.3\n"
REFINED = GENERATED + "82.5 76.6 517.5 656.6 8.0000\n75.0 66.7 525.0 666.7 9.7990\n"


def test_nothing_new_rewrites_nothing(tmp_path: Path) -> None:
    """With zero proposals every generator file changed (and a 9.799 box was lost)."""
    path = tmp_path / "a.txt"
    path.write_text(REFINED)
    stamp = path.stat().st_mtime_ns
    assert not update_annotation_file(path, [], W, H)
    assert not update_annotation_file(path, [([0, 0, 30, 30], 9.0)], W, H)  # rejected: far from the frame
    assert not update_annotation_file(path, [([80, 110, 600, 500], 9.9)], W, H)  # the same box again
    assert path.read_text() == REFINED and path.stat().st_mtime_ns == stamp


def test_a_new_label_goes_beside_the_generated_file(tmp_path: Path) -> None:
    source = tmp_path / "set" / "a.txt"
    source.parent.mkdir()
    source.write_text(GENERATED)
    target = tmp_path / "run" / "refined" / "a.txt"
    assert not update_annotation_file(target, [], W, H, source=source) and not target.exists()
    # procrop's summed rule keeps these two boxes (the official rule wants larger size differences:
    # test_refine_rule.py)
    assert update_annotation_file(target, [([76.65, 82.5, 656.65, 517.5], 9.7)], W, H, source=source, rule="sum")
    assert source.read_text() == GENERATED  # never written
    lines = target.read_text().splitlines()
    assert len(lines) == 2 and lines[0].startswith("100.0 100.0 500.0 633.3") and lines[1].endswith("9.7000")
    # the next refinement starts from the run's file, not the generated one
    assert update_annotation_file(target, [([100, 100, 580, 460], 8.0)], W, H, source=source, rule="sum")
    assert len(target.read_text().splitlines()) == 3
