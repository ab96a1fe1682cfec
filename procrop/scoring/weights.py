"""Scoring weights: the data file (``resources/scoring.toml``) that says how much each term counts
and the shape parameters of every term."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import UsageError, os_problem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10
    import tomli as tomllib

BASE_TERMS: tuple[str, ...] = (
    "content",
    "focus",
    "placement",
    "balance",
    "boundary",
    "headroom",
    "horizon",
    "scale",
)





@dataclass(frozen=True)
class ScoringWeights:
    """Term weights and shape parameters, loaded from a TOML file.

    Attributes:
        weights: term name -> non-negative weight.
        params: section -> parameter -> value.
        source: where they were loaded from.
    """

    weights: dict[str, float]
    params: dict[str, dict[str, float]]
    source: str = "<memory>"

    @classmethod
    def load(cls, path: str | Path | None = None) -> ScoringWeights:
        """Load a weights file; ``None`` loads the one shipped in the package."""
        if path is None:
            text = resources.files("procrop.resources").joinpath("scoring.toml").read_text("utf-8")
            source = "procrop/resources/scoring.toml"
        else:
            if Path(path).is_dir():
                raise UsageError(f"{path}: a folder, not a scoring weights file")
            try:
                text = Path(path).read_text("utf-8")
            except OSError as exc:
                raise UsageError(f"{path}: cannot read scoring weights: {os_problem(exc)}") from exc
            except UnicodeDecodeError:  # an image, an .npz: not the TOML text a weights file is
                raise UsageError(f"{path}: not a scoring weights file (TOML text; prefs fit-weights writes "
                                 "one)") from None
            source = str(path)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{source}: invalid TOML: {exc}") from exc
        loaded = cls.from_dict(data, source)
        if path is not None:  # every parameter the terms read, now: not one failure per image later
            shipped = cls.load().params
            missing = [f"[{sec}] {key}" for sec, kv in shipped.items() for key in kv
                       if key not in loaded.params.get(sec, {})]
            if missing:
                raise UsageError(f"{source}: missing parameter(s) {', '.join(missing[:6])}"
                                 f"{' ...' if len(missing) > 6 else ''}: a weights file holds every section "
                                 "of procrop's own (procrop prefs fit-weights writes a whole one)")
        return loaded

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<memory>") -> ScoringWeights:
        weights = data.get("weights")
        if not isinstance(weights, dict) or not weights:
            raise UsageError(f"{source}: missing [weights] table")
        clean: dict[str, float] = {}
        for name, value in weights.items():
            if not isinstance(value, (int, float)) or value < 0 or not math.isfinite(value):
                raise UsageError(f"{source}: weight {name!r} must be a non-negative number")
            clean[name] = float(value)
        params = {
            k: {pk: float(pv) for pk, pv in v.items()}
            for k, v in data.items()
            if isinstance(v, dict) and k != "weights"
        }
        return cls(clean, params, source)

    def weight(self, term: str) -> float:
        return self.weights.get(term, 0.0)

    def param(self, section: str, key: str, default: float | None = None) -> float:
        try:
            return self.params[section][key]
        except KeyError:
            if default is None:
                raise UsageError(f"{self.source}: missing parameter [{section}] {key}") from None
            return default

    def with_weights(self, **updates: float) -> ScoringWeights:
        """A copy with some weights replaced (``0`` switches a term off)."""
        merged = dict(self.weights)
        merged.update({k: float(v) for k, v in updates.items()})
        return ScoringWeights(merged, self.params, self.source)

    def to_toml(self) -> str:
        """Serialise in the layout of the shipped file."""
        lines = ["version = 1", "", "[weights]"]
        lines += [f"{k} = {v!r}" for k, v in self.weights.items()]
        for section, values in self.params.items():
            lines += ["", f"[{section}]"] + [f"{k} = {v!r}" for k, v in values.items()]
        return "\n".join(lines) + "\n"


