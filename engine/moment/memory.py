"""MomentMemory: detection, storage, resonance and re-injection over one model's distributions.

Two calls per token boundary ``t`` (``B`` rows, vocabulary ``V``)::

    scores = memory.propose(logits_t (B, V), context_ids (B, T))   # resonance + re-injection
    record = memory.commit(token_t (B,))                          # surprisal, detection, storage

:meth:`propose` summarises ``p_t`` (entropy, KL from ``p_{t-1}``, top-k shift), compares it with
every stored signature at once, and -- when the best match's divergence is below the resonance
threshold -- mixes the stored distribution in: ``p'_t = (1 - lambda) p_t + lambda q_m``.
:meth:`commit` learns the chosen token ``x_t``, computes its surprisal and the change of its
log-probability due to the mix, runs detection and stores a signature when a trigger fires.

Nothing synchronises with the host per token: per-boundary tensors go to a device log that
:meth:`flush` (every ``flush_every`` boundaries) copies once, hands to the recorder and follows
with consolidation. Recording (ARCHITECTURE.md lifecycle convention): every boundary -> a
``steps`` row; stored moment -> ``write`` event (cell = moment id) + ``moments`` row; resonance ->
``resonance`` event (weight = divergence, gate = boost) + metric ``resonance_dlogp``; merge ->
``merge`` (other_cell = survivor); prune -> ``prune``; cell ages -> ``cell_states``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.moment.bank import MomentBank
from engine.moment.chains import EpisodeChain
from engine.moment.config import MomentConfig
from engine.moment.consolidation import ConsolidationResult, consolidate
from engine.moment.detection import TRIGGERS, MomentDetector, boundary_signals
from engine.moment.distribution import LOGP_FLOOR, entropy, kl_divergence, log_probs, surprisal, top_k, topk_shift
from engine.moment.signature import context_hash, format_hash, hash_powers
from tracing.recorder import NULL_RECORDER, Recorder

MEMORY = "moment"


@dataclass
class Boundary:
    """Device tensors of one committed boundary (``B`` rows; ``n`` resonance hits per row)."""

    step: int
    token: torch.Tensor          # (B,) chosen token x_t
    surprisal: torch.Tensor      # (B,) -log p_t(x_t)
    entropy: torch.Tensor        # (B,)
    kl: torch.Tensor             # (B,) KL(p_t || p_{t-1})
    shift: torch.Tensor          # (B,) top-k shift
    topk_ids: torch.Tensor       # (B, k)
    topk_probs: torch.Tensor     # (B, k)
    trigger: torch.Tensor        # (B,) code in TRIGGERS (0 = not stored)
    moment_id: torch.Tensor      # (B,) id of the stored moment, -1 if none
    context_hash: torch.Tensor   # (B,)
    text_ids: torch.Tensor       # (B, text_window) tokens up to and including x_t
    hit_div: torch.Tensor        # (B, n) divergences of the closest moments (inf: none)
    hit_id: torch.Tensor         # (B, n) their moment ids (-1: none)
    boost: torch.Tensor          # (B,) lambda applied (0 when no resonance)
    dlogp: torch.Tensor          # (B,) log p'_t(x_t) - log p_t(x_t)
    embedding: torch.Tensor | None = None  # (B, D) last hidden state (``store_embedding``)


class MomentMemory:
    """The attention-gated moment memory of one model (see the module docstring)."""

    def __init__(self, vocab_size: int, device: torch.device | str = "cpu", config: MomentConfig | None = None,
                 recorder: Recorder = NULL_RECORDER, batch_size: int = 1, tokenizer=None,
                 embedding_dim: int | None = None, vocab_fingerprint: str | None = None) -> None:
        self.config = config or MomentConfig()
        self.vocab_size = vocab_size
        self.device = torch.device(device)
        self.recorder = recorder
        self.batch_size = batch_size
        self.tokenizer = tokenizer
        self.vocab_fingerprint = vocab_fingerprint
        cfg = self.config
        self.bank = MomentBank(cfg.capacity, cfg.k, self.device, cfg.outcome_weight, embedding_dim if cfg.store_embedding else None)
        self.detector = MomentDetector(cfg, batch_size, self.device)
        self.step = 0
        self.step_t = torch.zeros((), dtype=torch.long, device=self.device)
        self._hash_powers = hash_powers(cfg.hash_window, self.device)
        self._first_valid = torch.tensor([True, False, False, False, False], device=self.device)
        self._compiled = cfg.compile
        self._propose_fn = torch.compile(self._propose_tensors, dynamic=False) if cfg.compile else self._propose_tensors
        self._commit_fn = torch.compile(self._commit_tensors, dynamic=False) if cfg.compile else self._commit_tensors
        self.texts: dict[int, str] = {}
        self.episode = EpisodeChain.empty(cfg.k)
        self.episodes: list[EpisodeChain] = []
        self.last_consolidation: ConsolidationResult | None = None
        self._log: list[Boundary] = []
        self._pending: dict | None = None
        self._prev: dict | None = None
        self._consolidated_at = 0

    # -- per token ------------------------------------------------------------------------
    def propose(self, logits: torch.Tensor, context_ids: torch.Tensor, hidden: torch.Tensor | None = None, reinject: bool = True) -> torch.Tensor:
        """Summarise ``p_t``, find resonating moments, re-inject. ``logits (B, V)``, ``context_ids (B, T)``
        (the tokens that produced ``p_t``), ``hidden (B, D)`` optional -> scores ``(B, V)``.

        Where no moment resonates (or ``reinject`` is off) the returned scores are ``logits``
        unchanged; where one does they are ``logits + log p'_t - log p_t``.
        """
        cfg = self.config
        prev = self._prev
        rows = self.bank.capacity if self._compiled else self.bank.upper
        last = _last_tokens(context_ids, max(cfg.hash_window, cfg.text_window - 1))
        scores, pending = self._propose_fn(logits, prev["logp"] if prev else None, prev["ids"] if prev else None, last,
                                           bool(reinject and cfg.lam > 0), rows)
        pending["position"] = torch.full((logits.shape[0],), context_ids.shape[1], dtype=torch.long, device=self.device)
        pending["hidden"] = hidden
        self._pending = pending
        return scores

    def _propose_tensors(self, logits: torch.Tensor, prev_logp: torch.Tensor | None, prev_ids: torch.Tensor | None,
                         last_ids: torch.Tensor, reinject: bool, rows: int) -> tuple[torch.Tensor, dict]:
        """The device math of :meth:`propose` (no host sync; compiled when ``config.compile``)."""
        cfg = self.config
        logp = log_probs(logits)
        p = logp.exp()
        ids, probs = top_k(logp, cfg.k)
        kl = kl_divergence(logp, prev_logp) if prev_logp is not None else torch.zeros(logp.shape[0], device=logp.device)
        shift = topk_shift(ids, prev_ids) if prev_ids is not None else torch.zeros_like(kl)
        hit_div, hit_slot = self.bank.search(p, cfg.divergence, self.step_t, cfg.min_age, cfg.n_hits, logp, rows=rows)
        gate = hit_div[:, 0] < cfg.resonance_threshold
        best = hit_slot[:, 0]
        mixed, scores = logp, logits
        if reinject:
            boost = cfg.lam * gate.float()
            mixed_p = p * (1.0 - boost).unsqueeze(-1)
            mixed_p = mixed_p.scatter_add(1, self.bank.recall_ids[best], boost.unsqueeze(-1) * self.bank.recall_probs[best])
            mixed = mixed_p.clamp_min(1e-35).log().clamp_min(LOGP_FLOOR)
            scores = torch.where(gate.unsqueeze(-1), logits.float() + (mixed - logp), logits.float()).to(logits.dtype)
        else:
            boost = torch.zeros_like(kl)
        self.bank.note_recall(best, gate, self.step_t)
        hit_id = torch.where(torch.isfinite(hit_div), self.bank.col("moment_id")[hit_slot], -1)
        text_ids = last_ids[:, last_ids.shape[1] - (cfg.text_window - 1):].contiguous()
        pending = dict(logp=logp, mixed=mixed, ids=ids, probs=probs, entropy=entropy(logp), kl=kl, shift=shift,
                       hash=context_hash(last_ids, self._hash_powers), text_ids=text_ids, hit_div=hit_div, hit_id=hit_id, boost=boost)
        return scores, pending

    def commit(self, token: torch.Tensor) -> Boundary:
        """The token ``x_t (B,)`` was chosen: detect, maybe store, log. Call after :meth:`propose`."""
        if self._pending is None:
            raise RuntimeError("commit() without a matching propose()")
        cur, prev = self._pending, self._prev
        token = token.to(self.device).long()
        fields = self._commit_fn(token, cur, prev["entropy"] if prev else None)
        self.bank.note_writes(token.shape[0])
        boundary = Boundary(step=self.step, token=token, entropy=cur["entropy"], kl=cur["kl"], shift=cur["shift"], topk_ids=cur["ids"],
                            topk_probs=cur["probs"], context_hash=cur["hash"], hit_div=cur["hit_div"], hit_id=cur["hit_id"],
                            boost=cur["boost"], embedding=cur["hidden"], **fields)
        self._prev = dict(logp=cur["logp"], ids=cur["ids"], entropy=cur["entropy"])
        self._pending = None
        self._log.append(boundary)
        self.step += 1
        if len(self._log) >= self.config.flush_every:
            self.flush()
        return boundary

    def _commit_tensors(self, token: torch.Tensor, cur: dict, prev_entropy: torch.Tensor | None) -> dict:
        """The device math of :meth:`commit`: surprisal, detection, storage (compiled when ``config.compile``)."""
        sur = surprisal(cur["logp"], token)
        dlogp = cur["mixed"].gather(-1, token.unsqueeze(-1)).squeeze(-1) + sur
        signals = boundary_signals(sur, cur["entropy"], cur["entropy"] if prev_entropy is None else prev_entropy, cur["kl"], cur["shift"])
        valid = self._first_valid if prev_entropy is None else None
        fired, trigger = self.detector.detect(signals, valid)
        floats = torch.stack([cur["entropy"], cur["kl"], sur], dim=-1)
        moment_id = self.bank.write(fired, cur["ids"], cur["probs"], token, floats, trigger, cur["hash"], cur["position"], self.step_t, cur["hidden"])
        self.step_t += 1
        return dict(surprisal=sur, dlogp=dlogp, trigger=trigger, moment_id=moment_id,
                    text_ids=torch.cat([cur["text_ids"], token.unsqueeze(-1)], dim=-1))

    def pin(self) -> None:
        """User-labelled importance: store the next committed boundary (trigger ``pinned``)."""
        self.detector.pin()

    def reset_context(self) -> None:
        """Forget the previous distribution (a new, unrelated text starts); the bank stays."""
        self._prev = None
        self._pending = None

    # -- batched host work ----------------------------------------------------------------
    def flush(self) -> None:
        """Copy the logged boundaries to the host once, record them, extend the episode, consolidate."""
        if not self._log:
            return
        log, self._log = self._log, []
        host = {name: torch.stack([getattr(b, name) for b in log]).cpu().numpy() for name in
                ("token", "surprisal", "entropy", "kl", "topk_ids", "topk_probs", "trigger", "moment_id", "context_hash",
                 "text_ids", "hit_div", "hit_id", "boost", "dlogp")}
        if log[0].embedding is not None:
            host["embedding"] = torch.stack([b.embedding.float() for b in log]).cpu().numpy()
        steps = np.array([b.step for b in log])
        stored = host["moment_id"] >= 0  # (S, B)
        self._remember_texts(host, stored)
        self.episode = self.episode.extend(host["moment_id"][stored], np.broadcast_to(steps[:, None], stored.shape)[stored],
                                           host["topk_ids"][stored], host["topk_probs"][stored])
        if self.recorder.enabled:
            self._record(host, steps, stored)
        bank_full = self.bank.capacity - self.bank.sync() < self.config.flush_every * self.batch_size
        if bank_full or self.step - self._consolidated_at >= self.config.flush_every:
            self._consolidate(need_free=self.config.flush_every * self.batch_size)

    def _remember_texts(self, host: dict, stored: np.ndarray) -> None:
        if self.tokenizer is None or not stored.any():
            return
        windows = host["text_ids"][stored]
        texts = self.tokenizer.batch_decode([[int(t) for t in row if t >= 0] for row in windows])
        for moment_id, text in zip(host["moment_id"][stored].tolist(), texts):
            self.texts[moment_id] = text

    def _record(self, host: dict, steps: np.ndarray, stored: np.ndarray) -> None:
        rec = self.recorder
        S, B = host["token"].shape
        step_col = np.repeat(steps, B)
        batch_col = np.tile(np.arange(B), S)
        token_text = self.tokenizer.batch_decode(host["token"].reshape(-1, 1)) if self.tokenizer is not None else None
        k = host["topk_ids"].shape[-1]
        rec.steps(step=step_col, batch=batch_col, token_id=host["token"].reshape(-1), token_text=token_text,
                  surprisal=host["surprisal"].reshape(-1), entropy=host["entropy"].reshape(-1), kl=host["kl"].reshape(-1),
                  topk_ids=host["topk_ids"].reshape(-1, k), topk_probs=host["topk_probs"].reshape(-1, k))
        if stored.any():
            ids = host["moment_id"][stored]
            st = np.broadcast_to(steps[:, None], stored.shape)[stored]
            bt = np.broadcast_to(np.arange(B)[None, :], stored.shape)[stored]
            rec.events(step=st, batch=bt, op="write", memory=MEMORY, cell=ids, weight=host["surprisal"][stored])
            rec.moments(moment_id=ids, step=st, batch=bt, memory=MEMORY, trigger=[TRIGGERS[c] for c in host["trigger"][stored]],
                        entropy=host["entropy"][stored], kl=host["kl"][stored], surprisal=host["surprisal"][stored],
                        topk_ids=host["topk_ids"][stored], topk_probs=host["topk_probs"][stored],
                        context_hash=[format_hash(h) for h in host["context_hash"][stored]],
                        context_text=[self.texts.get(int(i)) for i in ids],
                        embedding=host["embedding"][stored] if "embedding" in host else None)
        hit = host["boost"] > 0
        if hit.any():
            st = np.broadcast_to(steps[:, None], hit.shape)[hit]
            bt = np.broadcast_to(np.arange(B)[None, :], hit.shape)[hit]
            rec.events(step=st, batch=bt, op="resonance", memory=MEMORY, cell=host["hit_id"][..., 0][hit],
                       weight=host["hit_div"][..., 0][hit], gate=host["boost"][hit])
            rec.metric("resonance_dlogp", host["dlogp"][hit], step=st, series=MEMORY)

    def _consolidate(self, need_free: int) -> None:
        cfg = self.config
        rows = self.bank.upper
        new = torch.nonzero(self.bank.valid[:rows] & (self.bank.col("born")[:rows] >= self._consolidated_at)).squeeze(-1)
        result = consolidate(self.bank, new, self.step, cfg.merge_eps, cfg.prune_age, need_free, self.vocab_size)
        self._consolidated_at = self.step
        self.last_consolidation = result
        if self.recorder.enabled and (result.merged or result.pruned):
            step = self.step - 1
            if result.merged:
                dead, survivor = zip(*result.merged)
                self.recorder.events(step=step, op="merge", memory=MEMORY, cell=np.array(dead), other_cell=np.array(survivor))
            if result.pruned:
                self.recorder.events(step=step, op="prune", memory=MEMORY, cell=np.array(result.pruned))
                self.recorder.cell_states(step=step, memory=MEMORY, cell=np.array(result.pruned), age=np.array(result.pruned_ages, dtype=np.float32))

    def record_cell_states(self) -> None:
        """Age and usage (recall count) of every live moment now (at a run's end, for survival plots)."""
        if not self.recorder.enabled:
            return
        slots = self.bank.live_slots()
        if slots.numel() == 0:
            return
        self.recorder.cell_states(step=max(self.step - 1, 0), memory=MEMORY, cell=self.bank.col("moment_id")[slots].clone(),
                                  age=(self.step - self.bank.col("born")[slots]).float(), usage=self.bank.col("recalls")[slots].float())

    def end_episode(self) -> EpisodeChain:
        """Close the current episode chain (kept in :attr:`episodes`) and start a new one."""
        self.flush()
        chain = self.episode
        if len(chain):
            self.episodes.append(chain)
        self.episode = EpisodeChain.empty(self.config.k)
        return chain

    def finish(self) -> None:
        """Flush, consolidate and record the live cells' ages (does not finish the recorder)."""
        self.flush()
        self.record_cell_states()

    @property
    def size(self) -> int:
        """Live moments in the bank (host sync)."""
        return int(self.bank.valid[: self.bank.capacity].sum())


def _last_tokens(ids: torch.Tensor, n: int) -> torch.Tensor:
    """The last ``n`` ids of each row, left-padded with ``-1``: ``(B, T) -> (B, n)``."""
    ids = ids[:, ids.shape[1] - min(n, ids.shape[1]):].long()
    return torch.nn.functional.pad(ids, (n - ids.shape[1], 0), value=-1).contiguous()
