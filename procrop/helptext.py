"""Docstrings as command-line help: Sphinx roles and inline literals put into plain words.

A module docstring written for the API reference (``:mod:`procrop.x```, ````--out````) reads as raw
markup in ``--help``; the scripts in ``benchmarks/`` and the ``python -m`` entry points pass their
docstrings through :func:`plain` first.
"""

from __future__ import annotations

import re

# :role:`target`, :domain:role:`~a.b.c`, :role:`title <target>`
_ROLE = re.compile(r":(?:[A-Za-z]+:)?[A-Za-z]+:`(~?)([^`]*?)`")
_LITERAL = re.compile(r"``(.+?)``", re.S)


def _role(match: re.Match[str]) -> str:
    short, body = match.group(1), match.group(2).strip()
    titled = re.fullmatch(r"(.*?)\s*<[^>]*>", body, re.S)
    if titled:
        return titled.group(1)
    body = body.lstrip(".")
    return body.rsplit(".", 1)[-1] if short else body


def plain(text: str | None) -> str:
    """``text`` with Sphinx roles reduced to their target (``~`` keeps the last name) and double
    backticks dropped; ``None`` gives ``""``."""
    if not text:
        return ""
    return _LITERAL.sub(r"\1", _ROLE.sub(_role, text))
