"""Shared panel rendering: each view of a run as an ``st.fragment`` with its own controls.

A panel reads its data through :mod:`app.cache` (cached store queries), builds its figure with the
pure builders of :mod:`app.figures`, shows it with a caption that explains what is drawn, and
offers the figure as PNG and SVG and its data as CSV. Every panel is a fragment: changing a
panel's own control (the heatmap's value, the survival strata, the what-if threshold) reruns that
panel only. The time cursor is an argument: a page that moves it reruns every panel, and each
panel shows the run *up to the cursor*.
"""

from __future__ import annotations

import functools
import io
import logging
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app import cache
from app.figures import curves, heatmap, survival, timeline, tokens
from tracing.errors import TraceError

LOG = logging.getLogger("memscope.app")

HEATMAP_VALUES = ("write", "read", "update", "erase", "evict", "decay", "merge", "prune", "resonance", "usage", "age", "norm")
TIMELINE_METRICS = ("entropy", "surprisal", "kl")
SURVIVAL_STRATA = {"none": None, "head": "head", "memory": "memory", "write strength": "write_strength"}


@dataclass(frozen=True)
class RunRef:
    """One run of one trace file, as every panel addresses it."""

    path: str
    run_id: str
    label: str = ""


# -- errors: a message that says what to do, never a traceback ---------------------------------


def explain(exc: Exception) -> str:
    """One line for the user: the trace error's own advice, or what failed and what to try."""
    if isinstance(exc, TraceError):
        return str(exc)
    if isinstance(exc, (FileNotFoundError, PermissionError)):
        return f"{exc.strerror or type(exc).__name__}: {exc.filename}. Check the path and its permissions."
    message = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {message}. Check the inputs of this view; the server log has the details."


def guarded(body: Callable[..., None]) -> Callable[..., None]:
    """Run a page or panel body; any exception becomes an ``st.error`` (logged with its traceback)."""

    @functools.wraps(body)
    def run(*args, **kwargs) -> None:
        try:
            body(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the app shows every failure as a message
            LOG.warning("%s failed", body.__name__, exc_info=True)
            st.error(explain(exc), icon=":material/error:")

    return run


# -- figure + downloads --------------------------------------------------------------------------


def show_figure(fig: go.Figure, data: pd.DataFrame, *, name: str, caption: str, key: str) -> None:
    """The figure, a caption saying what it shows, and PNG / SVG / CSV download buttons.

    PNG and SVG are rendered by kaleido only when their button is clicked (deferred download).
    """
    from app.exports import figure_png, figure_svg, frame_csv

    st.plotly_chart(fig, key=f"{key}-chart", config={"displaylogo": False})
    st.caption(caption)
    png, svg, csv = st.columns(3)
    png.download_button(
        "PNG", data=lambda: figure_png(fig), file_name=f"{name}.png", mime="image/png",
        key=f"{key}-png", on_click="ignore", icon=":material/image:", width="stretch",
    )
    svg.download_button(
        "SVG", data=lambda: figure_svg(fig), file_name=f"{name}.svg", mime="image/svg+xml",
        key=f"{key}-svg", on_click="ignore", icon=":material/draw:", width="stretch",
    )
    csv.download_button(
        "CSV", data=frame_csv(data), file_name=f"{name}.csv", mime="text/csv",
        key=f"{key}-csv", on_click="ignore", icon=":material/table:", width="stretch",
    )


def run_parquet_zip(ref: RunRef) -> bytes:
    """One run as a zip of hive-partitioned Parquet files (``tracing.parquet.export_runs``), in memory."""
    from tracing.parquet import export_runs

    with tempfile.TemporaryDirectory() as tmp:
        export_runs(ref.path, [ref.run_id], tmp)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(Path(tmp).rglob("*")):
                if file.is_file():
                    archive.write(file, file.relative_to(tmp))
        return buffer.getvalue()


def run_parquet_button(ref: RunRef, *, key: str) -> None:
    """A button that downloads the run as Parquet (built only when clicked)."""
    st.download_button(
        "Download run as Parquet (zip)", data=lambda: run_parquet_zip(ref), file_name=f"{ref.run_id}-parquet.zip",
        mime="application/zip", key=f"{key}-parquet", on_click="ignore", icon=":material/download:",
    )


def _slug(ref: RunRef, view: str) -> str:
    return f"{Path(ref.path).stem}-{ref.run_id}-{view}"


# -- cursor helpers (pure) ----------------------------------------------------------------------


def lifecycles_until(lifecycles: pd.DataFrame, cursor: int | None) -> pd.DataFrame:
    """Cell lifetimes as they stood at step ``cursor``: later births dropped, later deaths censored.

    Same convention as the store: a censored life has ``died`` = the censoring step, ``observed`` 0.
    """
    if cursor is None or lifecycles.empty:
        return lifecycles
    frame = lifecycles[lifecycles["born"] <= cursor].copy()
    alive = frame["died"].isna() | (frame["died"] > cursor) | (frame["observed"] == 0)
    frame.loc[alive, "died"] = cursor
    frame.loc[alive, "observed"] = 0
    frame.loc[alive, "duration"] = cursor - frame.loc[alive, "born"]
    if "cause" in frame.columns:
        frame.loc[alive, "cause"] = "censored"
    return frame


TOKEN_WINDOW = 400


def token_window(steps: pd.DataFrame, cursor: int | None, size: int | None = None) -> pd.DataFrame:
    """At most ``size`` (default :data:`TOKEN_WINDOW`) consecutive tokens, centred on the cursor
    (the last ones without a cursor)."""
    size = size or TOKEN_WINDOW
    if len(steps) <= size:
        return steps
    at = len(steps) - 1 if cursor is None else int(steps["step"].searchsorted(cursor))
    start = max(0, min(len(steps) - size, at - size // 2))
    return steps.iloc[start : start + size]


def spaced_tokens(steps: pd.DataFrame) -> pd.DataFrame:
    """Task tokens (``t17``, ...) carry no spaces; give them one so the strip wraps and reads."""
    text = steps["token_text"].fillna("").astype(str)
    if len(text) and not text.str.contains(r"\s").any():
        return steps.assign(token_text=text + " ")
    return steps


def add_cursor_line(fig: go.Figure, cursor: int | None) -> go.Figure:
    """A dashed vertical line at the cursor's step (on the x axis of step-based figures)."""
    if cursor is not None:
        fig.add_vline(x=cursor, line_dash="dash", line_color="#d62728", annotation_text=f"step {cursor}")
    return fig


# -- the views ------------------------------------------------------------------------------------


@st.fragment
@guarded
def tokens_panel(ref: RunRef, cursor: int | None, *, key: str) -> None:
    """The run's tokens, each coloured by surprisal or entropy, the cursor's token outlined."""
    steps = cache.query(ref.path, "timeline", run_id=ref.run_id)
    if steps.empty:
        st.info("This run recorded no per-token steps (task models record memory events only).")
        return
    color_by = st.segmented_control(
        "Colour tokens by", ["surprisal", "entropy"], default="surprisal", key=f"{key}-color", required=True
    )
    shown = spaced_tokens(token_window(steps, cursor))
    st.html(tokens.tokens_html(shown, color_by=color_by, cursor=cursor, dim_after_cursor=cursor is not None))
    if len(shown) < len(steps):
        st.caption(f"Showing tokens {int(shown['step'].iloc[0])}-{int(shown['step'].iloc[-1])} of {len(steps)} "
                   "(a window around the cursor).")
    if cursor is not None:
        at = steps[steps["step"] == cursor]
        if len(at):
            row = at.iloc[0]
            st.caption(
                f"Cursor at step {cursor}: token {row['token_text']!r}, surprisal {row['surprisal']:.2f} nats, "
                f"entropy {row['entropy']:.2f} nats."
            )


@st.fragment
@guarded
def timeline_panel(ref: RunRef, cursor: int | None, *, key: str) -> None:
    """Entropy / surprisal / KL along the tokens with memory-event glyph rows and a what-if threshold."""
    steps = cache.query(ref.path, "timeline", run_id=ref.run_id)
    counts = cache.query(ref.path, "event_counts", run_id=ref.run_id)
    if steps.empty and counts.empty:
        st.info("Nothing recorded yet for this run: no steps and no memory events.")
        return
    has_signals = len(steps) > 0 and steps[list(TIMELINE_METRICS)].notna().any().any()
    metric, threshold = "entropy", None
    if has_signals:
        metric_col, threshold_col = st.columns([1, 2])
        metric = metric_col.selectbox("Signal", TIMELINE_METRICS, key=f"{key}-metric")
    values = steps[metric].dropna() if has_signals else pd.Series(dtype=float)
    if len(values):
        low, high = float(values.min()), float(values.max())
        if high > low:
            threshold = threshold_col.slider(
                "What-if threshold", low, high, float(values.quantile(0.9)), key=f"{key}-threshold",
                help="Recounts, in SQL over the recorded steps, which moments this threshold would have stored.",
            )
    would = (
        cache.query(ref.path, "whatif", run_id=ref.run_id, column=metric, threshold=threshold)
        if threshold is not None else None
    )
    fig = timeline.timeline_figure(
        steps, counts, metric=metric, threshold=threshold, cursor=cursor,
        whatif_steps=None if would is None else would["step"],
    )
    show_figure(
        fig, steps.drop(columns=[c for c in ("topk_ids", "topk_probs") if c in steps]),
        name=_slug(ref, "timeline"), key=f"{key}-timeline",
        caption=(
            f"{metric} per token (nats) with the what-if threshold as a horizontal line; below, one glyph row "
            "per memory operation (write, read, resonance, evict...) and the steps the threshold would store."
            if has_signals else
            "One glyph row per memory operation (write, read, update, evict...) along the steps; this run "
            "recorded no next-token distributions, so there are no entropy or surprisal lines."
        ),
    )
    if would is not None:
        stored = cache.query(ref.path, "signatures", run_id=ref.run_id)
        st.metric(
            f"Moments a {metric} threshold of {threshold:.2f} would store",
            len(would), delta=len(would) - len(stored), delta_color="off",
            help=f"The run stored {len(stored)} moments with its own detector settings.",
        )


def _heatmap_choices(ref: RunRef) -> tuple[list[str], pd.DataFrame]:
    """Values present in the run (ops with events, plus cell-state values) and its (memory, layer, head)."""
    counts = cache.query(ref.path, "event_counts", run_id=ref.run_id)
    ops = set(counts["op"]) if len(counts) else set()
    always = ("write", "read", "usage", "age", "norm")  # stable choices while a live run grows
    values = [v for v in HEATMAP_VALUES if v in ops or v in always]
    lifecycles = cache.query(ref.path, "lifecycles", run_id=ref.run_id)
    groups = (
        lifecycles[["memory", "layer", "head"]].drop_duplicates().sort_values(["memory", "layer", "head"])
        if len(lifecycles) else pd.DataFrame(columns=["memory", "layer", "head"])
    )
    return values, groups


@st.fragment
@guarded
def heatmap_panel(ref: RunRef, cursor: int | None, *, key: str) -> None:
    """Cells x steps of one operation (event count) or one cell state (age, usage, norm)."""
    values, groups = _heatmap_choices(ref)
    value_col, memory_col, layer_col, head_col = st.columns(4)
    value = value_col.selectbox("Value", values, key=f"{key}-value")
    memories = sorted(groups["memory"].unique()) if len(groups) else []
    memory = memory_col.selectbox("Memory", ["all", *memories], key=f"{key}-memory")
    scoped = groups[groups["memory"] == memory] if memory != "all" else groups
    layers = sorted(int(v) for v in scoped["layer"].unique()) if len(scoped) else []
    layer = layer_col.selectbox("Layer", ["all", *layers], key=f"{key}-layer")
    scoped = scoped[scoped["layer"] == layer] if layer != "all" else scoped
    heads = sorted(int(v) for v in scoped["head"].unique()) if len(scoped) else []
    head = head_col.selectbox("Head", ["all", *heads], key=f"{key}-head")
    result = cache.query(
        ref.path, "heatmap", run_id=ref.run_id, value=value,
        memory=None if memory == "all" else memory,
        layer=None if layer == "all" else int(layer),
        head=None if head == "all" else int(head),
    )
    if result.frame.empty:
        st.info(f"No {value!r} data in this run for the chosen memory, layer and head.")
        return
    note = heatmap.heatmap_note(result)
    label = "events" if value in HEATMAP_VALUES[:9] else value
    fig = heatmap.heatmap_figure(
        result.frame, cell_bin=result.cell_bin, step_bin=result.step_bin,
        title=f"{value} per cell and step ({memory})", value_label=label, note=note,
        fill=float("nan") if value in ("usage", "age", "norm") else 0.0,
    )
    add_cursor_line(fig, cursor)
    show_figure(
        fig, result.frame, name=_slug(ref, f"heatmap-{value}"), key=f"{key}-heatmap",
        caption=(
            "Each row is a memory cell (a slot, a fast-weight write or a stored moment), each column a step; "
            f"colour = {label}. Aggregated in SQL" + (f"; {note}." if note else ".")
        ),
    )


@st.fragment
@guarded
def survival_panel(ref: RunRef, cursor: int | None, *, key: str) -> None:
    """Kaplan-Meier curves of cell-content lifetimes, censored at the cursor, optionally stratified."""
    lifecycles = cache.query(ref.path, "lifecycles", run_id=ref.run_id)
    lifecycles = lifecycles_until(lifecycles, cursor)
    if lifecycles.empty:
        st.info("No content was written to memory up to this step, so there are no lifetimes yet.")
        return
    strata = st.segmented_control(
        "Stratify by", list(SURVIVAL_STRATA), default="none", key=f"{key}-strata", required=True
    )
    fig = survival.survival_figure(
        lifecycles, stratify_by=SURVIVAL_STRATA[strata], title="Survival of memory content"
    )
    died = int(lifecycles["observed"].sum())
    show_figure(
        fig, lifecycles, name=_slug(ref, "survival"), key=f"{key}-survival",
        caption=(
            f"Kaplan-Meier estimate (95% band) of how long written content survives before it is overwritten, "
            f"evicted, decayed, merged or pruned: {len(lifecycles)} lifetimes, {died} ended, "
            f"{len(lifecycles) - died} still alive (censored) at step {cursor if cursor is not None else 'end'}."
        ),
    )


@st.fragment
@guarded
def moments_panel(ref: RunRef, cursor: int | None, *, key: str) -> None:
    """The stored moments (signatures) and the resonance hits up to the cursor, as tables."""
    moments = cache.query(ref.path, "signatures", run_id=ref.run_id)
    hits = cache.query(ref.path, "events", run_id=ref.run_id, op="resonance")
    if cursor is not None:
        moments = moments[moments["step"] <= cursor]
        hits = hits[hits["step"] <= cursor]
    left, right = st.columns(2)
    with left:
        st.markdown(f"**Stored moments** ({len(moments)})")
        columns = [c for c in ("moment_id", "step", "trigger", "entropy", "kl", "surprisal", "context_text") if c in moments]
        st.dataframe(moments[columns], hide_index=True, height=240, key=f"{key}-moments")
        st.caption("A moment is stored when its detector fires (entropy spike or dip, surprisal, KL, or a pin).")
    with right:
        st.markdown(f"**Resonance hits** ({len(hits)})")
        hits_view = hits.rename(columns={"cell": "moment_id", "weight": "divergence", "gate": "boost"})
        columns = [c for c in ("step", "moment_id", "divergence", "boost") if c in hits_view]
        st.dataframe(hits_view[columns], hide_index=True, height=240, key=f"{key}-hits")
        st.caption("A hit: the current distribution came within the divergence threshold of a stored moment.")


@st.fragment
@guarded
def curves_panel(ref: RunRef, *, key: str) -> None:
    """Recorded metric curves (accuracy vs distance, forgetting), one line per series."""
    metrics = cache.query(ref.path, "metrics", run_id=ref.run_id)
    curves_only = metrics[metrics["x"].notna()] if len(metrics) else metrics
    if curves_only.empty:
        st.info("This run recorded no metric curves.")
        return
    name = st.selectbox("Metric", sorted(curves_only["name"].unique()), key=f"{key}-metric")
    fig = curves.metric_curves_figure(curves_only, name, by="series")
    show_figure(
        fig, curves_only[curves_only["name"] == name], name=_slug(ref, f"curve-{name}"), key=f"{key}-curve",
        caption=f"{name} against its x value (distance, task or step), one line per series.",
    )


@st.fragment
@guarded
def events_at_panel(ref: RunRef, cursor: int | None, *, key: str) -> None:
    """Every memory operation recorded at the cursor's step."""
    if cursor is None:
        return
    events = cache.query(ref.path, "events", run_id=ref.run_id, step=cursor, limit=500)
    with st.expander(f"Memory operations at step {cursor} ({len(events)})", expanded=False):
        columns = [c for c in ("memory", "layer", "head", "cell", "op", "weight", "gate", "other_cell") if c in events]
        st.dataframe(events[columns], hide_index=True, key=f"{key}-events")


def projection_panel(ref: RunRef, cursor: int | None, *, key: str) -> None:
    """The stored signatures projected to 2-D (UMAP, fitted once and cached); later ones left out.

    UMAP compiles its kernels on the first fit of a process (~40 s here). The panel starts that
    on request (a button), polls every 3 s while it compiles, so the rest of the page never waits.
    """
    st.fragment(run_every=3 if umap_polling() else None)(_projection_body)(ref, cursor, key=key)


_UMAP_REQUESTED = threading.Event()
"""Set once a user asked for a projection in this server process (UMAP then compiles in the background)."""


def umap_ready(*, key: str, count: int | None = None) -> bool:
    """True when UMAP can fit now; else a start button (first use) or a "compiling" note, and False.

    The caller must run inside a fragment that polls while compiling (see :func:`projection_panel`).
    """
    from app.projection import warm_up_in_background

    if not umap_requested():
        if count is not None:
            st.caption(f"{count} stored signatures can be projected with UMAP.")
        if st.button("Project signatures (UMAP)", key=f"{key}-start", icon=":material/scatter_plot:",
                     help="The first projection in a server process compiles UMAP (about 40 s, in the background)."):
            _UMAP_REQUESTED.set()
            warm_up_in_background()
            st.rerun()
        return False
    if warm_up_in_background().is_alive():
        st.info(
            "UMAP is compiling its kernels (first use in this server process, about 40 s). "
            "The projection appears here by itself when it is ready.", icon=":material/hourglass_top:",
        )
        st.session_state[f"{key}-waited"] = True
        return False
    if st.session_state.pop(f"{key}-waited", False):
        st.rerun()  # compiled: redraw the page once, without the polling timer
    return True


def umap_requested() -> bool:
    """Whether someone in this server process asked for UMAP (its button is then no longer shown)."""
    return _UMAP_REQUESTED.is_set()


def umap_polling() -> bool:
    """Whether a projection panel should poll (UMAP requested and still compiling)."""
    from app.projection import warm_up_in_background

    return umap_requested() and warm_up_in_background().is_alive()


@guarded
def _projection_body(ref: RunRef, cursor: int | None, *, key: str) -> None:
    from app.figures.projection import projection_figure, projection_points

    signatures = cache.query(ref.path, "signatures", run_id=ref.run_id)
    if len(signatures) < 4:
        st.info(f"This run stored {len(signatures)} signature(s); a projection needs at least 4.")
        return
    if not umap_ready(key=key, count=len(signatures)):
        return
    color_by = st.segmented_control(
        "Colour by", ["trigger", "step", "entropy"], default="trigger", key=f"{key}-color", required=True
    )
    projected, note = cache.projected_signatures(ref.path, ref.run_id)
    if cursor is not None:
        projected = projected[projected["step"] <= cursor]
    points = projection_points(projected, color_by=color_by, decode=_token_decoder(ref))
    fig = projection_figure(points, color_by=color_by, note=note)
    table = projected.drop(columns=[c for c in ("embedding",) if c in projected])
    show_figure(
        fig, table, name=_slug(ref, "signatures"), key=f"{key}-projection",
        caption=(
            f"{len(points)} stored signatures up to the cursor, each its top-k next-token distribution "
            "(Hellinger distance) or embedding, placed by a UMAP fitted once per run and cached with its "
            "parameters and seed. Hover for the top tokens and the context."
        ),
    )


def _token_decoder(ref: RunRef) -> dict[int, str]:
    """``token_id -> text`` from the run's own steps (for hover labels of top-k ids)."""
    steps = cache.query(ref.path, "timeline", run_id=ref.run_id)
    if steps.empty:
        return {}
    pairs = steps[["token_id", "token_text"]].dropna().drop_duplicates("token_id")
    return dict(zip(pairs["token_id"].astype(int), pairs["token_text"].astype(str)))
