"""Description text -> token ids by a stable hash (no vocabulary file, no torch): the text input of
the networks (:mod:`procrop.model.paper.fusion`, :mod:`procrop.model.scorer.boxnet`)."""

from __future__ import annotations

import hashlib
import re

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[.,;]")


def tokenize(text: str, vocab: int, length: int) -> list[int]:
    """Words (lower-cased) -> ids by a stable hash into ``1..vocab-1`` (0 is padding), padded or
    cut to ``length``. No vocabulary file: any description (ours or a caption) maps the same way."""
    ids = []
    for w in _WORD.findall(text.lower())[:length]:
        h = int.from_bytes(hashlib.blake2s(w.encode("utf-8"), digest_size=4).digest(), "little")
        ids.append(1 + h % (vocab - 1))
    return ids + [0] * (length - len(ids))
