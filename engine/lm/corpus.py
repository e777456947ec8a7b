"""The offline English corpus the embedded tiny LM is trained on.

Three sources, all available without a network:

- ``pydoc_data.topics``: the Python reference topics shipped with the standard library;
- docstrings (module, class and function) of the standard library and of installed packages,
  plus their ``.rst``/``.txt``/``.md`` documents;
- generated *entity documents*: short reports in which invented names, objects and places are
  introduced and reappear far apart -- where episodic recall beyond the context window can help.

The corpus is deterministic for a given seed and size cap; :func:`build_corpus` writes it as
plain UTF-8 text files split into train / valid (natural text) and train / valid / test (entity
documents, each split from its own seed so held-out names never occur in training).
"""

from __future__ import annotations

import ast
import hashlib
import random
import sys
import sysconfig
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

DOC_SEPARATOR = "\n<|endoftext|>\n"
"""Separates documents in the corpus files; the tokenizer's end-of-text token."""

_SYLLABLES = (
    "ka", "lo", "mer", "vin", "dra", "tho", "sel", "qui", "bar", "nym", "osk", "zel", "rha", "tum",
    "gor", "fen", "ili", "vask", "mor", "yth", "pel", "cas", "dun", "ebb", "wic", "harn", "lis", "orv",
)
_ROLES = ("harbour clerk", "glassblower", "bookbinder", "ferry pilot", "beekeeper", "surveyor",
          "lamplighter", "cartographer", "tax collector", "weaver", "chemist", "stonemason")
_OBJECTS = ("brass compass", "copper lantern", "green ledger", "silver key", "pine chest",
            "linen map", "clay flute", "black kettle", "blue umbrella", "wooden abacus",
            "leather satchel", "glass inkwell", "red scarf", "tin whistle")
_PLACES_SUFFIX = ("ford", "bridge", "haven", "moor", "wick", "stead", "holm", "gate")
_FILLER = (
    "The weather changed twice before noon, and the market closed early.",
    "Nobody in the town paid much attention to the noise from the river.",
    "A cart loaded with grain passed slowly along the main road.",
    "The council met in the old hall to discuss the price of bread.",
    "Rain fell all evening, and the streets were empty by nine o'clock.",
    "Children played near the fountain while their parents argued about taxes.",
    "The bells rang at the usual hour, and the shops opened one by one.",
    "Travellers said that the northern road was blocked by fallen trees.",
    "The baker sold out of rye loaves before the morning was over.",
    "A letter arrived from the capital, but it contained nothing new.",
    "The lighthouse keeper reported calm seas and a clear sky.",
    "Somebody had painted the gate of the school a bright yellow.",
    "The mill stopped for repairs, and the workers went home.",
    "In the afternoon a strong wind blew from the hills.",
    "The library extended its hours for the winter season.",
    "Fishermen brought in a small catch and complained about the nets.",
    "The clock on the tower was five minutes slow, as it always was.",
    "A stranger asked for directions to the station and then disappeared.",
    "The price of candles rose again, which annoyed everyone.",
    "Snow was expected in the mountains, though none had fallen yet.",
)
_INTRO = (
    "{name}, the {role} of {place}, kept a {obj} on the table by the window.",
    "In {place} lived {name}, a {role} who owned a {obj}.",
    "Everyone in {place} knew {name}, the {role}, and the {obj} that never left the shop.",
)
_RECALL = (
    "Later that week, {name} took the {obj} down to the square.",
    "When the inspector came, {name} showed him the {obj} and said nothing else.",
    "At the end of the month {name} sold the {obj} to a traveller from {place}.",
    "The {role}, {name}, still remembered where the {obj} had come from.",
    "Years afterwards, people in {place} still talked about {name} and the {obj}.",
)


@dataclass(frozen=True)
class Entity:
    """One invented character with a role, a home and an object that recur in a document."""

    name: str
    role: str
    place: str
    obj: str


def _word(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(parts)).capitalize()


def make_entity(rng: random.Random) -> Entity:
    """A new entity whose name is built from random syllables (so it is novel to the model)."""
    name = f"{_word(rng, 2)} {_word(rng, rng.choice((2, 3)))}"
    place = _word(rng, 2) + rng.choice(_PLACES_SUFFIX)
    return Entity(name=name, role=rng.choice(_ROLES), place=place, obj=rng.choice(_OBJECTS))


def entity_document(rng: random.Random, n_entities: int = 3, filler_per_gap: int = 20) -> str:
    """A report that introduces ``n_entities`` entities and mentions each again far later.

    Between the introduction and every recall sit ``filler_per_gap`` generic sentences
    (roughly 250-350 tokens), so recurrences are typically further apart than a small model's
    context window.
    """
    entities = [make_entity(rng) for _ in range(n_entities)]
    paragraphs = [" ".join(rng.choice(_INTRO).format(**vars(e)) for e in entities)]
    for _ in range(2):
        paragraphs.append(" ".join(rng.choice(_FILLER) for _ in range(filler_per_gap)))
        order = entities[:]
        rng.shuffle(order)
        paragraphs.append(" ".join(rng.choice(_RECALL).format(**vars(e)) for e in order))
    return "\n\n".join(paragraphs)


def entity_documents(n: int, seed: int) -> list[str]:
    """``n`` entity documents from one seed (different seeds give disjoint name sets in practice)."""
    rng = random.Random(seed)
    return [entity_document(rng) for _ in range(n)]


def _docstrings(path: Path) -> Iterator[str]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError, OSError, RecursionError):
        return
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc and len(doc) >= 80:
                yield doc


def _python_roots() -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    purelib = Path(sysconfig.get_paths()["purelib"])
    return [stdlib, purelib] if purelib != stdlib else [stdlib]


def natural_documents(max_chars: int) -> list[str]:
    """English documents found offline, deduplicated, in a fixed order, up to ``max_chars``."""
    from pydoc_data import topics

    docs: list[str] = list(topics.topics.values())
    seen: set[str] = set()
    total = sum(len(d) for d in docs)
    for root in _python_roots():
        files = sorted(p for p in root.rglob("*") if p.suffix in {".py", ".rst", ".txt", ".md"})
        for path in files:
            if total >= max_chars:
                return docs
            if any(part in {"test", "tests", "idle_test", "site-packages"} for part in path.relative_to(root).parts[:-1]) and root.name != "site-packages":
                continue
            if path.suffix == ".py":
                texts = list(_docstrings(path))
            else:
                try:
                    texts = [path.read_text(encoding="utf-8")] if path.stat().st_size < 400_000 else []
                except (UnicodeDecodeError, OSError):
                    texts = []
            for text in texts:
                key = hashlib.sha1(text.encode()).hexdigest()
                if key in seen:
                    continue
                seen.add(key)
                docs.append(text)
                total += len(text)
    return docs


@dataclass(frozen=True)
class CorpusFiles:
    """Paths of a built corpus."""

    train: Path
    valid: Path
    entity_valid: Path
    entity_test: Path


def build_corpus(out_dir: Path, max_natural_chars: int = 12_000_000, n_entity_docs: int = 3000, seed: int = 0) -> CorpusFiles:
    """Write ``train.txt``, ``valid.txt``, ``entity_valid.txt`` and ``entity_test.txt`` to ``out_dir``.

    Natural documents are split 98/2 by a seeded shuffle; entity documents for training,
    validation and test come from three different seeds (``seed``, ``seed+1``, ``seed+2``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    natural = natural_documents(max_natural_chars)
    rng = random.Random(seed)
    rng.shuffle(natural)
    n_valid = max(1, len(natural) // 50)
    train_docs = natural[n_valid:] + entity_documents(n_entity_docs, seed)
    rng.shuffle(train_docs)
    files = CorpusFiles(out_dir / "train.txt", out_dir / "valid.txt", out_dir / "entity_valid.txt", out_dir / "entity_test.txt")
    _write_atomic(files.train, DOC_SEPARATOR.join(train_docs))
    _write_atomic(files.valid, DOC_SEPARATOR.join(natural[:n_valid]))
    _write_atomic(files.entity_valid, DOC_SEPARATOR.join(entity_documents(100, seed + 1)))
    _write_atomic(files.entity_test, DOC_SEPARATOR.join(entity_documents(200, seed + 2)))
    return files


def read_documents(path: Path) -> list[str]:
    """The documents of a corpus file written by :func:`build_corpus`."""
    return [d for d in path.read_text(encoding="utf-8").split(DOC_SEPARATOR) if d.strip()]


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


if __name__ == "__main__":  # pragma: no cover - convenience: python -m engine.lm.corpus OUT_DIR
    print(build_corpus(Path(sys.argv[1])))
