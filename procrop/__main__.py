"""``python -m procrop``: the ``procrop`` command (:mod:`procrop.cli`)."""

from .cli import run

run()
