"""Live page under AppTest: tokens stream, panels follow, pin, recording, bad prompts and models."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tracing.store import TraceStore


def _generated(at) -> int:
    for text in (m.value for m in at.markdown):
        match = re.match(r"\*\*(\d+) tokens generated\*\*", text)
        if match:
            return int(match.group(1))
    raise AssertionError("no token count shown")


def _start(ui, prompt: str, max_new: int = 10):
    at = ui.open("live")
    at.text_area(key="live-prompt").set_value(prompt)
    at.number_input(key="live-max").set_value(max_new)
    at.button(key="live-start").click().run()
    return at


def _finish(at, limit: int = 40):
    for _ in range(limit):
        if at.session_state["live-run"].done:
            at.run()
            return at
        at.run()
    raise AssertionError("the run did not finish")


def test_tokens_stream_and_the_run_is_recorded(ui, app_env):
    at = _start(ui, "The harbour clerk opened the ledger and", max_new=8)
    ui.ok(at)
    run = at.session_state["live-run"]
    first = at.get("html")[0].proto.body.count("<span")
    assert 0 < first == len(run.events) < 8 + 9  # the first tick shows a few tokens, not all
    at.run()
    assert at.get("html")[0].proto.body.count("<span") > first  # more tokens on the next tick
    _finish(at)
    ui.ok(at)
    assert _generated(at) == 8
    assert any("Recorded to" in s for s in ui.texts(at.success))
    link = at.get("page_link")[0]
    assert "replay" in link.proto.page and f"run={run.run_id}" in link.proto.query_string
    runs = TraceStore(run.trace).runs().set_index("run_id")
    row = runs.loc[run.run_id]
    assert row["status"] == "complete" and row["family"] == "moment"
    assert row["n_steps"] == len(run.events) and row["input"] == "The harbour clerk opened the ledger and"
    assert run.trace.parent == Path(at.session_state["live-runs"])
    # the panels read the recorded trace: one timeline point per recorded step
    timeline = ui.chart(at, "Moment timeline")
    assert ui.shape(timeline["data"][0]["x"]) == (len(run.events),)
    assert at.get("html")[0].proto.body.count("<span") == len(run.events)
    # the status line agrees with the trace: moments stored, tokens whose best match resonated
    store = TraceStore(run.trace)
    resonant = store.events(run.run_id, op="resonance")["step"].nunique()
    status = " ".join(ui.texts(at.markdown))
    assert f"{len(store.signatures(run.run_id))} moments stored" in status
    assert f"{resonant} tokens with resonance hits" in status


def test_settings_reach_the_memory_and_pin_stores_a_moment(ui, app_env):
    at = ui.open("live", state={"live-prompt": "Once upon a time the lighthouse keeper", "live-max": 12,
                                "live-topk": 8, "live-capacity": 64, "live-lam": 0.5})
    at.button(key="live-start").click().run()
    at.button(key="live-pin").click().run()
    ui.ok(at)
    run = at.session_state["live-run"]
    assert run.pins == 1
    _finish(at)
    store = TraceStore(run.trace)
    config = json.loads(store.runs().set_index("run_id").at[run.run_id, "config"])
    assert config["moment"]["k"] == 8 and config["moment"]["capacity"] == 64 and config["moment"]["lam"] == 0.5
    signatures = store.signatures(run.run_id)
    assert "pinned" in set(signatures["trigger"])
    assert all(len(ids) <= 8 for ids in signatures["topk_ids"])
    assert f"Stored moments** ({len(signatures)})" in " ".join(ui.texts(at.markdown))


def test_empty_prompt_is_refused_with_advice(ui, app_env):
    at = _start(ui, "  \n\t ")
    ui.no_traceback(at)
    errors = ui.texts(at.error)
    assert errors and "prompt is empty" in errors[0] and "type a prompt" in errors[0]
    assert "live-run" not in at.session_state


def test_unavailable_model_is_refused_with_advice(ui, app_env):
    at = ui.open("live")
    at.selectbox(key="live-kind").set_value("hf").run()
    assert any("Type a Hugging Face model id" in i for i in ui.texts(at.info))
    at.text_input(key="live-hf").set_value(str(app_env / "no-such-model")).run()
    at.button(key="live-start").click().run()
    ui.no_traceback(at)
    assert any("does not exist" in e for e in ui.texts(at.error))


def test_memnet_checkpoint_runs_on_its_task_and_is_revealed(ui, app_env, tmp_path, tiny_checkpoint):
    folder = tiny_checkpoint(tmp_path / "memnet", "memnet")
    at = ui.open("live", state={"live-kind": "memnet", "live-memnet-ckpt": "other folder...",
                                "live-memnet-path": str(folder), "live-task": "recall"})
    at.button(key="live-start").click().run()
    ui.ok(at)
    run = at.session_state["live-run"]
    assert run.family == "memnet" and not run.done
    shown = run.shown_step
    at.run()
    assert run.shown_step > shown
    heat = ui.chart(at, "per cell and step")
    assert heat["data"][0]["type"] == "heatmap"
    run.stop()
    at.run()
    assert TraceStore(run.trace).runs().set_index("run_id").at[run.run_id, "family"] == "memnet"


@pytest.mark.slow
@pytest.mark.xdist_group("umap")  # shares the UMAP compilation with the other projection tests
def test_live_projection_is_fitted_once_then_places_new_moments_with_transform(ui, app_env):
    story = "The harbour clerk Listho Katumlis opened the ledger of Ebbdunmoor and wrote that the compass was sold. "
    at = ui.open("live", state={"live-prompt": story * 3, "live-max": 24, "live-gamma": 1.0, "live-minage": 4})
    at.button(key="live-start").click().run()
    run = at.session_state["live-run"]
    store = TraceStore(run.trace)
    while len(store.signatures(run.run_id)) < 8 and not run.done:
        at.run()
    assert not run.done, "the run ended before 8 moments were stored; the test needs more tokens"
    ui.request_umap(at, "live-pj-start")
    for _ in range(3):  # the page's panels poll (every 2 s) until the fit is drawn; AppTest reruns by hand
        if run.fitted is not None:
            break
        at.run()
    ui.ok(at)
    assert run.fitted is not None, "the projection was never fitted"
    fitted = len(run.fitted)
    assert fitted >= 8 and run.projector is not None
    _finish(at)
    total = len(store.signatures(run.run_id))
    spec = ui.chart(at, "Stored signatures")
    placed = [t for t in spec["data"] if t["name"] == "new"]
    shown_fitted = sum(ui.shape(t["x"])[0] for t in spec["data"] if t["name"] != "new")
    assert shown_fitted == fitted == len(run.fitted)  # the fit is never redone
    assert total > fitted and placed and ui.shape(placed[0]["x"]) == (total - fitted,)


def test_checkpoint_task_defaults_to_training_and_refuses_a_task_it_cannot_read(ui, app_env, tmp_path, tiny_checkpoint):
    folder = tiny_checkpoint(tmp_path / "memnet", "memnet")  # trained (per its config) on recall, vocab 64
    at = ui.open("live", state={"live-kind": "memnet", "live-memnet-ckpt": "other folder...",
                                "live-memnet-path": str(folder)})
    assert at.selectbox(key="live-task").value == "recall"
    at.selectbox(key="live-task").set_value("assoc-recall").run()
    at.button(key="live-start").click().run()
    ui.no_traceback(at)
    errors = ui.texts(at.error)
    assert errors and "needs a vocabulary of" in errors[0] and "this memnet model has 64" in errors[0]
    assert "live-run" not in at.session_state


def test_too_long_prompt_keeps_its_end_with_a_warning(ui, app_env):
    at = _start(ui, "the lighthouse keeper climbed the stairs " * 80, max_new=2)
    ui.ok(at)
    warnings = ui.texts(at.warning)
    assert any("only its end is kept" in w and "the model reads 256" in w for w in warnings)
    at.button(key="live-stop").click().run()
    run = at.session_state["live-run"]
    assert run.done and TraceStore(run.trace).runs().set_index("run_id").at[run.run_id, "status"] == "complete"
