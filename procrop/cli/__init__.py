"""The command-line interface: one module per command group, no business logic."""

from .app import run

__all__ = ["run"]
