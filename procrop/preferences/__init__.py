"""Crop preferences judged by editors: sheets of candidate crops, the judges' rankings, the pairs
a scorer learns from (``docs/judging.md``).

* :mod:`.pool` — the candidate crops of one (photo, ratio) and the four a sheet shows;
* :mod:`.sheet` — the sheet image a judge looks at;
* :mod:`.make` — sheets and keys for a split of photos, resumably;
* :mod:`.records` — keys, answers, merged records, pairs and majorities;
* :mod:`.batches` — batches of sheets handed to judges, and the brief each judge is given.
"""

from .records import BRIEF_VERSION, load_keys, majority_pairs, merge_answers, read_jsonl, record_pairs

__all__ = ["BRIEF_VERSION", "load_keys", "majority_pairs", "merge_answers", "read_jsonl", "record_pairs"]
