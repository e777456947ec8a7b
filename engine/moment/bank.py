"""The moment bank: fixed-capacity signature storage on the model's device.

Rows ``0..C-1`` hold moments; row ``C`` is a scratch row that absorbs the writes of rows that did
not fire, so a write never needs to know on the host whether anything fired (no sync per token).
The number of live rows is a device scalar (:attr:`count`); :attr:`upper` is a host-side upper
bound on it, exact after :meth:`sync`, that bounds the rows a search reads.

Columns (``C+1`` rows): ``topk_ids (k,)`` and ``q (k,)`` (renormalised top-k, compared with new
distributions), ``recall_ids/recall_probs (k+1,)`` (the distribution re-injected on resonance),
``floats`` = entropy, kl, surprisal; ``longs`` = moment_id, token_id, trigger, context_hash,
position, born (step), recalls, last_recall (step), merged; ``valid``; optional ``embedding`` (fp16).
"""

from __future__ import annotations

import torch

from engine.moment.divergence import sparse_vs_dense
from engine.moment.signature import match_distribution, recall_distribution

FLOAT_COLUMNS = ("entropy", "kl", "surprisal")
LONG_COLUMNS = ("moment_id", "token_id", "trigger", "context_hash", "position", "born", "recalls", "last_recall", "merged")
TENSOR_NAMES = ("topk_ids", "q", "recall_ids", "recall_probs", "floats", "longs", "valid", "embedding")


class MomentBank:
    """Device-resident signatures compared all at once with each new distribution."""

    def __init__(self, capacity: int, k: int, device: torch.device, outcome_weight: float, embedding_dim: int | None = None) -> None:
        self.capacity, self.k, self.device, self.outcome_weight = capacity, k, device, outcome_weight
        rows = capacity + 1
        self.topk_ids = torch.zeros(rows, k, dtype=torch.long, device=device)
        self.q = torch.zeros(rows, k, device=device)
        self.recall_ids = torch.zeros(rows, k + 1, dtype=torch.long, device=device)
        self.recall_probs = torch.zeros(rows, k + 1, device=device)
        self.floats = torch.zeros(rows, len(FLOAT_COLUMNS), device=device)
        self.longs = torch.zeros(rows, len(LONG_COLUMNS), dtype=torch.long, device=device)
        self.valid = torch.zeros(rows, dtype=torch.bool, device=device)
        self.embedding = torch.zeros(rows, embedding_dim, dtype=torch.float16, device=device) if embedding_dim else None
        self.count = torch.zeros((), dtype=torch.long, device=device)
        self.next_id = torch.zeros((), dtype=torch.long, device=device)
        self.upper = 0

    def col(self, name: str) -> torch.Tensor:
        """One named column over all ``C+1`` rows (a view)."""
        if name in FLOAT_COLUMNS:
            return self.floats[:, FLOAT_COLUMNS.index(name)]
        return self.longs[:, LONG_COLUMNS.index(name)]

    def write(self, fired: torch.Tensor, topk_ids: torch.Tensor, topk_probs: torch.Tensor, token: torch.Tensor, floats: torch.Tensor,
              trigger: torch.Tensor, context_hash: torch.Tensor, position: torch.Tensor, step: int | torch.Tensor,
              embedding: torch.Tensor | None = None) -> torch.Tensor:
        """Store the rows where ``fired (B,)``; returns each row's new moment id ``(B,)`` (``-1`` if none).

        ``topk_ids/topk_probs (B, k)``, ``token (B,)`` the token that followed, ``floats (B, 3)``,
        ``trigger, context_hash, position (B,)``, ``embedding (B, D)``. A full bank drops the
        write (consolidation keeps room; see :mod:`engine.moment.consolidation`). ``step`` may be a
        device scalar. The caller raises :attr:`upper` (host bound) by ``B`` (see :meth:`note_writes`).
        """
        order = fired.long().cumsum(0) - 1
        slot = self.count + order
        ok = fired & (slot < self.capacity)
        slot = torch.where(ok, slot, self.capacity)
        moment_id = torch.where(ok, self.next_id + order, -1)
        q = match_distribution(topk_probs.float())
        recall_ids, recall_probs = recall_distribution(topk_ids, q, token, self.outcome_weight)
        born = torch.as_tensor(step, device=token.device).long().expand(token.shape[0])
        longs = torch.stack([moment_id, token.long(), trigger.long(), context_hash.long(), position.long(), born,
                             torch.zeros_like(born), torch.full_like(born, -1), torch.zeros_like(born)], dim=-1)
        self.topk_ids.index_copy_(0, slot, topk_ids.long())
        self.q.index_copy_(0, slot, q)
        self.recall_ids.index_copy_(0, slot, recall_ids)
        self.recall_probs.index_copy_(0, slot, recall_probs)
        self.floats.index_copy_(0, slot, floats.float())
        self.longs.index_copy_(0, slot, longs)
        self.valid.index_copy_(0, slot, ok)
        if self.embedding is not None and embedding is not None:
            self.embedding.index_copy_(0, slot, embedding.to(torch.float16))
        written = ok.sum()
        self.count += written
        self.next_id += written
        return moment_id

    def note_writes(self, rows: int) -> None:
        """After a :meth:`write` of ``rows`` candidates: raise the host bound :attr:`upper` (no sync)."""
        self.upper = min(self.capacity, self.upper + rows)

    def search(self, p: torch.Tensor, kind: str, step: int | torch.Tensor, min_age: int, n: int, logp: torch.Tensor | None = None,
               rows: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``n`` closest live moments at least ``min_age`` tokens old, for every row of ``p (B, V)``.

        One batched divergence over the first ``rows`` rows (default :attr:`upper`; no loop over
        moments) -> ``divergence (B, n)`` (``inf`` where there is no candidate) and ``slot (B, n)``.
        """
        rows = self.upper if rows is None else rows
        batch = p.shape[0]
        if rows == 0:
            return torch.full((batch, n), float("inf"), device=p.device), torch.full((batch, n), self.capacity, device=p.device, dtype=torch.long)
        div = sparse_vs_dense(self.topk_ids[:rows], self.q[:rows], p, kind, logp)
        eligible = self.valid[:rows] & (self.col("born")[:rows] <= step - min_age)
        div = torch.where(eligible, div, float("inf"))
        m = min(n, rows)
        values, slots = torch.topk(div, m, dim=-1, largest=False)
        if m < n:
            values = torch.nn.functional.pad(values, (0, n - m), value=float("inf"))
            slots = torch.nn.functional.pad(slots, (0, n - m), value=self.capacity)
        slots = torch.where(torch.isfinite(values), slots, self.capacity)
        return values, slots

    def note_recall(self, slot: torch.Tensor, gate: torch.Tensor, step: int | torch.Tensor) -> None:
        """Count a recall of ``slot (B,)`` where ``gate (B,)``; remember the step."""
        slot = torch.where(gate, slot, self.capacity)
        recalls = LONG_COLUMNS.index("recalls")
        last = LONG_COLUMNS.index("last_recall")
        self.longs[:, recalls].index_add_(0, slot, gate.long())
        step = torch.as_tensor(step, device=slot.device).long()
        self.longs[:, last].index_copy_(0, slot, torch.where(gate, step, self.longs[slot, last]))

    def sync(self) -> int:
        """Read the live count on the host (one sync); :attr:`upper` becomes exact."""
        self.upper = int(self.count.item())
        return self.upper

    def live_slots(self) -> torch.Tensor:
        """Slots of live moments ``(n,)`` (host sync)."""
        return torch.nonzero(self.valid[: self.capacity]).squeeze(-1)

    def compact(self) -> None:
        """Move live rows to the front (after merges and prunes) so that writes append again."""
        keep = self.live_slots()
        n = keep.numel()
        for name in TENSOR_NAMES:
            tensor = getattr(self, name)
            if tensor is None:
                continue
            moved = tensor.index_select(0, keep)
            tensor[:n] = moved
            if name == "valid":
                tensor[n:] = False
        self.count.fill_(n)
        self.upper = n

    def state(self) -> dict[str, torch.Tensor]:
        """Live rows of every column (after :meth:`compact`), on the CPU, for saving."""
        n = self.sync()
        out = {name: getattr(self, name)[:n].detach().cpu().contiguous() for name in TENSOR_NAMES if getattr(self, name) is not None}
        out["next_id"] = self.next_id.detach().cpu().reshape(1)
        return out

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Replace the contents with a saved :meth:`state` (same ``k``; at most ``capacity`` rows)."""
        n = state["valid"].shape[0]
        if n > self.capacity:
            raise ValueError(f"the saved bank holds {n} moments but this memory's capacity is {self.capacity}")
        if state["topk_ids"].shape[1] != self.k:
            raise ValueError(f"the saved bank has top-k {state['topk_ids'].shape[1]}, this memory uses {self.k}")
        self.valid.zero_()
        for name in TENSOR_NAMES:
            tensor = getattr(self, name)
            if tensor is None or name not in state:
                continue
            tensor[:n] = state[name].to(device=tensor.device, dtype=tensor.dtype)
        self.count.fill_(n)
        self.next_id.fill_(int(state["next_id"][0]))
        self.upper = n
