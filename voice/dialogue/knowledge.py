"""Retrieval over the policy documents in `data/knowledge/*.md`.

Documents are cut into passages of about 40-120 words along headings and paragraphs; each
passage is embedded together with its heading, because a paragraph like "Please cancel at least
24 hours in advance" only means something under "Cancelling appointments". The vectors are kept
on disk with a manifest of each file's sha256, so a start re-embeds only files that changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np

DEFAULT_KNOWLEDGE_DIR = Path(__file__).resolve().parents[2] / "data" / "knowledge"
# Bump when chunking changes, so old indexes are rebuilt rather than trusted.
INDEX_VERSION = 1
MIN_WORDS, MAX_WORDS = 40, 120


class Encoder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Chunk:
    text: str
    source: str  # file name, e.g. "returns.md"
    heading: str  # "Document title > Section"

    @property
    def embed_text(self) -> str:
        return f"{self.heading}: {self.text}"


@dataclass(frozen=True)
class Passage:
    text: str
    source: str
    heading: str
    score: float


# --- chunking --------------------------------------------------------------------------------


def _sections(markdown: str) -> list[tuple[str, list[str]]]:
    """(heading path, paragraphs) for each section; the `#` title prefixes every heading."""
    title, sections = "", []
    heading, paragraphs = "", []
    current: list[str] = []

    def close_paragraph() -> None:
        if current:
            paragraphs.append(" ".join(current))
            current.clear()

    for line in markdown.splitlines():
        match = re.match(r"^(#{1,6})\s+(.*\S)", line)
        if match:
            close_paragraph()
            if paragraphs:
                sections.append((heading, paragraphs))
            paragraphs = []
            if len(match.group(1)) == 1:
                title = heading = match.group(2)
            else:
                heading = f"{title} > {match.group(2)}" if title else match.group(2)
        elif line.strip():
            current.append(line.strip())
        else:
            close_paragraph()
    close_paragraph()
    if paragraphs:
        sections.append((heading, paragraphs))
    return sections


def _split_long(paragraph: str, max_words: int) -> list[str]:
    """Cut a long paragraph at sentence ends into pieces of at most `max_words` words."""
    if len(paragraph.split()) <= max_words:
        return [paragraph]
    pieces: list[str] = []
    current: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", paragraph):
        if current and len(" ".join([*current, sentence]).split()) > max_words:
            pieces.append(" ".join(current))
            current = []
        current.append(sentence)
    return [*pieces, " ".join(current)] if current else pieces


def _merge_short(pieces: list[str], min_words: int, max_words: int) -> list[str]:
    """Join neighbouring pieces while one is under `min_words` and the sum fits `max_words`."""
    merged: list[str] = []
    for piece in pieces:
        if (
            merged
            and (len(merged[-1].split()) < min_words or len(piece.split()) < min_words)
            and len(merged[-1].split()) + len(piece.split()) <= max_words
        ):
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return merged


def chunk_markdown(
    markdown: str, source: str, min_words: int = MIN_WORDS, max_words: int = MAX_WORDS
) -> list[Chunk]:
    """Passages that never cross a heading, each labelled with its heading path."""
    chunks = []
    for heading, paragraphs in _sections(markdown):
        pieces = [p for para in paragraphs for p in _split_long(para, max_words)]
        chunks += [
            Chunk(text, source, heading) for text in _merge_short(pieces, min_words, max_words)
        ]
    return chunks


# --- the index -------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write to a temporary file and rename, so a crash never leaves half an index."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        write(fh)
    tmp.replace(path)


class KnowledgeBase:
    """Semantic search over a folder of Markdown documents.

    The index lives at `index_path` (`.npz` vectors) beside a JSON manifest; it is reused
    when the documents' hashes still match and only changed files are re-embedded.
    """

    def __init__(
        self,
        directory: Path | str,
        embedder: Encoder,
        index_path: Path | str,
        *,
        model_name: str = "all-MiniLM-L6-v2",
    ) -> None:
        self.directory = Path(directory)
        self.embedder = embedder
        self.index_path = Path(index_path).with_suffix(".npz")
        self.manifest_path = self.index_path.with_suffix(".json")
        self.model_name = model_name
        self.reindexed: list[str] = []  # files embedded by the latest refresh
        self._lock = threading.Lock()
        self._chunks: list[Chunk] = []
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self.refresh()

    @property
    def chunks(self) -> list[Chunk]:
        return list(self._chunks)

    def refresh(self) -> bool:
        """Re-read the folder; embed only new or changed files. True when the index changed."""
        with self._lock:
            files = {p.name: _sha256(p) for p in sorted(self.directory.glob("*.md"))}
            old_files, old_chunks, old_vectors = self._load()
            changed = [name for name, digest in files.items() if old_files.get(name) != digest]
            self.reindexed = changed
            if not changed and set(old_files) == set(files):
                self._chunks, self._vectors = old_chunks, old_vectors
                return False
            chunks, vectors = self._rebuild(files, changed, old_chunks, old_vectors)
            self._save(files, chunks, vectors)
            self._chunks, self._vectors = chunks, vectors
            return True

    def _rebuild(
        self,
        files: dict[str, str],
        changed: list[str],
        old_chunks: list[Chunk],
        old_vectors: np.ndarray,
    ) -> tuple[list[Chunk], np.ndarray]:
        fresh = [
            c
            for name in changed
            for c in chunk_markdown((self.directory / name).read_text(encoding="utf-8"), name)
        ]
        kept = [
            i for i, c in enumerate(old_chunks) if c.source in files and c.source not in changed
        ]
        chunks = [old_chunks[i] for i in kept] + fresh
        parts = [old_vectors[kept]] if kept else []
        if fresh:  # a deleted file alone needs no embedding
            parts.append(
                np.asarray(self.embedder.encode([c.embed_text for c in fresh]), dtype=np.float32)
            )
        vectors = np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
        return chunks, vectors

    def _load(self) -> tuple[dict[str, str], list[Chunk], np.ndarray]:
        """The stored index, or empty when missing, from another model/version, or torn."""
        nothing: dict[str, str] = {}
        empty = (nothing, list[Chunk](), np.zeros((0, 0), dtype=np.float32))
        try:
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            with np.load(self.index_path) as stored:
                vectors = stored["vectors"].astype(np.float32)
            chunks = [Chunk(**c) for c in manifest["chunks"]]
        except (OSError, ValueError, KeyError, TypeError):
            return empty
        if (
            manifest.get("version") != INDEX_VERSION
            or manifest.get("model") != self.model_name
            or len(chunks) != len(vectors)
        ):
            return empty
        return manifest["files"], chunks, vectors

    def _save(self, files: dict[str, str], chunks: list[Chunk], vectors: np.ndarray) -> None:
        self.index_path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.index_path, lambda fh: np.savez(fh, vectors=vectors))
        manifest = {
            "version": INDEX_VERSION,
            "model": self.model_name,
            "files": files,
            "chunks": [asdict(c) for c in chunks],
        }
        # The manifest goes last: it is what marks the vectors as valid.
        text = json.dumps(manifest, indent=1).encode("utf-8")
        _write_atomic(self.manifest_path, lambda fh: fh.write(text))

    def search(self, query: str, k: int = 3, min_score: float = 0.3) -> list[Passage]:
        """The `k` passages most similar to `query` (cosine), best first, above `min_score`."""
        chunks, vectors = self._chunks, self._vectors
        if not chunks or not query.strip():
            return []
        scores = vectors @ np.asarray(self.embedder.encode([query]), dtype=np.float32)[0]
        best = np.argsort(-scores)[:k]
        return [
            Passage(chunks[i].text, chunks[i].source, chunks[i].heading, float(scores[i]))
            for i in best
            if scores[i] >= min_score
        ]
