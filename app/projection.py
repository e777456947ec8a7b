"""UMAP projection of stored signatures, fitted once, cached, extended with ``transform``.

A signature is one row of ``TraceStore.signatures`` (the ``moments`` table). Two kinds of
vectors can be projected:

- ``topk``: the stored top-k next-token distribution as a sparse vector over the vocabulary,
  ``p = (p_1..p_k at ids_1..ids_k, 1 - sum p_i in a last "rest of vocabulary" column)`` of shape
  ``(n, V + 1)``, compared with the Hellinger distance
  ``H(p, q) = sqrt(1 - sum_i sqrt(p_i q_i)) = ||sqrt(p) - sqrt(q)||_2 / sqrt(2)``. UMAP is fitted
  on the sparse ``sqrt(p)`` vectors with the Euclidean metric: the same distances up to the
  constant 1/sqrt(2), hence the same neighbour graph and map, but umap-learn's own sparse
  ``hellinger`` goes through a per-pair Python callable below 4,096 points (about 200 s for 4k
  signatures here, against ~6 s). The rest column makes every row a full distribution, so two
  moments with disjoint top-k tokens are still ordered by how confident they were.
- ``embedding``: the stored hidden-state embedding ``(n, d)``, Euclidean distance.

:class:`SignatureProjector` fits once on at most ``max_points`` signatures (a seeded sample,
with a visible "showing n of N" note), keeps the fitted UMAP in memory (shared across
projectors of one process, keyed by a hash of the data and the parameters) and, when given a
``cache_dir``, stores the coordinates with their parameters and seed on disk (``.npz`` without
pickle + ``.json``). New live signatures are placed with UMAP's ``transform``. For Compare,
:func:`aligned_projection` puts two runs in one coordinate system: one joint fit, AlignedUMAP
tied by signatures matched by divergence, or Procrustes alignment of two separate fits.

The first UMAP fit of a process compiles numba code (~37 s here): call :func:`warm_up` in a
background thread (:func:`warm_up_in_background`) when the app starts.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from app.figures.notes import sampling_note

KINDS = ("topk", "embedding")
_DISTANCE = {"topk": "hellinger", "embedding": "euclidean"}
MIN_POINTS = 4
"""UMAP needs a few points; fewer signatures are refused with a one-line reason."""


class ProjectionError(ValueError):
    """A projection cannot be made from these signatures (too few, missing vectors)."""


@dataclass(frozen=True)
class ProjectionParams:
    """Everything that determines a projection; stored beside every cached one.

    ``kind``: ``topk`` (Hellinger on sparse top-k distributions) or ``embedding`` (Euclidean);
    ``vocab_size``: width ``V`` of top-k vectors (``None``: largest id seen at fit + 1; ids of
    later points beyond it count as rest-of-vocabulary mass).
    """

    kind: str = "topk"
    n_neighbors: int = 15
    min_dist: float = 0.1
    seed: int = 0
    max_points: int = 20_000
    vocab_size: int | None = None

    @property
    def distance(self) -> str:
        """The distance the map preserves: ``hellinger`` (top-k) or ``euclidean`` (embeddings)."""
        return _DISTANCE[self.kind]


# ---------------------------------------------------------------------------------------------
# signature vectors and divergences


def topk_matrix(topk_ids: pd.Series, topk_probs: pd.Series, *, width: int) -> sp.csr_matrix:
    """Sparse distributions ``(n, width + 1)``: top-k probabilities, rest mass in the last column.

    Ids ``>= width`` (tokens unseen when the width was fixed) add to the rest column. Each row
    is normalised to sum to 1.
    """
    lengths = np.fromiter((len(ids) if hasattr(ids, "__len__") else 0 for ids in topk_ids), dtype=np.int64, count=len(topk_ids))
    if len(topk_ids) and (lengths == 0).any():
        raise ProjectionError("some signatures have no top-k distribution; project their embeddings instead")
    ids = np.concatenate([np.asarray(i, dtype=np.int64) for i in topk_ids]) if len(topk_ids) else np.zeros(0, np.int64)
    probs = np.concatenate([np.asarray(p, dtype=np.float64) for p in topk_probs]) if len(topk_probs) else np.zeros(0)
    rows = np.repeat(np.arange(len(topk_ids)), lengths)
    probs = np.clip(probs, 0.0, None)
    ids = np.where((ids >= 0) & (ids < width), ids, width)
    rest = np.clip(1.0 - np.bincount(rows, weights=probs, minlength=len(topk_ids)), 0.0, None)
    all_rows = np.concatenate([rows, np.arange(len(topk_ids))])
    all_cols = np.concatenate([ids, np.full(len(topk_ids), width)])
    all_vals = np.concatenate([probs, rest])
    matrix = sp.csr_matrix((all_vals, (all_rows, all_cols)), shape=(len(topk_ids), width + 1))
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    sums[sums == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / sums) @ matrix, dtype=np.float32)


def embedding_matrix(embeddings: pd.Series) -> np.ndarray:
    """Dense hidden-state embeddings ``(n, d)`` float32; refuses missing or ragged rows."""
    if len(embeddings) == 0:
        return np.zeros((0, 0), np.float32)
    if any(not hasattr(e, "__len__") or len(e) == 0 for e in embeddings):
        raise ProjectionError("some signatures have no stored embedding; project their top-k distributions instead")
    dims = {len(e) for e in embeddings}
    if len(dims) > 1:
        raise ProjectionError(f"embeddings of different sizes {sorted(dims)} cannot share one projection")
    return np.stack([np.asarray(e, dtype=np.float32) for e in embeddings])


def vocab_width(*signature_sets: pd.DataFrame) -> int:
    """Largest top-k id in the given signature frames + 1 (the smallest width that holds them)."""
    largest = -1
    for frame in signature_sets:
        for ids in frame["topk_ids"]:
            if hasattr(ids, "__len__") and len(ids):
                largest = max(largest, int(np.max(ids)))
    return largest + 1


def hellinger_distances(a: sp.csr_matrix, b: sp.csr_matrix) -> np.ndarray:
    """Pairwise Hellinger distances ``(n_a, n_b)`` of row-normalised distributions (same width)."""
    affinity = (a.sqrt() @ b.sqrt().T).toarray()  # Bhattacharyya coefficients
    return np.sqrt(np.clip(1.0 - affinity, 0.0, 1.0))


def match_signatures(sig_a: pd.DataFrame, sig_b: pd.DataFrame, *, max_divergence: float = 0.25) -> pd.DataFrame:
    """Pairs of signatures of two runs that are the same moment, matched by divergence.

    Two moments match when each is the other's nearest neighbour (Hellinger distance of their
    top-k distributions) and their distance is at most ``max_divergence`` (0 = identical,
    1 = disjoint). Returns ``index_a, index_b`` (positions in the frames) and ``divergence``.
    """
    if sig_a.empty or sig_b.empty:
        return pd.DataFrame({"index_a": pd.Series(dtype=np.int64), "index_b": pd.Series(dtype=np.int64), "divergence": pd.Series(dtype=np.float64)})
    width = vocab_width(sig_a, sig_b)
    dist = hellinger_distances(
        topk_matrix(sig_a["topk_ids"], sig_a["topk_probs"], width=width),
        topk_matrix(sig_b["topk_ids"], sig_b["topk_probs"], width=width),
    )
    best_b = dist.argmin(axis=1)
    best_a = dist.argmin(axis=0)
    index_a = np.flatnonzero(best_a[best_b] == np.arange(len(sig_a)))
    index_b = best_b[index_a]
    divergence = dist[index_a, index_b]
    keep = divergence <= max_divergence
    return pd.DataFrame({"index_a": index_a[keep], "index_b": index_b[keep], "divergence": divergence[keep]})


# ---------------------------------------------------------------------------------------------
# fitting, caching, transforming


_MODELS: OrderedDict[str, object] = OrderedDict()
_MODELS_LOCK = threading.Lock()
_MODELS_KEPT = 8


def _remember_model(key: str, model: object) -> None:
    with _MODELS_LOCK:
        _MODELS[key] = model
        _MODELS.move_to_end(key)
        while len(_MODELS) > _MODELS_KEPT:
            _MODELS.popitem(last=False)


def _recall_model(key: str) -> object | None:
    with _MODELS_LOCK:
        return _MODELS.get(key)


def clear_model_cache() -> None:
    """Forget the fitted models kept in memory (the disk cache stays)."""
    with _MODELS_LOCK:
        _MODELS.clear()


def _umap(params: ProjectionParams, n_points: int):
    import umap  # heavy (numba); imported on first use

    return umap.UMAP(
        n_neighbors=max(2, min(params.n_neighbors, n_points - 1)),
        min_dist=params.min_dist,
        metric="euclidean",  # on sqrt(p) for top-k: the Hellinger distance times sqrt(2)
        random_state=params.seed,
        n_jobs=1,  # a seed makes UMAP single-threaded anyway; saying so avoids its warning
        n_components=2,
        # a handful of points is below what spectral initialisation can handle
        init="spectral" if n_points > params.n_neighbors + 1 else "random",
    )


def _data_hash(matrix, params: ProjectionParams) -> str:
    import umap

    h = hashlib.sha256()
    h.update(json.dumps({**asdict(params), "umap": umap.__version__}, sort_keys=True).encode())
    if sp.issparse(matrix):
        for part in (matrix.indptr, matrix.indices, matrix.data):
            h.update(np.ascontiguousarray(part).tobytes())
    else:
        h.update(np.ascontiguousarray(matrix).tobytes())
    h.update(repr(matrix.shape).encode())
    return h.hexdigest()[:32]


class SignatureProjector:
    """Fit a 2-D UMAP of signatures once; cache it; place new signatures with ``transform``.

    >>> projector = SignatureProjector(ProjectionParams(kind="topk", seed=0), cache_dir=".cache")
    >>> points = projector.fit(store.signatures(run_id))   # x, y + the sampled signature rows
    >>> live_xy = projector.transform(new_signatures)       # (m, 2)
    """

    def __init__(self, params: ProjectionParams = ProjectionParams(), *, cache_dir: str | Path | None = None) -> None:
        if params.kind not in KINDS:
            raise ProjectionError(f"unknown signature kind {params.kind!r}: choose one of {', '.join(KINDS)}")
        self.params = params
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.key: str | None = None
        self.note: str | None = None
        self.from_disk = False
        self._matrix = None
        self._coords: np.ndarray | None = None
        self._width: int | None = None

    # vectors ------------------------------------------------------------------------------
    def vectors(self, signatures: pd.DataFrame):
        """The vectors UMAP sees: sparse ``sqrt(p)`` ``(n, V + 1)`` (top-k) or dense ``(n, d)`` embeddings.

        Euclidean distance between them is ``sqrt(2)`` x Hellinger (top-k) or plain Euclidean.
        """
        if self.params.kind == "embedding":
            return embedding_matrix(signatures["embedding"])
        width = self._width if self._width is not None else (self.params.vocab_size or vocab_width(signatures))
        return topk_matrix(signatures["topk_ids"], signatures["topk_probs"], width=width).sqrt()

    # fit ----------------------------------------------------------------------------------
    def fit(self, signatures: pd.DataFrame) -> pd.DataFrame:
        """Project ``signatures`` (a seeded sample of at most ``max_points``).

        Returns the sampled rows with columns ``x`` and ``y`` added (original index kept);
        ``self.note`` says "showing n of N signatures" when it sampled.
        """
        total = len(signatures)
        if total < MIN_POINTS:
            raise ProjectionError(f"a projection needs at least {MIN_POINTS} stored signatures, this selection has {total}")
        if total > self.params.max_points:
            rng = np.random.default_rng(self.params.seed)
            keep = np.sort(rng.choice(total, size=self.params.max_points, replace=False))
            signatures = signatures.iloc[keep]
        self.note = sampling_note(len(signatures), total, "signatures")
        self._width = None
        if self.params.kind == "topk":
            self._width = self.params.vocab_size or vocab_width(signatures)
        matrix = self.vectors(signatures)
        self.key = _data_hash(matrix, self.params)
        self._matrix = matrix
        self._coords = self._cached_coords() if self.cache_dir is not None else None
        self.from_disk = self._coords is not None
        if self._coords is None:
            model = _recall_model(self.key)
            if model is None:
                model = self._fit_model(matrix)
            self._coords = np.asarray(model.embedding_, dtype=np.float32)
            self._store_coords()
        return signatures.assign(x=self._coords[:, 0], y=self._coords[:, 1])

    def _fit_model(self, matrix):
        model = _umap(self.params, matrix.shape[0]).fit(matrix)
        _remember_model(self.key, model)
        return model

    # transform ----------------------------------------------------------------------------
    def transform(self, signatures: pd.DataFrame) -> np.ndarray:
        """Place new signatures ``(m, 2)`` in the fitted coordinates (UMAP ``transform``).

        A projection restored from the disk cache has no model in memory: it is refitted first
        (same data, parameters and seed, hence the same coordinates).
        """
        if self.key is None:
            raise ProjectionError("fit the projector before placing new signatures")
        if len(signatures) == 0:
            return np.zeros((0, 2), np.float32)
        model = _recall_model(self.key) or self._fit_model(self._matrix)
        return np.asarray(model.transform(self.vectors(signatures)), dtype=np.float32)

    # disk cache ---------------------------------------------------------------------------
    def _paths(self) -> tuple[Path, Path]:
        assert self.cache_dir is not None and self.key is not None
        return self.cache_dir / f"projection-{self.key}.npz", self.cache_dir / f"projection-{self.key}.json"

    def _cached_coords(self) -> np.ndarray | None:
        coords_path, meta_path = self._paths()
        if not (coords_path.is_file() and meta_path.is_file()):
            return None
        try:
            meta = json.loads(meta_path.read_text())
            with np.load(coords_path, allow_pickle=False) as data:
                coords = data["coords"]
        except (OSError, ValueError, KeyError):
            return None  # a damaged cache entry is refitted and rewritten
        if meta.get("params") != asdict(self.params) or coords.shape != (self._matrix.shape[0], 2):
            return None
        return coords.astype(np.float32)

    def _store_coords(self) -> None:
        if self.cache_dir is None:
            return
        import umap

        self.cache_dir.mkdir(parents=True, exist_ok=True)
        coords_path, meta_path = self._paths()
        np.savez(coords_path, coords=self._coords)
        meta = {"params": asdict(self.params), "distance": self.params.distance, "n_points": int(self._matrix.shape[0]),
                "width": self._width, "umap_version": umap.__version__, "key": self.key}
        meta_path.write_text(json.dumps(meta, indent=1))


# ---------------------------------------------------------------------------------------------
# aligned projections (Compare)


def procrustes_transform(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity transform mapping ``source (m, 2)`` points onto ``target (m, 2)`` (least squares).

    Returns ``(scale s, rotation R (2, 2), translation t (2,))`` such that
    ``source @ R * s + t`` ~ ``target`` (orthogonal Procrustes; reflections allowed).
    """
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    a, b = source - mu_s, target - mu_t
    u, sigma, vt = np.linalg.svd(a.T @ b)
    rotation = u @ vt
    norm = float((a**2).sum())
    scale = float(sigma.sum() / norm) if norm > 0 else 1.0
    return scale, rotation, mu_t - scale * mu_s @ rotation


ALIGNMENTS = ("joint", "aligned", "procrustes")


def _sampled(signatures: pd.DataFrame, limit: int, seed: int, label: str, notes: list[str]) -> pd.DataFrame:
    """At most ``limit`` rows (seeded sample, original order); appends a note when it samples."""
    if len(signatures) <= limit:
        return signatures
    rng = np.random.default_rng(seed)
    notes.append(sampling_note(limit, len(signatures), f"signatures of {label}"))
    return signatures.iloc[np.sort(rng.choice(len(signatures), size=limit, replace=False))]


def aligned_projection(
    sig_a: pd.DataFrame,
    sig_b: pd.DataFrame,
    params: ProjectionParams = ProjectionParams(),
    *,
    method: str = "joint",
    max_divergence: float = 0.25,
    cache_dir: str | Path | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
    """Project two runs' signatures into one shared 2-D coordinate system (Compare).

    - ``joint``: one UMAP on the union (each run sampled to ``max_points / 2``): one coordinate
      system by construction; the default.
    - ``aligned``: ``umap.AlignedUMAP`` on the two sets, tied by the signatures matched by
      divergence (:func:`match_signatures`): each run keeps its own neighbourhoods while matched
      moments sit at the same place. Slower (several seconds for a few hundred points).
    - ``procrustes``: each run fitted on its own (and disk-cached separately), then B rotated,
      scaled and shifted onto A (:func:`procrustes_transform`) on the matched signatures. Fast
      when both fits are cached, but only a rigid fit: UMAP may arrange clusters differently.

    ``aligned`` and ``procrustes`` match top-k signatures; with fewer than 3 matches they fall
    back to ``joint`` and say so in the note. Returns ``(points_a, points_b, note)``: the
    (sampled) rows with ``x, y`` added.
    """
    if method not in ALIGNMENTS:
        raise ProjectionError(f"unknown alignment {method!r}: choose one of {', '.join(ALIGNMENTS)}")
    if method != "joint" and params.kind != "topk":
        raise ProjectionError(f"{method} alignment matches top-k signatures; use the joint fit for embeddings")
    for label, sig in (("A", sig_a), ("B", sig_b)):
        if len(sig) < MIN_POINTS:
            raise ProjectionError(f"a projection needs at least {MIN_POINTS} stored signatures, {label} has {len(sig)}")
    notes: list[str] = []
    half = max(MIN_POINTS, params.max_points // 2)
    sig_a = _sampled(sig_a, half, params.seed, "A", notes)
    sig_b = _sampled(sig_b, half, params.seed, "B", notes)
    if method != "joint":
        pairs = match_signatures(sig_a, sig_b, max_divergence=max_divergence)
        if len(pairs) >= 3:
            fixed = replace(params, vocab_size=params.vocab_size or vocab_width(sig_a, sig_b), max_points=half)
            if method == "aligned":
                points_a, points_b = _umap_aligned(sig_a, sig_b, pairs, fixed)
            else:
                points_a, points_b = _procrustes_aligned(sig_a, sig_b, pairs, fixed, cache_dir)
            notes.append(f"aligned on {len(pairs):,} matched signatures")
            return points_a, points_b, "; ".join(notes)
        notes.append(f"only {len(pairs)} matched signatures: fitted jointly instead")
    union = pd.concat([sig_a.assign(_side="a"), sig_b.assign(_side="b")])
    joint = SignatureProjector(replace(params, max_points=len(union)), cache_dir=cache_dir).fit(union.reset_index(drop=True))
    joint.index = union.index
    side = joint.pop("_side").to_numpy()
    return joint[side == "a"], joint[side == "b"], "; ".join(notes) or None


def _procrustes_aligned(sig_a, sig_b, pairs, params, cache_dir):
    """Two separate (cached) fits; B moved onto A by the similarity transform of the matched pairs."""
    points_a = SignatureProjector(params, cache_dir=cache_dir).fit(sig_a)
    points_b = SignatureProjector(params, cache_dir=cache_dir).fit(sig_b)
    xy_a, xy_b = points_a[["x", "y"]].to_numpy(), points_b[["x", "y"]].to_numpy()
    scale, rotation, shift = procrustes_transform(xy_b[pairs["index_b"]], xy_a[pairs["index_a"]])
    moved = xy_b @ rotation * scale + shift
    return points_a, points_b.assign(x=moved[:, 0], y=moved[:, 1])


def _umap_aligned(sig_a, sig_b, pairs, params):
    """AlignedUMAP of A and B, ``relations`` = the matched pairs (index in A -> index in B)."""
    import umap

    projector = SignatureProjector(params)
    matrices = [projector.vectors(sig_a), projector.vectors(sig_b)]
    n = min(m.shape[0] for m in matrices)
    model = umap.AlignedUMAP(
        n_neighbors=max(2, min(params.n_neighbors, n - 1)), min_dist=params.min_dist, metric="euclidean", random_state=params.seed,
    ).fit(matrices, relations=[dict(zip(pairs["index_a"].tolist(), pairs["index_b"].tolist()))])
    (xy_a, xy_b) = model.embeddings_
    return sig_a.assign(x=xy_a[:, 0], y=xy_a[:, 1]), sig_b.assign(x=xy_b[:, 0], y=xy_b[:, 1])


# ---------------------------------------------------------------------------------------------
# warm-up


def warm_up(*, aligned: bool = False, large: bool = False) -> float:
    """Compile UMAP's numba code (fit + transform, sparse and dense inputs) on small random data.

    UMAP takes exact neighbours below 4,096 points and NN-descent from 4,096 on; each path is
    compiled on its first use. The default compiles the small path (~40 s in a fresh process
    here); ``large=True`` also fits 4,096 points to compile NN-descent (minutes on this loaded
    2-core machine); ``aligned=True`` also compiles AlignedUMAP (the Compare page's ``aligned``
    method). Returns the seconds it took.
    """
    import time

    started = time.perf_counter()
    rng = np.random.default_rng(0)
    k = 4
    for n in (40, 4096) if large else (40,):
        sigs = pd.DataFrame(
            {
                "topk_ids": [rng.choice(60, size=k, replace=False) for _ in range(n)],
                "topk_probs": [np.sort(rng.dirichlet(np.ones(k + 1))[:k])[::-1] for _ in range(n)],
                "embedding": [rng.normal(size=8).astype(np.float32) for _ in range(n)],
            }
        )
        for kind in KINDS:
            params = ProjectionParams(kind=kind, n_neighbors=8, seed=0, vocab_size=60)
            matrix = SignatureProjector(params).vectors(sigs)
            model = _umap(params, n).fit(matrix)
            model.transform(matrix[:3])
    if aligned:
        import umap

        roots = SignatureProjector(ProjectionParams(kind="topk", vocab_size=60)).vectors(sigs.iloc[:40])
        umap.AlignedUMAP(n_neighbors=8, metric="euclidean", random_state=0, n_epochs=20).fit(
            [roots[:20], roots[20:]], relations=[{i: i for i in range(20)}]
        )
    return time.perf_counter() - started


_WARM_UP: threading.Thread | None = None
_WARM_UP_RESULT: dict[str, object] = {}


def _warm_up_recorded(**kwargs: bool) -> None:
    """Run :func:`warm_up`, keeping its seconds or its error for :func:`warm_up_status`."""
    try:
        _WARM_UP_RESULT["seconds"] = warm_up(**kwargs)
    except Exception as exc:  # reported through warm_up_status(); a thread has no caller to raise to
        _WARM_UP_RESULT["error"] = f"{type(exc).__name__}: {exc}"


def warm_up_in_background(*, aligned: bool = False, large: bool = False) -> threading.Thread:
    """Start :func:`warm_up` once per process in a daemon thread and return it (join to wait)."""
    global _WARM_UP
    with _MODELS_LOCK:
        if _WARM_UP is None:
            _WARM_UP = threading.Thread(target=_warm_up_recorded, kwargs={"aligned": aligned, "large": large},
                                        name="memscope-umap-warm-up", daemon=True)
            _WARM_UP.start()
        return _WARM_UP


def warm_up_status() -> dict[str, object]:
    """``{}`` while the background warm-up runs (or never started), then ``{"seconds": s}`` or ``{"error": text}``."""
    return dict(_WARM_UP_RESULT)
