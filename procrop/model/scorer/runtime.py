"""Running the learned box scorer's bundle with onnxruntime (no torch).

A bundle (:mod:`procrop.model.scorer.boxnet_export`) is a folder; the default one ships in
``procrop/resources/models/learned``. :class:`LearnedModel` loads it lazily (the first
:meth:`~LearnedModel.encode`), then per photo:

1. :meth:`LearnedModel.encode`: the photo squashed to 256 x 256 -> backbone maps
   (:meth:`LearnedModel.backbone`, which can run early, beside perception) -> its ``k`` most
   similar professional photos in the bundle's reference database (the ``mobilenet`` search vector
   of ``c5``) -> the description's token ids -> the fused maps (:class:`EncodedPhoto`);
2. :meth:`LearnedModel.score`: ``sigmoid`` scores of any boxes (normalised ``x1, y1, x2, y2``).

Sessions use ``threads`` intra-op threads (default 1: procrop parallelises across photos).
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ModelLoadError, require
from ...threads import inference_threads
from ...retrieval.encoders.mobilenet import search_vector, square_input
from ...retrieval.search import ExactIndex, SearchIndex, make_index
from ...retrieval.store import DatabaseError, ReferenceDB
from ..shared.tokens import tokenize

#: The bundle that ships with procrop.
DEFAULT_BUNDLE = Path(__file__).resolve().parents[2] / "resources" / "models" / "learned"


@dataclass
class BackboneMaps:
    """The backbone's ``c3 (1, 32, 32, 32)``, ``c4 (1, 96, 16, 16)``, ``c5 (1, 1280, 8, 8)`` of a
    photo whose width / height is ``aspect``."""

    c3: np.ndarray
    c4: np.ndarray
    c5: np.ndarray
    aspect: float


@dataclass
class EncodedPhoto:
    """One photo through the backbone and the fusion: everything :meth:`LearnedModel.score` needs."""

    fused: np.ndarray
    edges: np.ndarray
    context: np.ndarray
    aspect: float
    refs: np.ndarray
    ref_mask: np.ndarray
    text_ids: np.ndarray
    references: list[dict[str, Any]] = field(default_factory=list)
    #: database rows of ``references`` (same order)
    ref_rows: list[int] = field(default_factory=list)
    #: the photo's search vector (what :meth:`LearnedModel.search` takes)
    query: np.ndarray | None = None
    #: logits of the boxes scored so far, by their float32 coordinates (a search meets the same
    #: box again: a move back, a box that did not move, a move clipped to the canvas)
    scored: dict[bytes, float] = field(default_factory=dict, repr=False)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


class LearnedModel:
    """A learned box-scorer bundle (see the module docstring).

    Args:
        bundle: the bundle folder (default: the shipped one).
        threads: onnxruntime intra-op threads of the encoder and the box scores (default:
            :func:`procrop.threads.inference_threads`); the backbone always runs on one, beside
            the detectors.
        references: a ``mobilenet`` reference database (a folder, or a loaded
            :class:`~procrop.retrieval.store.ReferenceDB`, e.g. one held in memory) to retrieve
            from instead of the bundle's own ``references/`` (``procrop index build`` makes one by default).

    Raises:
        ModelLoadError: naming the folder when a file is missing or unreadable.
    """

    def __init__(self, bundle: str | os.PathLike | None = None, threads: int | None = None,
                 references: str | os.PathLike | ReferenceDB | None = None) -> None:
        self.path = Path(bundle) if bundle else DEFAULT_BUNDLE
        self.references_db = references if isinstance(references, ReferenceDB) else None
        given = references.path if isinstance(references, ReferenceDB) else references
        self.references_path = Path(given) if given is not None else self.path / "references"
        self.threads = threads if threads is not None else inference_threads()
        self._lock = threading.Lock()
        self._sessions: dict[str, Any] | None = None
        self._refs: tuple[SearchIndex, np.ndarray, list[dict[str, Any]]] | None = None
        card = self.path / "model.json"
        try:
            self.card: dict[str, Any] = json.loads(card.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{card}: cannot read the learned model's card ({exc})") from None
        self.config: dict[str, Any] = self.card["config"]

    @property
    def name(self) -> str:
        """The model's name and version, as the JSON ``options`` report it."""
        return str(self.card.get("name", self.path.name))

    def _load(self) -> dict[str, Any]:
        with self._lock:
            if self._sessions is None:
                ort = require("onnxruntime", "the learned scorer", "base")
                sessions = {}
                for part in ("backbone", "encode", "score"):
                    # the backbone runs beside the detectors (one thread); the box scores run alone
                    opts = ort.SessionOptions()
                    opts.intra_op_num_threads = 1 if part == "backbone" else self.threads
                    opts.inter_op_num_threads = 1
                    # idle threads sleep: between score calls the search's own work needs the core
                    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
                    f = self.path / f"{part}.onnx"
                    try:
                        sessions[part] = ort.InferenceSession(str(f), opts, providers=["CPUExecutionProvider"])
                    except Exception as exc:  # onnxruntime raises its own types
                        raise ModelLoadError(f"{f}: cannot load the learned model ({exc})") from None
                self._sessions = sessions
            return self._sessions

    def _references(self) -> tuple[SearchIndex, np.ndarray, list[dict[str, Any]]]:
        if self._refs is None:
            folder = self.references_path
            if not self.config.get("refs") or (folder == self.path / "references" and not folder.exists()):
                self._refs = (ExactIndex(np.zeros((0, 1), np.float32)), np.zeros((0, 64, 64), np.float16), [])
            else:
                db = self.references_db or ReferenceDB.open(folder, expect_encoder="mobilenet")
                if db.encoder_info["name"] != "mobilenet":
                    raise DatabaseError(f"{folder}: built with the {db.encoder_info['name']!r} encoder, not 'mobilenet'")
                shape = tuple(db.encoder_info.get("token_shape", ()))
                want = (int(self.config["ref_tokens"]), int(self.config["ref_dim"]))
                if shape != want:
                    raise DatabaseError(f"{folder}: reference tokens {shape}, the learned model reads {want}")
                # a large database gets the index recorded with it (compressed above 200k: its rows
                # stay on disk), a small one exact search
                index = make_index(db.vectors, str(db.manifest.get("index", "auto")), cache_dir=db.path,
                                   fingerprint=db.fingerprint)
                self._refs = (index, db.tokens, db.items)
        return self._refs

    def with_references(self, references: str | os.PathLike | ReferenceDB) -> LearnedModel:
        """The same network (its sessions shared, loaded once) retrieving from other references."""
        import copy

        self._load()
        twin = copy.copy(self)
        twin.references_db = references if isinstance(references, ReferenceDB) else None
        twin.references_path = references.path if isinstance(references, ReferenceDB) else Path(references)
        twin._refs = None
        twin._lock = threading.Lock()
        return twin

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Similarities and rows ``(k,)`` of the ``k`` references most similar to a search vector."""
        sims, rows = self._references()[0].search(query, k)
        return sims[0], rows[0]

    def reference_items(self) -> list[dict[str, Any]]:
        """The items of the database it retrieves from (loaded, and checked, on first use)."""
        return self._references()[2]

    def retrieve(self, c5: np.ndarray, k: int, query: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Reference tokens ``(1, k, 64, 64)``, mask ``(1, k)`` and descriptions for a ``(1280, h, w)``
        map (``query``: its search vector, when already made); each description carries its database
        row under ``"_row"``."""
        index, tokens, items = self._references()
        refs = np.zeros((1, k, 64, 64), np.float32)
        mask = np.ones((1, k), bool)
        if not len(items):
            return refs, mask, []
        if query is None:
            query = search_vector(np.ascontiguousarray(c5.transpose(1, 2, 0), dtype=np.float32))
        sims, top = index.search(query, k)
        refs[0, : top.shape[1]] = tokens[top[0]].astype(np.float32)
        mask[0, : top.shape[1]] = False
        described = [{"_row": int(i), "source": items[i].get("source", ""), "similarity": round(float(sim), 4),
                      **({"licence": items[i]["licence"]} if "licence" in items[i] else {})}
                     for i, sim in zip(top[0], sims[0])]
        return refs, mask, described

    def backbone(self, pixels: np.ndarray) -> BackboneMaps:
        """The frozen backbone's maps of an RGB uint8 photo (any size, squashed to 256 x 256)."""
        sq = square_input(pixels)
        c3, c4, c5 = self._load()["backbone"].run(None, {"images": np.ascontiguousarray(sq.transpose(2, 0, 1)[None])})
        h, w = pixels.shape[:2]
        return BackboneMaps(c3, c4, c5, w / h)

    def encode(self, pixels: np.ndarray | BackboneMaps, text: str = "") -> EncodedPhoto:
        """An RGB uint8 photo (or its :meth:`backbone` maps) and its description -> :class:`EncodedPhoto`."""
        maps = pixels if isinstance(pixels, BackboneMaps) else self.backbone(pixels)
        cfg = self.config
        query = search_vector(np.ascontiguousarray(maps.c5[0].transpose(1, 2, 0), dtype=np.float32))
        refs, mask, described = self.retrieve(maps.c5[0], int(cfg["k_refs"]), query)
        rows = [int(d.pop("_row")) for d in described]
        ids = np.asarray([tokenize(text, int(cfg["vocab"]), int(cfg["text_len"]))], np.int64)
        session = self._load()["encode"]
        feed = {"c3": maps.c3, "c4": maps.c4, "c5": maps.c5, "refs": refs, "ref_mask": mask, "text_ids": ids}
        wanted = {i.name for i in session.get_inputs()}  # a model without references or text has no such inputs
        fused, edges, context = session.run(None, {k: v for k, v in feed.items() if k in wanted})
        return EncodedPhoto(fused, edges, context, maps.aspect, refs, mask, ids, described, rows, query)

    def score(self, encoded: EncodedPhoto, boxes: np.ndarray) -> np.ndarray:
        """Scores in [0, 1] of ``boxes (N, 4)`` normalised ``x1, y1, x2, y2``: the expected IoU with a
        professional's frame. A box this photo's scores met before (in ``encoded.scored``) is not
        run again; the rest run in one call, in their order."""
        b = np.ascontiguousarray(np.asarray(boxes, np.float32).reshape(-1, 4))
        if b.shape[0] == 0:
            return np.zeros(0)
        keys = [row.tobytes() for row in b]
        known = encoded.scored
        new = list(dict.fromkeys(k for k in keys if k not in known))
        if new:
            rows = np.frombuffer(b"".join(new), np.float32).reshape(1, -1, 4)
            (logits,) = self._load()["score"].run(None, {
                "fused": encoded.fused, "edges": encoded.edges, "context": encoded.context, "boxes": rows,
                "aspect": np.asarray([encoded.aspect], np.float32)})
            known.update(zip(new, logits[0].tolist()))
        return _sigmoid(np.fromiter((known[k] for k in keys), np.float64, len(keys)))
