"""Signature projection: vectors, divergences, matching, Procrustes, and UMAP fits (cached).

The UMAP tests share one xdist group so that only one worker pays numba's compilation.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from app.projection import (
    ProjectionError,
    ProjectionParams,
    SignatureProjector,
    aligned_projection,
    clear_model_cache,
    hellinger_distances,
    match_signatures,
    procrustes_transform,
    topk_matrix,
    warm_up_in_background,
    warm_up_status,
)


def clustered_signatures(n_per: int, clusters: int = 3, seed: int = 0, k: int = 5) -> pd.DataFrame:
    """Top-k signatures in ``clusters`` groups; group c draws its tokens from ids [40c, 40c + 8)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(clusters):
        for i in range(n_per):
            ids = 40 * c + rng.choice(8, size=k, replace=False)
            probs = np.sort(rng.dirichlet(np.full(k + 1, 4.0))[:k])[::-1]
            rows.append({"moment_id": len(rows), "step": len(rows), "trigger": f"c{c}", "cluster": c, "entropy": float(c),
                         "topk_ids": ids.astype(np.int32), "topk_probs": probs.astype(np.float32),
                         "embedding": (rng.normal(size=6) + 8.0 * c).astype(np.float32), "context_text": f"ctx {c} {i}"})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------ no UMAP needed


def test_topk_matrix_holds_probabilities_and_the_rest_mass():
    sigs = pd.DataFrame({"topk_ids": [np.array([2, 0]), np.array([1, 9])], "topk_probs": [np.array([0.5, 0.25]), np.array([0.6, 0.2])]})
    dense = topk_matrix(sigs["topk_ids"], sigs["topk_probs"], width=4).toarray()
    np.testing.assert_allclose(dense[0], [0.25, 0.0, 0.5, 0.0, 0.25])
    np.testing.assert_allclose(dense[1], [0.0, 0.6, 0.0, 0.0, 0.4])  # id 9 >= width joins the rest mass
    np.testing.assert_allclose(dense.sum(axis=1), 1.0, rtol=1e-6)


def test_topk_matrix_refuses_missing_distributions():
    with pytest.raises(ProjectionError, match="no top-k"):
        topk_matrix(pd.Series([np.array([1]), None]), pd.Series([np.array([1.0]), None]), width=3)


def test_hellinger_distances_match_the_formula():
    rng = np.random.default_rng(1)
    sigs = clustered_signatures(4, seed=1)
    m = topk_matrix(sigs["topk_ids"], sigs["topk_probs"], width=120)
    dist = hellinger_distances(m, m)
    p, q = m[0].toarray().ravel(), m[5].toarray().ravel()
    assert dist[0, 5] == pytest.approx(np.sqrt(1 - np.sum(np.sqrt(p * q))), abs=1e-6)
    assert np.allclose(np.diag(dist), 0.0, atol=1e-3)
    assert dist[0, 11] > dist[0, 1]  # other cluster is farther
    del rng


def test_umap_vectors_keep_hellinger_distances():
    sigs = clustered_signatures(3, seed=11)
    projector = SignatureProjector(ProjectionParams(kind="topk", vocab_size=120))
    roots = projector.vectors(sigs).toarray()
    m = topk_matrix(sigs["topk_ids"], sigs["topk_probs"], width=120)
    euclid = np.linalg.norm(roots[:, None] - roots[None], axis=-1)
    np.testing.assert_allclose(euclid / np.sqrt(2), hellinger_distances(m, m), atol=1e-3)


def test_match_signatures_pairs_equal_moments_and_leaves_others():
    a = clustered_signatures(3, clusters=2, seed=2)
    b = pd.concat([a.iloc[[4, 1]], clustered_signatures(2, clusters=1, seed=3).assign(topk_ids=lambda f: f["topk_ids"] + 200)], ignore_index=True)
    pairs = match_signatures(a, b, max_divergence=0.1)
    assert sorted(zip(pairs["index_a"], pairs["index_b"])) == [(1, 1), (4, 0)]
    assert np.allclose(pairs["divergence"], 0.0, atol=1e-3)


def test_procrustes_recovers_a_similarity_transform():
    rng = np.random.default_rng(4)
    source = rng.normal(size=(20, 2))
    angle = 0.7
    rotation = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    target = source @ rotation * 2.5 + np.array([3.0, -1.0])
    scale, found, shift = procrustes_transform(source, target)
    np.testing.assert_allclose(source @ found * scale + shift, target, atol=1e-9)
    assert scale == pytest.approx(2.5)


def test_too_few_signatures_are_refused_in_one_line():
    with pytest.raises(ProjectionError, match="at least 4"):
        SignatureProjector().fit(clustered_signatures(1, clusters=3))


# ------------------------------------------------------------------------ UMAP (one worker)


def neighbour_purity(points: pd.DataFrame) -> float:
    xy = points[["x", "y"]].to_numpy()
    d = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    return float((points["cluster"].to_numpy()[d.argmin(axis=1)] == points["cluster"].to_numpy()).mean())


@pytest.mark.slow
@pytest.mark.xdist_group("umap")
def test_warm_up_runs_once_in_the_background():
    thread = warm_up_in_background()
    assert warm_up_in_background() is thread
    thread.join(timeout=300)
    assert not thread.is_alive()
    status = warm_up_status()
    assert "error" not in status and status["seconds"] > 0


@pytest.mark.slow
@pytest.mark.xdist_group("umap")
def test_topk_projection_separates_clusters_places_new_points_and_caches(tmp_path):
    sigs = clustered_signatures(25, seed=5)
    params = ProjectionParams(kind="topk", n_neighbors=10, seed=3)
    projector = SignatureProjector(params, cache_dir=tmp_path)
    points = projector.fit(sigs)
    assert projector.note is None and not projector.from_disk
    assert neighbour_purity(points) > 0.95
    # a new signature of cluster 2 lands among cluster 2
    new = clustered_signatures(2, seed=99).iloc[[4, 5]]
    placed = projector.transform(new)
    centroids = points.groupby("cluster")[["x", "y"]].mean().to_numpy()
    assert all(np.linalg.norm(centroids - xy, axis=1).argmin() == 2 for xy in placed)
    # stored on disk with parameters and seed; a second projector reads it back
    (meta_path,) = tmp_path.glob("projection-*.json")
    meta = json.loads(meta_path.read_text())
    assert meta["params"]["seed"] == 3 and meta["distance"] == "hellinger" and meta["n_points"] == 75
    again = SignatureProjector(params, cache_dir=tmp_path)
    np.testing.assert_array_equal(again.fit(sigs)[["x", "y"]].to_numpy(), points[["x", "y"]].to_numpy())
    assert again.from_disk
    # restored from disk without a model in memory: transform refits (same seed, same placement)
    clear_model_cache()
    np.testing.assert_allclose(again.transform(new), placed, atol=1e-4)
    other_seed = SignatureProjector(ProjectionParams(kind="topk", n_neighbors=10, seed=4), cache_dir=tmp_path)
    other_seed.fit(sigs)
    assert other_seed.key != projector.key and not other_seed.from_disk


@pytest.mark.slow
@pytest.mark.xdist_group("umap")
def test_embedding_projection_samples_large_sets_with_a_note():
    sigs = clustered_signatures(30, seed=6)
    projector = SignatureProjector(ProjectionParams(kind="embedding", n_neighbors=8, seed=0, max_points=60))
    points = projector.fit(sigs)
    assert len(points) == 60
    assert projector.note == "showing 60 of 90 signatures"
    assert neighbour_purity(points) > 0.95


def matched_distance(pa: pd.DataFrame, pb: pd.DataFrame) -> float:
    """Mean distance between the two placements of each moment (same moment_id in A and B)."""
    merged = pa.merge(pb, on="moment_id", suffixes=("_a", "_b"))
    return float(np.linalg.norm(merged[["x_a", "y_a"]].to_numpy() - merged[["x_b", "y_b"]].to_numpy(), axis=1).mean())


@pytest.mark.slow
@pytest.mark.xdist_group("umap")
def test_joint_and_procrustes_alignment_share_coordinates():
    a = clustered_signatures(20, seed=7)
    b = a.sample(frac=1.0, random_state=1).reset_index(drop=True)  # same moments, other order: another fit
    params = ProjectionParams(kind="topk", n_neighbors=10, seed=0)
    ja, jb, note = aligned_projection(a, b, params, method="joint")
    assert len(ja) == len(a) and len(jb) == len(b) and note is None
    assert neighbour_purity(pd.concat([ja, jb])) > 0.95  # one coordinate system: same clusters overlap
    separate = matched_distance(SignatureProjector(params).fit(a), SignatureProjector(params).fit(b))
    pa, pb, note = aligned_projection(a, b, params, method="procrustes")
    assert note == "aligned on 60 matched signatures"
    assert pa[["x", "y"]].equals(SignatureProjector(params).fit(a)[["x", "y"]])  # A stays put
    assert matched_distance(pa, pb) < 0.6 * separate  # B moved onto A


@pytest.mark.slow
@pytest.mark.xdist_group("umap")
def test_aligned_umap_puts_matched_moments_together():
    a = clustered_signatures(12, seed=8)
    b = pd.concat([a.sample(frac=1.0, random_state=2), clustered_signatures(4, clusters=1, seed=9).assign(moment_id=lambda f: f["moment_id"] + 1000, topk_ids=lambda f: f["topk_ids"] + 300)], ignore_index=True)
    params = ProjectionParams(kind="topk", n_neighbors=8, seed=0)
    pa, pb, note = aligned_projection(a, b, params, method="aligned")
    assert note == "aligned on 36 matched signatures"  # the 4 new moments of B match nothing
    spread = np.ptp(pa[["x", "y"]].to_numpy(), axis=0).max()
    assert matched_distance(pa, pb) < 0.15 * spread


@pytest.mark.slow
@pytest.mark.xdist_group("umap")
def test_alignment_without_matches_falls_back_to_the_joint_fit():
    a = clustered_signatures(3, seed=10)
    b = a.assign(topk_ids=a["topk_ids"] + 500)
    pa, pb, note = aligned_projection(a, b, ProjectionParams(n_neighbors=5), method="procrustes")
    assert note == "only 0 matched signatures: fitted jointly instead"
    assert len(pa) == len(pb) == 9
