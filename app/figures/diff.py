"""Compare page: difference views of two runs (A and B) on the same input.

- :func:`occupancy_frame` + :func:`heatmap_diff_figure`: where and when each run's cells held
  live content, and A minus B on one diverging heatmap.
- :func:`survival_compare_figure`: both runs' Kaplan-Meier curves on one plot, with the
  log-rank test in the title.
- :func:`metric_overlay_figure`: accuracy-vs-distance (or any metric) curves of both runs.
- :func:`moment_overlap_figure`: stored moments of both runs matched by divergence.
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.figures.curves import curve_frame
from app.figures.heatmap import heatmap_grid
from app.figures.notes import add_note, sampling_note
from app.figures.survival import km_frame, logrank, survival_traces
from app.projection import match_signatures

_PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f", "#be185d")


def occupancy_frame(lifecycles: pd.DataFrame, *, n_steps: int, cell_bin: int = 1, step_bin: int = 1) -> pd.DataFrame:
    """Share of cells holding live content: ``cell, step, value`` on (cell, step) bins.

    A life occupies its cell from ``born`` (inclusive) to ``died`` (exclusive; censored lives to
    ``n_steps``). It is sampled at each step bin's first step, so ``value`` is the share of the
    ``cell_bin`` cells of a bin (times the number of memory/layer/head/batch groups in the
    frame) alive at that step, in ``[0, 1]``.
    """
    if lifecycles.empty:
        return pd.DataFrame({"cell": pd.Series(dtype=np.int64), "step": pd.Series(dtype=np.int64), "value": pd.Series(dtype=np.float64)})
    group_cols = [c for c in ("batch", "memory", "layer", "head") if c in lifecycles]
    n_groups = max(1, len(lifecycles[group_cols].drop_duplicates())) if group_cols else 1
    samples = np.arange(0, n_steps, step_bin, dtype=np.int64)
    born = lifecycles["born"].to_numpy(np.int64)
    died = np.where(lifecycles["observed"].to_numpy() == 1, lifecycles["died"].fillna(n_steps).to_numpy(np.float64), n_steps).astype(np.int64)
    first = np.searchsorted(samples, born, side="left")
    stop = np.searchsorted(samples, died, side="left")
    cell_idx = lifecycles["cell"].to_numpy(np.int64) // cell_bin
    c0 = int(cell_idx.min())
    n_cell_bins = int(cell_idx.max()) - c0 + 1
    counts = np.zeros((n_cell_bins, len(samples) + 1), dtype=np.float64)
    np.add.at(counts, (cell_idx - c0, first), 1.0)
    np.add.at(counts, (cell_idx - c0, stop), -1.0)
    alive = np.cumsum(counts, axis=1)[:, : len(samples)] / (cell_bin * n_groups)
    cells = (np.arange(n_cell_bins) + c0) * cell_bin
    return pd.DataFrame({"cell": np.repeat(cells, len(samples)), "step": np.tile(samples, n_cell_bins), "value": alive.ravel()})


def heatmap_diff_frame(frame_a: pd.DataFrame, frame_b: pd.DataFrame, *, cell_bin: int, step_bin: int) -> pd.DataFrame:
    """``cell, step, value_a, value_b, value`` (= A - B) on the union of both frames' bins.

    Both frames must use the same ``cell_bin``/``step_bin`` (query both runs with the same
    bins); a bin missing from one frame counts as 0.
    """
    def binned(frame: pd.DataFrame) -> pd.DataFrame:
        key = pd.DataFrame({"cell": frame["cell"] // cell_bin * cell_bin, "step": frame["step"] // step_bin * step_bin, "value": frame["value"]})
        return key.groupby(["cell", "step"])["value"].sum()

    both = pd.concat([binned(frame_a).rename("value_a"), binned(frame_b).rename("value_b")], axis=1).fillna(0.0)
    both["value"] = both["value_a"] - both["value_b"]
    return both.reset_index()


def heatmap_diff_figure(
    frame_a: pd.DataFrame,
    frame_b: pd.DataFrame,
    *,
    cell_bin: int,
    step_bin: int,
    labels: tuple[str, str] = ("A", "B"),
    title: str = "Cell occupancy, A - B",
    value_label: str = "occupancy",
    note: str | None = None,
) -> go.Figure:
    """Diverging heatmap of A - B (blue: more in A, red: more in B, white: equal).

    Inputs are two heatmap frames ``cell, step, value`` with the same bins, e.g. two
    :func:`occupancy_frame` results or two ``TraceStore.heatmap`` frames.
    """
    diff = heatmap_diff_frame(frame_a, frame_b, cell_bin=cell_bin, step_bin=step_bin)
    cells, steps, z = heatmap_grid(diff, cell_bin=cell_bin, step_bin=step_bin)
    bound = float(np.nanmax(np.abs(z))) if z.size else 1.0
    bound = bound or 1.0
    a, b = (html.escape(x) for x in labels)
    fig = go.Figure(
        go.Heatmap(
            z=z, x=steps, y=cells, zmid=0.0, zmin=-bound, zmax=bound, colorscale="RdBu",
            colorbar=dict(title=dict(text=f"{value_label}<br>{a} - {b}")), name="difference",
            hovertemplate=f"step %{{x}}<br>cell %{{y}}<br>{a} - {b}: %{{z:.3g}}<extra></extra>",
        )
    )
    fig.update_layout(
        title=dict(text=title), margin=dict(t=70),
        xaxis_title="step" if step_bin == 1 else f"step (bins of {step_bin})",
        yaxis_title="cell" if cell_bin == 1 else f"cell (bins of {cell_bin})",
    )
    return add_note(fig, note)


def survival_compare_figure(
    lifecycles_a: pd.DataFrame,
    lifecycles_b: pd.DataFrame,
    *,
    labels: tuple[str, str] = ("A", "B"),
    title: str = "Survival of cell content",
    max_points: int = 2000,
) -> go.Figure:
    """Both runs' Kaplan-Meier curves (B dashed) with bands; the log-rank test in the title."""
    traces = []
    for lives, label, dash in ((lifecycles_a, labels[0], None), (lifecycles_b, labels[1], "dash")):
        curves = km_frame(lives)
        curves["stratum"] = label
        traces += survival_traces(curves, max_points=max_points, dash=dash)
    fig = go.Figure(data=traces)
    if not lifecycles_a.empty and not lifecycles_b.empty:
        statistic, p_value = logrank(lifecycles_a, lifecycles_b)
        title = f"{title}<br><sup>log-rank test: chi2 = {statistic:.3g}, p = {p_value:.3g}</sup>"
        note = None
    else:
        note = "the log-rank test needs lives in both runs"
    fig.update_layout(title=dict(text=title), xaxis_title="lifetime (steps)", yaxis_title="S(t)", yaxis=dict(range=[0, 1.02]), margin=dict(t=90))
    return add_note(fig, note)


def metric_overlay_figure(
    metrics_a: pd.DataFrame,
    metrics_b: pd.DataFrame,
    name: str = "accuracy",
    *,
    labels: tuple[str, str] = ("A", "B"),
    by: str = "series",
    x_label: str = "distance",
) -> go.Figure:
    """Curves of metric ``name`` of both runs on one plot: same colour per series, B dashed."""
    fig = go.Figure()
    curves = [curve_frame(metrics_a, name, by=by), curve_frame(metrics_b, name, by=by)]
    groups = sorted(set(curves[0]["group"]) | set(curves[1]["group"]))
    color = {g: _PALETTE[i % len(_PALETTE)] for i, g in enumerate(groups)}
    for frame, label, dash in ((curves[0], labels[0], None), (curves[1], labels[1], "dash")):
        for group, rows in frame.groupby("group", sort=True):
            fig.add_trace(
                go.Scatter(
                    x=rows["x"], y=rows["value"], mode="lines+markers", name=f"{label}: {group}",
                    line=dict(color=color[group], dash=dash),
                    hovertemplate=f"{x_label} %{{x}}<br>{name} %{{y:.4g}}<extra>{html.escape(label)}: {html.escape(str(group))}</extra>",
                )
            )
    fig.update_layout(title=dict(text=f"{name} vs {x_label}"), xaxis_title=x_label, yaxis_title=name, margin=dict(t=70))
    empty = [lbl for lbl, c in zip(labels, curves) if c.empty]
    return add_note(fig, f"no {name!r} metric in {' and '.join(empty)}" if empty else None)


def _sampled(frame: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    if len(frame) <= limit:
        return frame
    rng = np.random.default_rng(seed)
    return frame.iloc[np.sort(rng.choice(len(frame), size=limit, replace=False))]


def moment_overlap(sig_a: pd.DataFrame, sig_b: pd.DataFrame, *, max_divergence: float = 0.25, limit: int = 3000, seed: int = 0) -> tuple[pd.DataFrame, dict, str | None]:
    """Stored moments of A and B matched by divergence (:func:`app.projection.match_signatures`).

    Returns ``(pairs, counts, note)``: ``pairs`` has ``step_a, step_b, divergence, moment_id_a,
    moment_id_b``; ``counts`` ``{"only A", "both", "only B", "jaccard"}``; each run is sampled
    to ``limit`` moments (noted) because matching compares every pair.
    """
    a, b = _sampled(sig_a, limit, seed), _sampled(sig_b, limit, seed)
    notes = [n for n in (sampling_note(len(a), len(sig_a), "moments of A"), sampling_note(len(b), len(sig_b), "moments of B")) if n]
    matched = match_signatures(a, b, max_divergence=max_divergence)
    pairs = pd.DataFrame(
        {
            "step_a": a["step"].to_numpy()[matched["index_a"]],
            "step_b": b["step"].to_numpy()[matched["index_b"]],
            "divergence": matched["divergence"].to_numpy(),
            "moment_id_a": a["moment_id"].to_numpy()[matched["index_a"]],
            "moment_id_b": b["moment_id"].to_numpy()[matched["index_b"]],
        }
    )
    both = len(pairs)
    union = len(a) + len(b) - both
    counts = {"only A": len(a) - both, "both": both, "only B": len(b) - both, "jaccard": both / union if union else 0.0}
    return pairs, counts, "; ".join(notes) or None


def moment_overlap_figure(
    sig_a: pd.DataFrame,
    sig_b: pd.DataFrame,
    *,
    labels: tuple[str, str] = ("A", "B"),
    max_divergence: float = 0.25,
    limit: int = 3000,
) -> go.Figure:
    """Left: how many stored moments are only in A, in both, only in B. Right: matched pairs,
    step in A against step in B, coloured by their divergence (on the diagonal: same place)."""
    pairs, counts, note = moment_overlap(sig_a, sig_b, max_divergence=max_divergence, limit=limit)
    a, b = (html.escape(x) for x in labels)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.35, 0.65], subplot_titles=("stored moments", "matched moments"))
    fig.add_trace(
        go.Bar(x=[f"only {a}", "both", f"only {b}"], y=[counts["only A"], counts["both"], counts["only B"]],
               marker_color=["#2563eb", "#6b7280", "#dc2626"], name="moments", showlegend=False,
               hovertemplate="%{x}: %{y}<extra></extra>"),
        row=1, col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=pairs["step_a"], y=pairs["step_b"], mode="markers", name="matched", showlegend=False,
            marker=dict(color=pairs["divergence"], colorscale="Viridis", cmin=0.0, cmax=max_divergence, size=7,
                        colorbar=dict(title=dict(text="Hellinger"), x=1.02)),
            customdata=pairs[["moment_id_a", "moment_id_b", "divergence"]].to_numpy(),
            hovertemplate=f"{a} step %{{x}} (moment %{{customdata[0]}})<br>{b} step %{{y}} (moment %{{customdata[1]}})<br>divergence %{{customdata[2]:.3f}}<extra></extra>",
        ),
        row=1, col=2,
    )
    fig.update_xaxes(title_text=f"step in {a}", row=1, col=2)
    fig.update_yaxes(title_text=f"step in {b}", row=1, col=2)
    fig.update_layout(title=dict(text=f"Overlap of stored moments (Jaccard {counts['jaccard']:.2f}, Hellinger <= {max_divergence:g})"), margin=dict(t=90))
    return add_note(fig, note)
