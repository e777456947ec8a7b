"""Survival of cell content: Kaplan-Meier curves of lifetimes, with confidence bands (lifelines).

Input is the store's ``lifecycles`` frame, one row per content life (DESIGN.md lifecycle
convention): ``batch, memory, layer, head, cell, born, died, duration, observed`` (1 = died,
0 = censored at the run's end), ``cause``, ``write_weight``, ``write_gate``.

Each stratum is fitted by lifelines' ``KaplanMeierFitter`` on its raw lives, and two sets are
compared by ``lifelines.statistics.logrank_test``. (Collapsing equal lifetimes into weighted
rows first was measured and gave no speed-up: lifelines already works on the unique times.)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test

from app.figures.notes import add_note

STRATA = ("head", "memory", "layer", "write_strength")
"""Accepted ``stratify_by`` values besides ``None`` (any other column of the frame also works)."""

KM_COLUMNS = ["stratum", "time", "survival", "ci_lower", "ci_upper", "at_risk", "n"]

_PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4d7c0f", "#be185d")


def _strength_bins(weights: pd.Series, strength_bins: int) -> pd.Series:
    """Quantile bins of write weights, labelled with their weight range."""
    if weights.notna().sum() == 0:
        raise ValueError("write_strength needs write weights, and these lives have none")
    bins = pd.qcut(weights.astype(float), q=strength_bins, duplicates="drop")
    names = {iv: f"weight {iv.left:.3g}-{iv.right:.3g}" for iv in bins.cat.categories}
    return bins.cat.rename_categories(names).cat.add_categories("weight unknown").fillna("weight unknown")


def stratum_keys(lifecycles: pd.DataFrame, stratify_by: str | None, *, strength_bins: int = 3) -> tuple[list[pd.Series], Callable[[tuple], str]]:
    """Grouping columns of a stratification and the function naming a group.

    ``head`` -> ``"L{layer} H{head}"`` (memory prefixed when several memories are present);
    ``memory`` -> the memory name; ``write_strength`` -> quantile bins of ``write_weight``
    (``strength_bins`` of them, labelled with their weight range); any other column -> its value.
    Returns ``(keys, name)`` where ``name(values: tuple) -> str``.
    """
    if stratify_by is None:
        return [], lambda values: "all"
    if stratify_by == "head":
        if lifecycles["memory"].nunique() > 1:
            return [lifecycles["memory"], lifecycles["layer"], lifecycles["head"]], lambda v: f"{v[0]} L{v[1]} H{v[2]}"
        return [lifecycles["layer"], lifecycles["head"]], lambda v: f"L{v[0]} H{v[1]}"
    if stratify_by == "write_strength":
        return [_strength_bins(lifecycles["write_weight"], strength_bins).rename("stratum")], lambda v: str(v[0])
    if stratify_by not in lifecycles.columns:
        raise ValueError(f"cannot stratify by {stratify_by!r}: choose one of {', '.join(STRATA)}")
    return [lifecycles[stratify_by]], lambda v: str(v[0])


def km_frame(lifecycles: pd.DataFrame, stratify_by: str | None = None, *, strength_bins: int = 3, alpha: float = 0.05) -> pd.DataFrame:
    """Kaplan-Meier estimate per stratum.

    Returns ``stratum, time, survival, ci_lower, ci_upper, at_risk, n`` with one row per
    distinct time of the stratum's timeline (time 0 included); ``survival`` is S(t),
    ``ci_*`` the ``1 - alpha`` Greenwood (exponential) bands of lifelines, ``at_risk`` the lives
    at risk at ``t`` and ``n`` the stratum's number of lives.
    """
    if lifecycles.empty:
        return pd.DataFrame(columns=KM_COLUMNS)
    keys, name = stratum_keys(lifecycles, stratify_by, strength_bins=strength_bins)
    times = lifecycles[["duration", "observed"]]
    groups = times.groupby(keys, sort=True, observed=True) if keys else [((), times)]
    parts = []
    for values, lives in groups:
        stratum = name(values if isinstance(values, tuple) else (values,))
        kmf = KaplanMeierFitter(alpha=alpha)
        kmf.fit(lives["duration"], lives["observed"], label=stratum)
        sf = kmf.survival_function_.iloc[:, 0]
        ci = kmf.confidence_interval_survival_function_
        at_risk = kmf.event_table["at_risk"].reindex(sf.index)
        parts.append(
            pd.DataFrame(
                {
                    "stratum": stratum,
                    "time": sf.index.to_numpy(np.float64),
                    "survival": sf.to_numpy(),
                    "ci_lower": ci.iloc[:, 0].to_numpy(),
                    "ci_upper": ci.iloc[:, 1].to_numpy(),
                    "at_risk": at_risk.to_numpy(np.float64),
                    "n": len(lives),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _thinned(curve: pd.DataFrame, max_points: int) -> pd.DataFrame:
    """At most ``max_points`` rows of one step curve (evenly spaced, first and last kept)."""
    if len(curve) <= max_points:
        return curve
    keep = np.unique(np.linspace(0, len(curve) - 1, max_points).round().astype(int))
    return curve.iloc[keep]


def survival_traces(curves: pd.DataFrame, *, max_points: int = 2000, name_prefix: str = "", dash: str | None = None) -> list[dict]:
    """Plotly traces (dicts) of a :func:`km_frame` result: per stratum a band and a step line.

    Each stratum contributes three traces (upper band edge, lower edge filled to it, the
    estimate) of at most ``max_points`` points. ``dash`` draws the lines dashed (Compare: B).
    """
    traces = []
    strata = list(dict.fromkeys(curves["stratum"]))
    for i, stratum in enumerate(strata):
        curve = _thinned(curves[curves["stratum"] == stratum], max_points)
        color = _PALETTE[i % len(_PALETTE)] if dash is None else _PALETTE[(i + 1) % len(_PALETTE)]
        group = f"{name_prefix}{stratum}"
        time = curve["time"].to_numpy()
        band = dict(type="scatter", x=time, mode="lines", line=dict(width=0, shape="hv"), showlegend=False, hoverinfo="skip", legendgroup=group)
        traces.append(dict(band, y=curve["ci_upper"].to_numpy(), name=f"{group} upper"))
        traces.append(dict(band, y=curve["ci_lower"].to_numpy(), name=f"{group} lower", fill="tonexty", fillcolor=_rgba(color, 0.18)))
        traces.append(dict(
            type="scatter", x=time, y=curve["survival"].to_numpy(), mode="lines", line=dict(color=color, shape="hv", dash=dash),
            name=f"{group} (n={int(curve['n'].iloc[0]):,})", legendgroup=group, customdata=curve["at_risk"].to_numpy()[:, None],
            hovertemplate="t=%{x}<br>S(t)=%{y:.3f}<br>at risk %{customdata[0]}<extra>" + group + "</extra>",
        ))
    return traces


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def survival_figure(
    lifecycles: pd.DataFrame,
    stratify_by: str | None = None,
    title: str = "Survival of cell content",
    *,
    strength_bins: int = 3,
    alpha: float = 0.05,
    max_points: int = 2000,
    note: str | None = None,
) -> go.Figure:
    """Kaplan-Meier curves (step lines) with ``1 - alpha`` confidence bands, one per stratum.

    Args:
        lifecycles: the store's lifecycles frame.
        stratify_by: ``None``, ``"head"``, ``"memory"``, ``"layer"``, ``"write_strength"`` or a column.
        strength_bins: number of quantile bins of ``write_weight`` for ``"write_strength"``.
        max_points: most points drawn per curve (the estimate itself uses every life).
        note: an extra visible note (e.g. the store's sampling note).
    """
    curves = km_frame(lifecycles, stratify_by, strength_bins=strength_bins, alpha=alpha)
    fig = go.Figure(
        data=survival_traces(curves, max_points=max_points),
        layout=dict(title=dict(text=title), xaxis_title="lifetime (steps)", yaxis_title="S(t): share of content still alive",
                    yaxis=dict(range=[0, 1.02]), margin=dict(t=70)),
    )
    if lifecycles.empty:
        note = "no cell lives in this selection" if note is None else note
    return add_note(fig, note)


def logrank(lifecycles_a: pd.DataFrame, lifecycles_b: pd.DataFrame) -> tuple[float, float]:
    """Log-rank test that two sets of lives share one survival function: ``(statistic, p_value)``."""
    if lifecycles_a.empty or lifecycles_b.empty:
        raise ValueError("the log-rank test needs lives in both sets")
    a, b = lifecycles_a, lifecycles_b
    result = logrank_test(a["duration"], b["duration"], a["observed"], b["observed"])
    return float(result.test_statistic), float(result.p_value)
