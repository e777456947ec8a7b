"""A live moment-memory session: generate token by token (KV cache) and stream what memory does.

The Streamlit Live page iterates over :meth:`MomentSession.generate`; each item is a
:class:`TokenEvent` (plain Python values, ready to display)::

    session = MomentSession(load_lm(None), recorder=recorder)
    for event in session.generate("The harbour clerk", max_new_tokens=64):
        print(event.text, event.entropy, event.surprisal, event.kl, event.stored, event.hits)
    session.pin()          # the next boundary is stored as a "pinned" moment (the app's button)
    session.save("bank.safetensors"); session.load("bank.safetensors")   # memory across sessions

Prompt tokens are read teacher-forced first (events with ``is_prompt=True``): what the prompt says
is experience too. The bank persists across ``generate`` calls on one session. When the window
reaches the model's context length, it slides (the last half is re-encoded).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import torch

from engine.lm.loading import LoadedLM
from engine.moment.config import MomentConfig
from engine.moment.detection import TRIGGERS
from engine.moment.memory import Boundary, MomentMemory
from engine.moment.persistence import load_bank, save_bank, vocab_fingerprint
from engine.moment.prompt import clean_prompt, fit_context
from tracing.recorder import NULL_RECORDER, Recorder


@dataclass
class ResonanceHit:
    """One stored moment close to the current distribution."""

    moment_id: int
    divergence: float
    context_text: str | None


@dataclass
class TokenEvent:
    """What happened at one token boundary (host values)."""

    step: int
    token_id: int
    text: str
    is_prompt: bool
    entropy: float
    surprisal: float
    kl: float
    stored: bool
    trigger: str | None
    moment_id: int | None
    boost: float
    dlogp: float
    hits: list[ResonanceHit] = field(default_factory=list)
    reintroduced: str | None = None


class MomentSession:
    """Token-by-token generation with moment memory over a loaded causal LM."""

    def __init__(self, lm: LoadedLM, config: MomentConfig | None = None, recorder: Recorder = NULL_RECORDER,
                 temperature: float = 0.8, top_k: int = 40, seed: int = 0, reinject_context: bool = False) -> None:
        self.lm = lm
        self.config = config or MomentConfig()
        hidden = getattr(lm.model.config, "hidden_size", None) or getattr(lm.model.config, "n_embd", None)
        self.memory = MomentMemory(lm.vocab_size, lm.device, self.config, recorder=recorder, tokenizer=lm.tokenizer,
                                   embedding_dim=hidden, vocab_fingerprint=vocab_fingerprint(lm.tokenizer))
        self.temperature, self.top_k, self.reinject_context = temperature, top_k, reinject_context
        self.generator = torch.Generator(device=lm.device).manual_seed(seed)
        self._reintroduced: set[int] = set()

    def pin(self) -> None:
        """Store the next boundary as a ``pinned`` moment (user-labelled importance)."""
        self.memory.pin()

    def save(self, path) -> None:
        """Save the bank (see :mod:`engine.moment.persistence`)."""
        save_bank(self.memory, path, model_name=self.lm.name)

    def load(self, path) -> dict:
        """Load a bank saved from a model with the same vocabulary."""
        return load_bank(self.memory, path)

    @torch.no_grad()
    def generate(self, prompt: str | bytes, max_new_tokens: int = 64) -> Iterator[TokenEvent]:
        """Read ``prompt``, then generate up to ``max_new_tokens`` tokens, yielding one event per boundary."""
        if max_new_tokens < 0:
            raise ValueError("max_new_tokens must be >= 0")
        text = clean_prompt(prompt)
        ids = self.lm.tokenizer(text, add_special_tokens=False)["input_ids"]
        ids = fit_context(ids, self.lm.context_length, max_new_tokens)
        history = torch.tensor([ids], device=self.lm.device)
        self.memory.reset_context()
        out = self.lm.model(input_ids=history, use_cache=True, output_hidden_states=self.config.store_embedding)
        past, emitted = out.past_key_values, ""
        for t in range(history.shape[1] - 1):
            self.memory.propose(out.logits[:, t], history[:, : t + 1], self._hidden(out, t))
            yield self._event(self.memory.commit(history[:, t + 1]), is_prompt=True, text=self.lm.tokenizer.decode(history[0, t + 1 : t + 2]))
        logits, hidden_out, hidden_t = out.logits[:, -1], out, -1
        start = history.shape[1]
        for _ in range(max_new_tokens):
            scores = self.memory.propose(logits, history, self._hidden(hidden_out, hidden_t))
            token = self._sample(scores)
            boundary = self.memory.commit(token)
            history = torch.cat([history, token.view(1, 1)], dim=1)
            decoded = self.lm.tokenizer.decode(history[0, start:])
            event = self._event(boundary, is_prompt=False, text=decoded[len(emitted):])
            emitted = decoded
            feed = token.view(1, 1)
            if self.reinject_context and event.hits and event.boost > 0:
                feed, event.reintroduced = self._reintroduction(event, feed)
            yield event
            if token.item() == self.lm.tokenizer.eos_token_id:
                break
            past, feed = self._make_room(past, history, feed)
            out = self.lm.model(input_ids=feed, past_key_values=past, use_cache=True, output_hidden_states=self.config.store_embedding)
            past, logits, hidden_out, hidden_t = out.past_key_values, out.logits[:, -1], out, -1
        self.memory.flush()

    def close(self) -> None:
        """End the session: flush, record live cells' ages, close the episode chain."""
        self.memory.finish()
        self.memory.end_episode()

    # -- helpers --------------------------------------------------------------------------
    def _hidden(self, out, t: int) -> torch.Tensor | None:
        if not self.config.store_embedding:
            return None
        return out.hidden_states[-1][:, t].float()

    def _sample(self, scores: torch.Tensor) -> torch.Tensor:
        if self.temperature <= 0:
            return scores.argmax(-1)
        logits = scores.float() / self.temperature
        if self.top_k:
            kth = torch.topk(logits, min(self.top_k, logits.shape[-1]), dim=-1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        return torch.multinomial(torch.softmax(logits, -1), 1, generator=self.generator).squeeze(-1)

    def _reintroduction(self, event: TokenEvent, feed: torch.Tensor) -> tuple[torch.Tensor, str | None]:
        """Re-introduce the best hit's stored context text into the model's context (once per moment)."""
        hit = event.hits[0]
        if hit.moment_id in self._reintroduced or not hit.context_text:
            return feed, None
        self._reintroduced.add(hit.moment_id)
        extra = self.lm.tokenizer(" " + hit.context_text.strip(), add_special_tokens=False, return_tensors="pt")["input_ids"]
        return torch.cat([feed, extra.to(feed.device)], dim=1), hit.context_text

    def _make_room(self, past, history: torch.Tensor, feed: torch.Tensor):
        """Slide the window when the cache would outgrow the context: re-encode the last half."""
        limit = self.lm.context_length
        if past.get_seq_length() + feed.shape[1] <= limit:
            return past, feed
        keep = history[:, -(limit // 2):-1]
        out = self.lm.model(input_ids=keep, use_cache=True)
        return out.past_key_values, feed[:, -(limit - keep.shape[1]):]

    def _event(self, b: Boundary, is_prompt: bool, text: str) -> TokenEvent:
        """Host view of row 0 of a boundary (one small sync; the session is interactive)."""
        div, hid = b.hit_div[0].tolist(), b.hit_id[0].tolist()
        self.memory.flush()
        hits = [ResonanceHit(int(i), float(d), self.memory.texts.get(int(i))) for d, i in zip(div, hid) if i >= 0]
        trigger = int(b.trigger[0])
        return TokenEvent(step=b.step, token_id=int(b.token[0]), text=text, is_prompt=is_prompt, entropy=float(b.entropy[0]),
                          surprisal=float(b.surprisal[0]), kl=float(b.kl[0]), stored=int(b.moment_id[0]) >= 0,
                          trigger=TRIGGERS[trigger] if trigger else None, moment_id=int(b.moment_id[0]) if int(b.moment_id[0]) >= 0 else None,
                          boost=float(b.boost[0]), dlogp=float(b.dlogp[0]), hits=hits)
