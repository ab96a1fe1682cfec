"""Select the AVA subset that serves as ProCrop's professional reference set, from AVA's ``AVA.txt``.

``python tools/select_ava_subset.py AVA.txt --out ids.txt [--images DIR] [--min-mean 5.5]
[--min-votes 0] [--top N] [--summary summary.json]``

``AVA.txt`` (Murray et al., CVPR 2012) has one whitespace-separated line per image: row index,
image id, then the counts of the 10 score votes (scores 1..10), two semantic tag ids and the
challenge id (15 columns). Output: one image id per line (with ``--images``, the path of the image
file instead, ids without a file on disk being counted and left out), best mean score first.

What is known about the official subset (``../shared/docs/procrop_paper_facts.md`` section 2.3,
beside the repository): the README says "AVA (55K selected)", and the AVA parquet stores the vote
columns; the selection criterion itself is UNCONFIRMED. The only rule visible in the official code
is a commented-out filter on a vote-weighted score: normalised vote shares times the weights 0..9,
kept at >= 4.5. With weights 0..9 that score is the usual 1..10 mean minus 1, so the filter is
``mean >= 5.5`` -- the default here. ``--top 55000`` additionally keeps the 55K best, the README's
size; neither is confirmed as the paper's rule, so record the options you used beside the database
you build.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: AVA's column count: index, id, 10 vote counts, 2 semantic tags, challenge id.
AVA_COLUMNS = 15


@dataclass(frozen=True)
class AvaImage:
    """One line of ``AVA.txt``."""

    image_id: str
    votes: tuple[int, ...]  # counts for scores 1..10
    tags: tuple[int, int]
    challenge: int

    @property
    def n_votes(self) -> int:
        """Number of votes."""
        return sum(self.votes)

    @property
    def mean(self) -> float:
        """Mean score on AVA's 1..10 scale (0 when nobody voted)."""
        n = self.n_votes
        return sum((i + 1) * v for i, v in enumerate(self.votes)) / n if n else 0.0

    @property
    def official_weighted(self) -> float:
        """The official code's vote-weighted score: vote shares times the weights 0..9."""
        n = self.n_votes
        return sum(i * v for i, v in enumerate(self.votes)) / n if n else 0.0


def read_ava(path: str | Path) -> list[AvaImage]:
    """Parse ``AVA.txt``; a malformed line raises ``ValueError`` naming the file and line."""
    out = []
    for lineno, line in enumerate(Path(path).read_text("utf-8").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != AVA_COLUMNS:
            raise ValueError(f"{path}:{lineno}: expected {AVA_COLUMNS} columns (AVA.txt), got {len(parts)}")
        try:
            nums = [int(p) for p in parts[2:]]
        except ValueError:
            raise ValueError(f"{path}:{lineno}: vote counts, tags and challenge must be integers") from None
        if any(v < 0 for v in nums[:10]):
            raise ValueError(f"{path}:{lineno}: negative vote count")
        out.append(AvaImage(parts[1], tuple(nums[:10]), (nums[10], nums[11]), nums[12]))
    return out


def select(images: Sequence[AvaImage], min_mean: float = 5.5, min_votes: int = 0, top: int | None = None) -> list[AvaImage]:
    """Images with ``mean >= min_mean`` and at least ``min_votes`` votes, best mean first (ties by
    id), the first ``top`` when given."""
    kept = [im for im in images if im.n_votes > 0 and im.n_votes >= min_votes and im.mean >= min_mean]
    kept.sort(key=lambda im: (-im.mean, im.image_id))
    return kept[:top] if top is not None else kept


def _find_image(folder: Path, image_id: str) -> Path | None:
    for ext in (".jpg", ".jpeg", ".png", ".JPG"):
        p = folder / f"{image_id}{ext}"
        if p.exists():
            return p
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ava_txt", type=Path)
    ap.add_argument("--out", type=Path, required=True, help="the list of selected ids (or paths)")
    ap.add_argument("--images", type=Path, default=None, help="AVA image folder: write paths, skip ids without a file")
    ap.add_argument("--min-mean", type=float, default=5.5, help="minimum mean score, AVA's 1..10 scale (default 5.5)")
    ap.add_argument("--min-votes", type=int, default=0)
    ap.add_argument("--top", type=int, default=None, help="keep the N best (e.g. 55000)")
    ap.add_argument("--summary", type=Path, default=None, help="a JSON summary of the selection")
    args = ap.parse_args(argv)
    try:
        images = read_ava(args.ava_txt)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    chosen = select(images, args.min_mean, args.min_votes, args.top)
    lines, absent = [], 0
    for im in chosen:
        if args.images is None:
            lines.append(im.image_id)
            continue
        p = _find_image(args.images, im.image_id)
        absent += p is None
        if p is not None:
            lines.append(str(p))
    args.out.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    summary = {"ava_images": len(images), "selected": len(chosen), "written": len(lines), "missing_files": absent,
               "min_mean": args.min_mean, "min_votes": args.min_votes, "top": args.top,
               "lowest_mean_kept": round(chosen[-1].mean, 4) if chosen else None}
    if args.summary:
        args.summary.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
