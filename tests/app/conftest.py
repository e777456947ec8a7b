"""Small traces of each memory family, written through the real recorder and DuckDB writer.

Each builder drives :class:`tracing.writer.DuckDBRecorder` the way an engine does (the columnar
recorder calls of ARCHITECTURE.md), with seeded numpy data small enough for AppTest:

- ``moment``: a 40-token LM run with surprisal/entropy/KL, stored moments, resonance hits, a merge
  and a prune;
- ``memnet``: slot memory over 2 heads x 8 slots with writes, top-k reads, updates, evictions,
  cell states and an accuracy-vs-distance curve (two runs with different seeds, for Compare);
- ``cls``: fast-weight writes, reads and decays plus kNN writes and an accuracy curve.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace

import hashlib
import json

import duckdb
import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from tracing.writer import DuckDBRecorder

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_SCRIPT = str(REPO_ROOT / "app" / "streamlit_app.py")
WORDS = ("The cat sat on the mat while the old clock struck nine and the rain kept falling on the quiet "
         "town where nobody had seen the lighthouse keeper since the storm of last winter").split()


def record_moment_run(path: Path, *, name: str = "moment-demo", seed: int = 0, n: int = 40) -> str:
    """An LM run with moment memory; returns its run id."""
    rng = np.random.default_rng(seed)
    with DuckDBRecorder(path, name=name, family="moment", model="tiny-lm", config={"threshold": 2.5, "top_k": 5},
                        input=" ".join(WORDS[:6]), device="cpu") as rec:
        moment = 0
        for t in range(n):
            entropy = float(rng.gamma(2.0, 1.0))
            rec.steps(step=t, token_id=t % 50, token_text=" " + WORDS[t % len(WORDS)],
                      surprisal=float(rng.gamma(2.0, 1.5)), entropy=entropy, kl=float(rng.exponential(0.5)),
                      topk_ids=[rng.choice(50, 5, replace=False).tolist()],
                      topk_probs=[sorted(rng.dirichlet(np.ones(5)).tolist(), reverse=True)])
            if entropy > 2.5 or t % 9 == 0:
                ids = rng.choice(50, 5, replace=False)
                probs = np.sort(rng.dirichlet(np.ones(5)))[::-1]
                rec.moments(moment_id=moment, step=t, memory="moment", trigger="entropy_spike", entropy=entropy,
                            kl=0.3, surprisal=2.0, topk_ids=[ids.tolist()], topk_probs=[probs.tolist()],
                            context_hash=f"h{t}", context_text=" ".join(WORDS[max(0, t - 4):t + 1]))
                rec.events(step=t, op="write", memory="moment", cell=moment, weight=entropy)
                moment += 1
            if moment > 1 and t % 4 == 3:
                rec.events(step=t, op="resonance", memory="moment", cell=int(rng.integers(0, moment)),
                           weight=float(rng.uniform(0.05, 0.3)), gate=0.5)
        rec.events(step=n - 1, op="merge", memory="moment", cell=1, other_cell=0)
        rec.events(step=n - 1, op="prune", memory="moment", cell=2)
        return rec.run_id


def record_slot_run(path: Path, *, name: str, seed: int, family: str = "memnet", n: int = 30, slots: int = 8) -> str:
    """A slot-memory run (2 heads x ``slots``) with LRU evictions; returns its run id."""
    rng = np.random.default_rng(seed)
    with DuckDBRecorder(path, name=name, family=family, model=f"{family}-tiny", config={"slots": slots, "heads": 2},
                        input="task: copy_recall seed=1", device="cpu") as rec:
        for head in range(2):
            live = np.zeros(slots, bool)
            age = np.zeros(slots, np.float32)
            for t in range(n):
                if rng.random() < 0.6:
                    cell = int(np.argmin(np.where(live, -age, -1e9))) if live.all() else int(np.argmin(live))
                    if live[cell]:
                        rec.events(step=t, op="evict", memory="slot", head=head, cell=cell)
                    rec.events(step=t, op="write", memory="slot", head=head, cell=cell,
                               weight=float(rng.uniform(0.1, 1.0)), gate=float(rng.uniform(0.2, 1)))
                    live[cell], age[cell] = True, 0
                read = rng.choice(slots, 3, replace=False)
                rec.events(step=t, op="read", memory="slot", head=head, cell=read, weight=rng.dirichlet(np.ones(3)))
                rec.events(step=t, op="update", memory="slot", head=head, cell=int(read[0]), weight=0.1)
                age += 1
                rec.cell_states(step=t, memory="slot", head=head, cell=np.arange(slots), age=age.copy(),
                                usage=rng.uniform(0, 1, slots).astype(np.float32), norm=np.ones(slots, np.float32))
        for distance in (4, 8, 16, 32):
            rec.metric("accuracy", float(np.clip(1.0 - distance / (60 + 20 * seed), 0, 1)), x=distance, series=name)
        return rec.run_id


def record_cls_run(path: Path, *, name: str = "cls-demo", seed: int = 3, n: int = 24) -> str:
    """A CLS run: rank-1 fast-weight writes decaying below a floor, reads over them, kNN writes."""
    rng = np.random.default_rng(seed)
    with DuckDBRecorder(path, name=name, family="cls", model="cls-tiny", config={"eta": 0.5, "lambda": 0.9},
                        input="task: associative_recall seed=3", device="cpu") as rec:
        for t in range(n):
            rec.events(step=t, op="write", memory="fast_weight", cell=t, gate=float(rng.uniform()), weight=1.0)
            if t >= 3:
                rec.events(step=t, op="read", memory="fast_weight", cell=np.arange(t - 3, t), weight=rng.uniform(0, 1, 3))
            if t >= 6:
                rec.events(step=t, op="decay", memory="fast_weight", cell=t - 6)
            rec.events(step=t, op="write", memory="knn", cell=t)
        for distance in (2, 4, 8):
            rec.metric("accuracy", 1.0 - distance / 20, x=distance, series=name)
        return rec.run_id


@pytest.fixture(scope="session")
def traces_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with one trace per family (+ an empty run and a second MemNet run for Compare)."""
    root = tmp_path_factory.mktemp("traces")
    record_moment_run(root / "moment.duckdb")
    with DuckDBRecorder(root / "moment.duckdb", name="empty-run", family="moment", model="tiny-lm", input="") as rec:
        pass
    record_slot_run(root / "memnet.duckdb", name="memnet-a", seed=1)
    record_slot_run(root / "memnet.duckdb", name="memnet-b", seed=2)
    record_cls_run(root / "cls.duckdb")
    return root


@pytest.fixture(scope="session")
def bad_traces_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A corrupt file, a foreign DuckDB database and a good trace side by side."""
    root = tmp_path_factory.mktemp("bad")
    (root / "corrupt.duckdb").write_bytes(b"\x00" * 8 + b"DUCK" + os.urandom(4000))
    con = duckdb.connect(str(root / "foreign.duckdb"))
    con.execute("CREATE TABLE invoices (id INTEGER, total DOUBLE)")
    con.close()
    record_cls_run(root / "good.duckdb")
    return root


@pytest.fixture()
def running_trace(tmp_path: Path):
    """``(path, recorder)``: a trace whose run is still being written (its writer open in this process)."""
    path = tmp_path / "live.duckdb"
    rec = DuckDBRecorder(path, name="still-writing", family="moment", model="tiny-lm", input="hello")
    for t in range(5):
        rec.steps(step=t, token_id=t, token_text=f" w{t}", surprisal=1.0 + t, entropy=2.0, kl=0.1)
        rec.events(step=t, op="write", memory="moment", cell=t)
    rec.flush()
    yield path, rec
    rec.finish("complete")


def make_tiny_checkpoint(folder: Path, family: str, seed: int = 0) -> Path:
    """A randomly initialised, very small MemNet or CLS checkpoint folder (weights via safetensors)."""
    from engine.checkpoint import save_checkpoint
    from engine.models import MODELS

    spec = MODELS[family]
    small = {"memnet": dict(vocab_size=64, d_model=16, n_layers=1, n_attn_heads=2, n_heads=2, n_slots=8, slot_dim=8,
                            bottleneck_dim=8, chunk_size=8, window=16),
             "cls": dict(vocab_size=64, d_model=16, n_heads=2, n_layers=1, d_ff=32, max_len=512)}[family]
    config = spec.make_config(**small)
    torch.manual_seed(seed)
    model = spec.build(config)
    return save_checkpoint(folder, model, family=family, config=config,
                           extra={"train": {"task": "recall", "task_params": {}}})


@pytest.fixture()
def tiny_checkpoint():
    """``tiny_checkpoint(folder, family, seed=0)``: write a tiny checkpoint and return its folder."""
    return make_tiny_checkpoint


@pytest.fixture()
def app_env(monkeypatch: pytest.MonkeyPatch, traces_dir: Path, tmp_path: Path) -> Path:
    """Point the app at ``traces_dir`` and its live runs at a temporary folder."""
    monkeypatch.setenv("MEMSCOPE_TRACES", str(traces_dir))
    monkeypatch.setenv("MEMSCOPE_RUNS", str(tmp_path / "runs"))
    return traces_dir


# -- AppTest helpers ---------------------------------------------------------------------------


def open_page(page: str, query: dict[str, str] | None = None, state: dict | None = None, timeout: float = 60) -> AppTest:
    """Run the app on ``pages/<page>.py`` with ``query`` in the URL and widget values preset in
    ``state`` (widget key -> value, as if the user had chosen them); returns the finished AppTest."""
    at = AppTest.from_file(APP_SCRIPT, default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    for key, value in (state or {}).items():
        at.session_state[key] = value
    at.switch_page(f"pages/{page}.py")
    at.run()
    return at


def no_exceptions(at: AppTest) -> None:
    """Fail when the app showed a traceback or an error message."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def no_traceback(at: AppTest) -> None:
    """Fail when the app showed a traceback (bad-input tests expect an error message instead)."""
    assert not at.exception, [e.value for e in at.exception]


def array_shape(value) -> tuple[int, ...]:
    """Shape of a plotly JSON array: a nested list or a typed array ``{"bdata", "shape"}``."""
    if isinstance(value, dict) and "shape" in value:
        return tuple(int(n) for n in str(value["shape"]).split(","))
    if isinstance(value, dict) and "bdata" in value:
        import base64
        import numpy as np

        return (len(np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])),)
    return (len(value),) + (array_shape(value[0])[0:] if value and isinstance(value[0], list) else ())


def request_umap(at: AppTest, key: str, reruns: int = 50) -> None:
    """Press a panel's "Project signatures (UMAP)" button, wait for UMAP's compilation, and rerun the page.

    The button is absent once this process asked for UMAP, and also while the panel has too few
    signatures: a live page may have read its trace just before the flush that the test then saw,
    so the page is rerun (up to ``reruns`` times) until the button shows."""
    from app.panels import umap_requested
    from app.projection import warm_up_in_background

    for _ in range(reruns):
        if umap_requested():
            break
        button = next((button for button in at.button if button.key == key), None)
        if button is not None:
            button.click().run()
            break
        time.sleep(0.1)
        at.run()
    else:
        raise AssertionError(f"the page never showed its {key!r} button")
    warm_up_in_background().join()
    at.run()


def texts(elements) -> list[str]:
    return [str(e.value) for e in elements]


def chart_specs(at: AppTest) -> list[dict]:
    """The plotly JSON of every chart on the page (STACK_NOTES: ``proto.spec``)."""
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def chart_titled(at: AppTest, words: str) -> dict:
    """The first chart whose layout title contains ``words``."""
    for spec in chart_specs(at):
        title = spec.get("layout", {}).get("title", {})
        text = title.get("text", "") if isinstance(title, dict) else str(title)
        if words.lower() in text.lower():
            return spec
    raise AssertionError(f"no chart titled like {words!r}; titles: {[s.get('layout', {}).get('title') for s in chart_specs(at)]}")


def folder_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` (to prove pages never write to traces they read)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture()
def ui(app_env: Path) -> SimpleNamespace:
    """The AppTest helpers above, with the app pointed at ``traces_dir`` (``ui.open("replay", {...})``)."""
    return SimpleNamespace(open=open_page, ok=no_exceptions, no_traceback=no_traceback, shape=array_shape, request_umap=request_umap, texts=texts, specs=chart_specs,
                           chart=chart_titled, digest=folder_digest)
