"""Glue between the Live / Compare pages and the engine: load models, start recorded runs, step them.

A *live run* records into a trace file through :class:`tracing.writer.DuckDBRecorder` while the
page pulls it forward a few tokens per rerun (:meth:`LiveRun.advance`), so the page stays
responsive: the user can pause, pin the current moment or leave, and every panel reads the same
trace file that Replay reads later.

- Language models (the embedded tiny LM, any Hugging Face id or local folder) generate token by
  token under moment memory (:mod:`engine.moment.session`): :class:`LMRun`.
- MemNet and CLS checkpoints run on their task inputs: one recorded evaluation episode
  (``engine.training.eval_trace``: accuracy per distance plus every memory operation of one traced
  sequence), computed in one forward pass, then revealed step by step: :class:`CheckpointRun`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tracing.writer import DuckDBRecorder

LM_KINDS = ("tiny", "hf")
CHECKPOINT_KINDS = ("memnet", "cls")
SWEEPS = {"recall": [8, 16, 32, 64], "mqar": [2, 4, 8], "mqar-forget": [2, 4, 8], "assoc-recall": [8, 16, 32, 64], "continual": None}
"""Evaluation points of the accuracy curve per task (distance, pairs, or every continual task)."""


class LiveInputError(ValueError):
    """An input the chosen model cannot take (empty or too long prompt, unknown task, bad setting)."""


# -- models ---------------------------------------------------------------------------------------


def load_model(kind: str, source: str, device: str) -> Any:
    """A language model (``LoadedLM``) or a checkpoint (``Checkpoint``), ready for inference."""
    if kind in LM_KINDS:
        from engine.lm.loading import load_lm

        return load_lm(source, device=device)
    if kind in CHECKPOINT_KINDS:
        from engine.checkpoint import load_checkpoint

        checkpoint = load_checkpoint(source, map_location=device)
        if checkpoint.family != kind:
            raise LiveInputError(f"{source} is a {checkpoint.family} checkpoint, not {kind}: pick it under {checkpoint.family}")
        checkpoint.model.eval()
        return checkpoint
    raise LiveInputError(f"unknown model kind {kind!r}")


def checkpoint_family(folder: str | Path) -> str:
    """The ``family`` written in a checkpoint's ``config.json`` (no weights are read)."""
    from engine.checkpoint import read_config

    return str(read_config(folder)["family"])


def find_checkpoints(root: Path) -> dict[str, list[Path]]:
    """Checkpoint folders under ``root`` by family (``{"memnet": [...], "cls": [...]}``)."""
    found: dict[str, list[Path]] = {kind: [] for kind in CHECKPOINT_KINDS}
    if not root.is_dir():
        return found
    for config in sorted(root.glob("*/config.json")):
        try:
            family = checkpoint_family(config.parent)
        except ValueError:
            continue
        if family in found:
            found[family].append(config.parent)
    return found


def training_task(folder: str | Path) -> str | None:
    """The task a checkpoint was trained on (``config.json``'s ``train.task``), if it says."""
    from engine.checkpoint import read_config

    return (read_config(folder).get("train", {}) or {}).get("task")


def task_inputs(checkpoint: Any, task: str) -> dict[str, Any]:
    """Parameters of ``task`` for this checkpoint: its training parameters when it is the training
    task (the swept one left out), checked against the model's vocabulary."""
    from engine.tasks import make_task
    from engine.training.eval_trace import SWEEP_PARAM

    train = checkpoint.extra.get("train", {}) or {}
    params = dict(train.get("task_params", {}) or {}) if train.get("task") == task else {}
    params.pop(SWEEP_PARAM.get(task, ""), None)
    try:
        vocab = make_task(task, **params).vocab_size
    except ValueError as exc:
        raise LiveInputError(f"task {task}: {exc}") from None
    model_vocab = getattr(checkpoint.config, "vocab_size", None)
    if model_vocab is not None and vocab > model_vocab:
        raise LiveInputError(
            f"task {task} needs a vocabulary of {vocab} tokens but this {checkpoint.family} model has {model_vocab}; "
            f"pick the task it was trained on ({train.get('task') or 'see its config.json'})"
        )
    return params


def with_overrides(checkpoint: Any, overrides: dict[str, Any]) -> Any:
    """The checkpoint with memory settings changed (fields that do not change weight shapes).

    The model is rebuilt from the new config and given the same weights; a setting that would
    change a weight's shape is refused with :class:`LiveInputError`.
    """
    known = {f.name for f in dataclasses.fields(checkpoint.config)}
    changes = {k: v for k, v in overrides.items() if k in known and getattr(checkpoint.config, k) != v}
    if not changes:
        return checkpoint
    config = dataclasses.replace(checkpoint.config, **changes)
    model = checkpoint.spec.build(config)
    try:
        model.load_state_dict(checkpoint.model.state_dict())
    except RuntimeError as exc:
        raise LiveInputError(f"settings {sorted(changes)} do not fit this checkpoint's weights: {str(exc).splitlines()[0]}") from None
    model.to(next(checkpoint.model.parameters()).device).eval()
    return dataclasses.replace(checkpoint, config=config, model=model)


def memory_overrides(family: str, *, top_k: int, capacity: int, lam: float, threshold: float) -> dict[str, Any]:
    """The generic Live settings (top-k, capacity, lambda, threshold) as a family's config fields."""
    if family == "memnet":
        return {"top_k": int(top_k), "write_floor": float(threshold)}
    if family == "cls":
        return {"knn_k": int(top_k), "knn_capacity": int(capacity), "context_lambda": float(lam)}
    return {}


SMALL_MODEL_PARAMS = 50_000_000
"""Below this many parameters a CPU model runs single-threaded: its matrices are too small to gain
from more threads, and on a busy machine two OpenMP threads made the tiny LM 14x slower (measured)."""


@contextlib.contextmanager
def cpu_threads_for(model: torch.nn.Module) -> Iterator[None]:
    """Run a small CPU model with one torch thread (restored afterwards); leave others alone."""
    device = next(model.parameters()).device
    small = device.type == "cpu" and sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMS
    before = torch.get_num_threads()
    if small:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if small:
            torch.set_num_threads(before)


# -- trace files ----------------------------------------------------------------------------------


def default_trace(runs_dir: Path, prefix: str = "live") -> Path:
    """``<runs_dir>/<prefix>-YYYYMMDD.duckdb``: one file per day, one run per generation."""
    return runs_dir / f"{prefix}-{dt.datetime.now().strftime('%Y%m%d')}.duckdb"


# -- runs -----------------------------------------------------------------------------------------


@dataclass
class LiveRun:
    """A run being recorded into ``trace``; the page calls :meth:`advance` on every rerun."""

    trace: Path
    run_id: str
    name: str
    family: str
    done: bool = False
    error: str | None = None
    shown_step: int = -1
    started: float = field(default_factory=time.monotonic)
    projector: Any = None
    """A ``SignatureProjector`` fitted once on the moments stored so far; later ones use ``transform``."""
    fitted: Any = None
    """The fitted signature rows with their ``x, y``."""

    def advance(self, max_steps: int, budget_s: float) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def pin(self) -> bool:
        """Mark the current moment as important (only moment memory can); True when pinned."""
        return False

    def stop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


REVEAL_TICKS = 40


class CheckpointRun(LiveRun):
    """A MemNet / CLS checkpoint evaluated on its task, recorded, then revealed step by step."""

    def __init__(self, checkpoint: Any, *, task: str, seed: int, trace: Path, name: str, device: str = "cpu") -> None:
        from engine.tasks import TASKS
        from engine.training.eval_trace import EvalPlan, evaluate_checkpoint

        if task not in TASKS:
            raise LiveInputError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
        task_params = task_inputs(checkpoint, task)
        sweep = SWEEPS.get(task)
        plan = EvalPlan(task=task, params=dict(task_params), sweep=sweep, batches=1, batch_size=16,
                        trace_batch=1, seed=seed, series=name)
        config = dataclasses.asdict(checkpoint.config)
        described = ", ".join(f"{k}={v}" for k, v in sorted(task_params.items()))
        with DuckDBRecorder(trace, name=name, family=checkpoint.family, model=str(checkpoint.path),
                            config={"model": config, "task": task, "task_params": task_params, "seed": seed},
                            input=f"task {task}" + (f" ({described})" if described else "") + f", seed {seed}",
                            device=device) as recorder:
            try:
                with cpu_threads_for(checkpoint.model):
                    evaluate_checkpoint(checkpoint, plan, recorder, torch.device(device))
            except ValueError as exc:  # a task parameter the task or model refuses
                raise LiveInputError(str(exc)) from None
            run_id = recorder.run_id
        super().__init__(trace=trace, run_id=run_id, name=name, family=checkpoint.family)
        from tracing.store import TraceStore

        steps = TraceStore(trace).event_counts(run_id)
        self.last_step = int(steps["step"].max()) if len(steps) else 0

    def advance(self, max_steps: int, budget_s: float) -> int:
        """Reveal more recorded steps: ``max_steps``, or a 40th of the run when that is more (a long
        episode then plays in about 40 ticks); returns how many were revealed."""
        before = self.shown_step
        stride = max(max_steps, -(-self.last_step // REVEAL_TICKS))
        self.shown_step = min(self.last_step, self.shown_step + stride)
        self.done = self.shown_step >= self.last_step
        return self.shown_step - before

    def stop(self) -> None:
        self.shown_step, self.done = self.last_step, True


def moment_config(*, threshold_mode: str, gamma: float, surprisal: float, entropy_delta: float, kl: float,
                  top_k: int, capacity: int, lam: float, resonance_threshold: float, min_age: int) -> Any:
    """The Live page's memory settings as an ``engine.moment.config.MomentConfig``.

    Records are flushed to the recorder every token (``flush_every=1``) so the panels follow.
    """
    from engine.moment.config import FixedThresholds, MomentConfig

    try:
        return MomentConfig(
            threshold_mode=threshold_mode, gamma=float(gamma),
            fixed=FixedThresholds(surprisal=float(surprisal), entropy_delta=float(entropy_delta), kl=float(kl)),
            k=int(top_k), capacity=int(capacity), lam=float(lam), resonance_threshold=float(resonance_threshold),
            min_age=int(min_age), flush_every=1,
        )
    except ValueError as exc:
        raise LiveInputError(f"memory settings: {exc}") from None


class LMRun(LiveRun):
    """Token-by-token generation under moment memory, recorded as it goes (family ``moment``)."""

    def __init__(self, lm: Any, *, prompt: str, max_new_tokens: int, config: Any, trace: Path, name: str,
                 temperature: float = 0.8, seed: int = 0) -> None:
        import warnings

        from engine.moment.prompt import EmptyPromptError, PromptWarning, clean_prompt
        from engine.moment.session import MomentSession

        self.notes: list[str] = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", PromptWarning)
            try:
                text = clean_prompt(prompt)
            except EmptyPromptError as exc:
                raise LiveInputError(f"{exc}: type a prompt for the model to read") from None
            ids = lm.tokenizer(text, add_special_tokens=False)["input_ids"]
        self.notes += [str(w.message) for w in caught]
        if not ids:
            raise LiveInputError("the model's tokenizer turns this prompt into no tokens: type some words")
        if len(ids) >= lm.context_length:
            self.notes.append(
                f"the prompt has {len(ids)} tokens and the model reads {lm.context_length}: only its end is kept"
            )
        self.recorder = DuckDBRecorder(
            trace, name=name, family="moment", model=lm.name, input=text, device=str(lm.device), flush_interval=0.5,
            config={"moment": config.to_dict(), "max_new_tokens": max_new_tokens, "temperature": temperature, "seed": seed},
        )
        super().__init__(trace=trace, run_id=self.recorder.run_id, name=name, family="moment")
        self.session = MomentSession(lm, config, recorder=self.recorder, temperature=temperature, seed=seed)
        self.resonance_threshold = float(config.resonance_threshold)
        self.events: list[Any] = []
        self._stream = self.session.generate(text, max_new_tokens=max_new_tokens)
        self.pins = 0

    def advance(self, max_steps: int, budget_s: float) -> int:
        """Generate (or read) up to ``max_steps`` tokens within ``budget_s`` seconds; returns how many."""
        import warnings

        deadline = time.monotonic() + budget_s
        pulled = 0
        with warnings.catch_warnings(record=True) as caught, cpu_threads_for(self.session.lm.model):
            warnings.simplefilter("always")
            while not self.done and pulled < max_steps and (pulled == 0 or time.monotonic() < deadline):
                try:
                    event = next(self._stream)
                except StopIteration:
                    self._finish("complete")
                    break
                except Exception as exc:
                    self.error = f"generation stopped: {exc}"
                    self._finish("crashed")
                    raise LiveInputError(self.error) from exc
                self.events.append(event)
                self.shown_step = event.step
                pulled += 1
        self.notes += [str(w.message) for w in caught if "prompt" in str(w.message)]
        return pulled  # the recorder flushes in the background (every 0.5 s); panels read what is flushed

    def pin(self) -> bool:
        """Store the next token boundary as a ``pinned`` moment."""
        if self.done:
            return False
        self.session.pin()
        self.pins += 1
        return True

    def stop(self) -> None:
        if not self.done:
            self._stream.close()
            self._finish("complete")

    def _finish(self, status: str) -> None:
        self.done = True
        try:
            self.session.close()
        finally:
            self.recorder.finish(status)

    def steps_frame(self) -> "pd.DataFrame":
        """What was read and generated so far, one row per token boundary.

        ``hits`` counts the stored moments within the resonance divergence (the ones that resonate).
        """
        import pandas as pd

        return pd.DataFrame(
            [dict(step=e.step, token_text=e.text, surprisal=e.surprisal, entropy=e.entropy, kl=e.kl,
                  is_prompt=e.is_prompt, stored=e.stored,
                  hits=sum(h.divergence < self.resonance_threshold for h in e.hits)) for e in self.events],
            columns=["step", "token_text", "surprisal", "entropy", "kl", "is_prompt", "stored", "hits"],
        )
