"""Live: type a prompt, pick a model and its memory settings, watch memory fire token by token.

Generation runs a few tokens per rerun of a ticking fragment, so the page stays interactive: the
tokens appear coloured by surprisal or entropy while the timeline, the heatmap and the tables of
stored moments and resonance hits follow; *Pin* stores the current moment as important. Every run
is recorded to a trace (``runs/`` of the working directory by default) and opens on Replay.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from app import cache, live_driver, panels, state
from app.figures import tokens
from app.state import SAMPLE_MODELS

TICK_S = 0.4
TOKENS_PER_TICK = 4
PANELS_EVERY_S = 2.0
MODEL_KINDS = {
    "tiny": "Embedded tiny LM + moment memory",
    "hf": "Hugging Face id or local folder + moment memory",
    "memnet": "MemNet checkpoint (slot memory) on its task",
    "cls": "CLS checkpoint (fast weights) on its task",
}
DEFAULT_PROMPT = "The harbour clerk opened the ledger and"
K_RUN, K_PAUSED = "live-run", "live-paused"


def model_source(kind: str) -> str | None:
    """The model folder / id / checkpoint the user picked, or None with a message."""
    if kind == "tiny":
        from engine.lm.loading import TINY_LM_DIR

        st.caption(f"The tiny GPT-2-style model shipped in `{TINY_LM_DIR.relative_to(state.REPO_ROOT)}` (runs offline).")
        return str(TINY_LM_DIR)
    if kind == "hf":
        source = st.text_input("Model id or folder", placeholder="gpt2, or /path/to/a/save_pretrained/folder",
                               key="live-hf").strip()
        if not source:
            st.info("Type a Hugging Face model id (cached, or reachable online) or a local model folder.")
            return None
        return source
    found = live_driver.find_checkpoints(SAMPLE_MODELS)[kind]
    options = [str(p) for p in found] + ["other folder..."]
    choice = st.selectbox(f"{kind} checkpoint", options, key=f"live-{kind}-ckpt")
    if choice == "other folder...":
        choice = st.text_input("Checkpoint folder", key=f"live-{kind}-path").strip()
        if not choice:
            st.info(f"Type a {kind} checkpoint folder (model.safetensors + config.json).")
            return None
    return choice


def memory_settings(kind: str) -> dict:
    """Thresholds, top-k, capacity and lambda (their meaning depends on the memory)."""
    with st.expander("Memory settings", expanded=False):
        if kind in live_driver.LM_KINDS:
            mode = st.radio("Thresholds", ["adaptive", "fixed"], horizontal=True, key="live-mode",
                            help="adaptive: a signal fires above mean + gamma x std of its recent values")
            cols = st.columns(2)
            settings = dict(
                threshold_mode=mode,
                gamma=cols[0].number_input("gamma (adaptive z)", 0.5, 6.0, 2.0, 0.25, key="live-gamma"),
                surprisal=cols[1].number_input("surprisal threshold (nats)", 0.5, 20.0, 7.0, 0.5, key="live-surprisal"),
                entropy_delta=cols[0].number_input("entropy jump (nats)", 0.1, 10.0, 2.0, 0.1, key="live-entropy"),
                kl=cols[1].number_input("KL threshold (nats)", 0.1, 50.0, 3.0, 0.1, key="live-kl"),
                top_k=cols[0].number_input("top-k of a signature", 1, 256, 32, key="live-topk"),
                capacity=cols[1].number_input("capacity (moments)", 1, 100_000, 4096, key="live-capacity"),
                lam=cols[0].slider("lambda (re-injection weight)", 0.0, 1.0, 0.3, 0.05, key="live-lam"),
                resonance_threshold=cols[1].slider("resonance divergence", 0.01, 1.0, 0.35, 0.01, key="live-res"),
                min_age=cols[0].number_input("min age for resonance (tokens)", 0, 512, 16, key="live-minage"),
            )
            return settings
        cols = st.columns(2)
        return dict(
            top_k=cols[0].number_input("top-k (MemNet read slots / CLS kNN neighbours)", 1, 64, 4, key="live-ck-topk"),
            capacity=cols[1].number_input("capacity (CLS kNN memory)", 1, 100_000, 1024, key="live-ck-capacity"),
            lam=cols[0].slider("lambda (CLS context drift)", 0.0, 1.0, 0.9, 0.01, key="live-ck-lam"),
            threshold=cols[1].number_input("write floor (MemNet)", 0.0, 1.0, 0.1, 0.01, key="live-ck-floor"),
        )


def start_run(kind: str, source: str, settings: dict, prompt: str, options: dict, trace: Path) -> live_driver.LiveRun:
    """Load the model (cached) and start a recorded run."""
    name = f"{kind}: {prompt[:40]}" if kind in live_driver.LM_KINDS else f"{kind}: {Path(source).name} on {options['task']}"
    model = cache.cached_model(kind, source, "cpu")
    if kind in live_driver.LM_KINDS:
        config = live_driver.moment_config(**settings)
        return live_driver.LMRun(model, prompt=prompt, max_new_tokens=options["max_new_tokens"], config=config,
                                 trace=trace, name=name, temperature=options["temperature"], seed=options["seed"])
    model = live_driver.with_overrides(model, live_driver.memory_overrides(kind, **settings))
    return live_driver.CheckpointRun(model, task=options["task"], seed=options["seed"], trace=trace, name=name)


def controls(run: live_driver.LiveRun | None) -> None:
    """Pause / resume, stop and pin buttons of the current run."""
    if run is None or run.done:
        return
    cols = st.columns([1.2, 1, 1.8, 3])
    paused = st.session_state.get(K_PAUSED, False)
    if cols[0].button("Resume" if paused else "Pause", key="live-pause",
                      icon=":material/play_arrow:" if paused else ":material/pause:"):
        st.session_state[K_PAUSED] = not paused
        st.rerun()
    if cols[1].button("Stop", key="live-stop", icon=":material/stop:"):
        run.stop()
        st.rerun()
    if isinstance(run, live_driver.LMRun) and cols[2].button(
        "Pin this moment", key="live-pin", icon=":material/push_pin:",
        help="Store the next token boundary as a 'pinned' moment (user-labelled importance).",
    ):
        run.pin()
        st.toast("Pinned: the next token boundary is stored as an important moment.", icon=":material/push_pin:")


def stream(run: live_driver.LiveRun) -> None:
    """Two ticking fragments: the tokens (advance + draw, every 0.4 s) and the memory panels (every 2 s)."""
    ticking = not run.done and not st.session_state.get(K_PAUSED, False)
    st.fragment(run_every=TICK_S if ticking else None)(_stream_body)(run)
    polling = ticking or panels.umap_polling()
    st.fragment(run_every=PANELS_EVERY_S if polling else None)(_panels_body)(run)


@panels.guarded
def _stream_body(run: live_driver.LiveRun) -> None:
    if not run.done and not st.session_state.get(K_PAUSED, False):
        try:
            run.advance(TOKENS_PER_TICK, budget_s=TICK_S)
        except live_driver.LiveInputError as exc:
            st.error(f"{exc}. Try another prompt, fewer tokens or other settings; what was generated is kept.")
        if run.done:
            st.rerun()  # once more as a whole page: stop the timer, show the Replay link
    if isinstance(run, live_driver.LMRun):
        steps = run.steps_frame()
        generated = int((~steps["is_prompt"]).sum()) if len(steps) else 0
        st.markdown(
            f"**{generated} tokens generated** after a {len(steps) - generated}-token prompt · "
            f"{int(steps['stored'].sum()) if len(steps) else 0} moments stored · "
            f"{int((steps['hits'] > 0).sum()) if len(steps) else 0} tokens with resonance hits"
            + (f" · {run.pins} pinned" if run.pins else "")
        )
        color_by = st.segmented_control("Colour tokens by", ["surprisal", "entropy"], default="surprisal",
                                        key="live-color", required=True)
        if len(steps):
            st.html(tokens.tokens_html(steps, color_by=color_by, cursor=int(steps["step"].iloc[-1])))
        for note in dict.fromkeys(run.notes):
            st.warning(f"Prompt: {note}.")
    else:
        st.markdown(f"**Step {max(run.shown_step, 0)} of {run.last_step}** revealed "
                    "(the checkpoint ran its episode in one forward pass; the page replays it step by step).")


@panels.guarded
def _panels_body(run: live_driver.LiveRun) -> None:
    """The memory panels, read from the run's trace as flushed so far."""
    if run.shown_step < 0:
        return
    ref = panels.RunRef(str(run.trace), run.run_id, label=run.name)
    cursor = run.shown_step
    left, right = st.columns(2)
    with left:
        st.subheader("Moment timeline")
        panels.timeline_panel(ref, cursor, key="live-tl")
    with right:
        st.subheader("Cell heatmap")
        panels.heatmap_panel(ref, cursor, key="live-hm")
    st.subheader("Stored moments and resonance hits")
    panels.moments_panel(ref, cursor, key="live-mo")
    st.subheader("Stored signatures")
    live_signatures(run, ref)


MIN_FIT = 8


@panels.guarded
def live_signatures(run: live_driver.LiveRun, ref: panels.RunRef) -> None:
    """UMAP fitted once on the moments stored so far; moments stored later are placed with ``transform``."""
    from app.figures.projection import projection_figure, projection_points
    from app.projection import ProjectionParams, SignatureProjector

    signatures = cache.query_fresh(ref.path, "signatures", run_id=ref.run_id)  # the fit below happens once
    if len(signatures) < MIN_FIT:
        st.info(f"{len(signatures)} moments stored so far; the projection is fitted once {MIN_FIT} are stored.")
        return
    if not panels.umap_ready(key="live-pj", count=len(signatures)):
        return
    if run.projector is None:
        vocab = getattr(getattr(run, "session", None), "lm", None)
        params = ProjectionParams(kind="topk", seed=0, vocab_size=vocab.vocab_size if vocab is not None else None)
        run.projector = SignatureProjector(params, cache_dir=cache.PROJECTION_CACHE)
        run.fitted = run.projector.fit(signatures)
    later = signatures[~signatures["moment_id"].isin(run.fitted["moment_id"])]
    placed = pd.DataFrame({"x": [], "y": [], "hover": []})
    if len(later):
        xy = run.projector.transform(later)
        placed = projection_points(later.assign(x=xy[:, 0], y=xy[:, 1]), color_by="trigger")
    points = projection_points(run.fitted, color_by="trigger")
    note = f"fitted on the first {len(points)} moments; {len(placed)} later ones placed with transform (stars)"
    fig = projection_figure(points, color_by="trigger", note=note, highlight=placed)
    frames = [points.assign(placed=False)] + ([placed.assign(placed=True)] if len(placed) else [])
    panels.show_figure(fig, pd.concat(frames, ignore_index=True),
                       name=f"{run.run_id}-live-signatures", key="live-pj-fig", caption=(
        "Stored moments by their top-k distributions (Hellinger UMAP). The projection is fitted once; moments "
        "stored afterwards are placed into it with UMAP's transform, drawn as stars."))


def replay_link(run: live_driver.LiveRun) -> None:
    if not run.done:
        return
    folder = run.trace.parent
    st.success(f"Recorded to `{run.trace}` (run `{run.run_id}`).", icon=":material/check_circle:")
    st.page_link(
        st.Page(Path(__file__).resolve().parent / "replay.py", url_path="replay"),
        label="Open this run in Replay", icon=":material/replay:",
        query_params={**state.replay_link_params(run.trace.name, run.run_id, folder)},
    )


def main() -> None:
    st.title("Live")
    st.caption(
        "Type a prompt and watch memory fire token by token: each token is coloured by how surprising it was; "
        "the timeline shows entropy, surprisal and KL with the memory's writes and resonance hits; the heatmap "
        "shows which cells are written and read. Every run is recorded and can be replayed."
    )
    settings_col, main_col = st.columns([1, 2.6], gap="large")
    with settings_col:
        kind = st.selectbox("Model", list(MODEL_KINDS), format_func=MODEL_KINDS.get, key="live-kind")
        source = model_source(kind)
        options: dict = {}
        if kind in live_driver.LM_KINDS:
            prompt = st.text_area("Prompt", DEFAULT_PROMPT, height=110, key="live-prompt")
            cols = st.columns(2)
            options["max_new_tokens"] = cols[0].number_input("New tokens", 1, 512, 48, key="live-max")
            options["temperature"] = cols[1].number_input("Temperature", 0.0, 2.0, 0.8, 0.1, key="live-temp")
        else:
            from engine.tasks import TASKS

            prompt = ""
            trained = live_driver.training_task(source) if source else None
            names = list(TASKS)
            options["task"] = st.selectbox("Task input", names, index=names.index(trained) if trained in names else 0,
                                           key="live-task", help="Default: the task the checkpoint was trained on.")
        options["seed"] = st.number_input("Seed", 0, 1_000_000, 0, key="live-seed")
        settings = memory_settings(kind)
        runs_dir = st.text_input("Record to folder", str(state.parse_app_args().runs), key="live-runs",
                                 help="A new run is added to a trace file in this folder (created if needed).")
        start = st.button("Generate" if kind in live_driver.LM_KINDS else "Run", type="primary",
                          icon=":material/bolt:", key="live-start", disabled=source is None, width="stretch")
    with main_col:
        if start and source is not None:
            previous = st.session_state.get(K_RUN)
            if previous is not None and not previous.done:
                previous.stop()
            try:
                with st.spinner("Loading the model and starting the run..."):
                    run = start_run(kind, source, settings, prompt, options,
                                    live_driver.default_trace(Path(runs_dir).expanduser().resolve()))
            except (live_driver.LiveInputError, ValueError, OSError) as exc:
                st.error(f"{panels.explain(exc) if not isinstance(exc, ValueError) else exc}. "
                         "Check the model, the prompt and the settings, then try again.")
                return
            st.session_state[K_RUN], st.session_state[K_PAUSED] = run, False
        run = st.session_state.get(K_RUN)
        if run is None:
            st.info("Pick a model, type a prompt and press **Generate**. The embedded tiny LM runs offline on the CPU.")
            return
        controls(run)
        stream(run)
        replay_link(run)


panels.guarded(main)()
