"""Host 2: give a Hugging Face GPT-2 or Llama an episodic fast-weight path, without editing its source.

A forward hook on each block's attention module (``transformer.h[i].attn`` for GPT-2,
``model.layers[i].self_attn`` for Llama) adds the read of a per-layer fast-weight memory to the
attention output, exactly like the seed's augmented attention ``H_aug = A V + F_t^T q_t``:

    c_t = lambda c_{t-1} + U h_t,  h~_t = h_t + W_c c_{t-1}           (context drift)
    g_t = sigmoid(w_g^T [h~_t; c_t] + b_g)                            (write gate)
    q_t, k_t, v_t = W_q h~_t, W_K^fast h~_t, W_V^fast h~_t             (per head; q, k normalised)
    F_t = F_{t-1} + k_t u_t^T  (Hebbian u = g eta v, or delta rule)    (fast weights)
    attn_out_t += W_out (F_t^T q_t)                                   (W_out zero-initialised)

At initialisation ``W_out = 0``, so the pretrained model's outputs are unchanged until the path is
trained. The memory (F, c) persists across forward calls, so it spans a ``generate`` loop with a
KV cache and successive episodes; :meth:`FastWeightAttachment.reset` clears it. Only the path's
parameters are new; the host's are untouched (freeze them to train the path alone).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.cls.config import RULES, CLSConfigError
from engine.cls.context_drift import ContextDrift, check_lambda
from engine.cls.fast_weight_trace import trace_fast_weights
from engine.cls.fast_weights import fast_weight_chunked
from engine.cls.write_gate import WriteGate
from tracing.recorder import NULL_RECORDER, Recorder

ATTENTION_MODULES: dict[str, Callable[[nn.Module], list[nn.Module]]] = {
    "gpt2": lambda m: [block.attn for block in getattr(m, "transformer", m).h],
    "llama": lambda m: [layer.self_attn for layer in getattr(m, "model", m).layers],
}
"""The supported architectures (``config.model_type``) and where their attention modules live."""


class UnsupportedArchitectureError(ValueError):
    """A model whose architecture the attachment does not know."""


def attention_modules(model: nn.Module) -> list[nn.Module]:
    """The attention module of every block, or a one-line refusal naming the supported architectures."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in ATTENTION_MODULES:
        raise UnsupportedArchitectureError(
            f"unsupported architecture {model_type!r} for the fast-weight attachment; supported: {', '.join(sorted(ATTENTION_MODULES))}"
        )
    return ATTENTION_MODULES[model_type](model)


class FastWeightPath(nn.Module):
    """One layer's episodic path. ``forward(h (B, T, d), state) -> (read (B, T, d), state, trace)``."""

    def __init__(self, d_model: int, n_heads: int, head_dim: int, rule: str, eta: float, context_lambda: float, chunk_size: int) -> None:
        super().__init__()
        self.n_heads, self.head_dim, self.rule, self.eta, self.chunk_size = n_heads, head_dim, rule, eta, chunk_size
        inner = n_heads * head_dim
        self.drift = ContextDrift(d_model, d_model, context_lambda)
        self.gate = WriteGate(d_model, d_model)
        self.W_q = nn.Linear(d_model, inner, bias=False)
        self.W_K_fast = nn.Linear(d_model, inner, bias=False)
        self.W_V_fast = nn.Linear(d_model, inner, bias=False)
        self.W_out = nn.Linear(inner, d_model, bias=False)
        nn.init.zeros_(self.W_out.weight)

    def _heads(self, x: Tensor) -> Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.n_heads, self.head_dim).transpose(1, 2)

    def forward(self, h: Tensor, state: dict, step0: int = 0, recorder: Recorder = NULL_RECORDER, layer: int = 0) -> tuple[Tensor, dict]:
        h32 = h.float()
        c, h_tilde = self.drift(h32, state.get("c"))
        g = self.gate(h_tilde, c)
        B, T, _ = h.shape
        q = F.normalize(self._heads(self.W_q(h_tilde)), dim=-1)
        k = F.normalize(self._heads(self.W_K_fast(h_tilde)), dim=-1)
        v = self._heads(self.W_V_fast(h_tilde))
        beta = (g * self.eta).unsqueeze(1).expand(B, self.n_heads, T)
        result = fast_weight_chunked(q, k, v, beta, self.rule, self.chunk_size, state.get("F"))
        if recorder.enabled:
            trace_fast_weights(
                recorder, layer=layer, step0=step0, q=q, g=g, result=result, F0=state.get("F"), c=c, c_prev=state.get("c"),
                eta=self.eta, svd_every=16,
            )
        read = self.W_out(result.read.transpose(1, 2).reshape(B, T, -1))
        return read.to(h.dtype), {"F": result.state, "c": c[:, -1]}


class FastWeightAttachment(nn.Module):
    """Hooks a :class:`FastWeightPath` onto the attention of each chosen block of ``model``.

    ``layers``: block indices (default all). ``head_dim`` defaults to the host's. Refuses an
    unsupported architecture, an unknown rule, eta outside (0, 1] or lambda outside (0, 1).
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        rule: str = "delta",
        eta: float = 0.5,
        context_lambda: float = 0.9,
        layers: list[int] | None = None,
        n_heads: int | None = None,
        head_dim: int | None = None,
        chunk_size: int = 64,
    ) -> None:
        super().__init__()
        modules = attention_modules(model)
        if rule not in ("hebbian", "delta"):
            raise CLSConfigError(f"the attachment supports the hebbian and delta rules, not {rule!r} (rules: {', '.join(RULES)})")
        if not 0.0 < float(eta) <= 1.0:
            raise CLSConfigError(f"eta must be in (0, 1], got {eta}")
        check_lambda(context_lambda)
        cfg = model.config
        d_model = cfg.hidden_size
        n_heads = n_heads or cfg.num_attention_heads
        head_dim = head_dim or d_model // cfg.num_attention_heads
        self.settings = {
            "model_type": cfg.model_type, "hidden_size": d_model, "n_blocks": len(modules), "rule": rule, "eta": float(eta),
            "context_lambda": float(context_lambda), "layers": layers, "n_heads": n_heads, "head_dim": head_dim, "chunk_size": chunk_size,
        }
        self.layers = list(range(len(modules))) if layers is None else list(layers)
        bad = [i for i in self.layers if not 0 <= i < len(modules)]
        if bad:
            raise CLSConfigError(f"layers {bad} outside 0..{len(modules) - 1}")
        self.paths = nn.ModuleList(FastWeightPath(d_model, n_heads, head_dim, rule, eta, context_lambda, chunk_size) for _ in self.layers)
        self.recorder: Recorder = NULL_RECORDER
        self.reset()
        param = next(model.parameters())
        self.to(device=param.device)
        self._handles = [
            modules[layer].register_forward_hook(self._hook(i, layer), with_kwargs=True) for i, layer in enumerate(self.layers)
        ]

    def reset(self) -> None:
        """Forget every episode: empty F and c, step counter back to 0."""
        self.states: list[dict] = [{} for _ in self.layers]
        self.step = 0

    def _hook(self, index: int, layer: int):
        def hook(module: nn.Module, args: tuple, kwargs: dict, output):
            h = args[0] if args else kwargs["hidden_states"]
            read, self.states[index] = self.paths[index](h, self.states[index], self.step, self.recorder, layer)
            if index == len(self.layers) - 1:  # the last hooked layer of this call: the steps are consumed
                self.step += h.shape[1]
            if isinstance(output, tuple):
                return (output[0] + read, *output[1:])
            return output + read

        return hook

    @contextlib.contextmanager
    def tracing(self, recorder: Recorder) -> Iterator[None]:
        """Record the fast-weight events of the forward calls made inside the block."""
        previous, self.recorder = self.recorder, recorder
        try:
            yield
        finally:
            self.recorder = previous

    def detach(self) -> None:
        """Remove the hooks: the host model is exactly as it was."""
        for handle in self._handles:
            handle.remove()
        self._handles = []


class AttachmentFileError(ValueError):
    """A saved attachment that is missing, not safetensors, or made for another host."""


WEIGHTS, SETTINGS = "fast_weights.safetensors", "fast_weights.json"


def save_attachment(attachment: FastWeightAttachment, folder: str | Path) -> Path:
    """Write the path's weights (safetensors) and settings (JSON) into ``folder``."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().cpu() for k, v in attachment.paths.state_dict().items()}, str(folder / WEIGHTS))
    (folder / SETTINGS).write_text(json.dumps(attachment.settings, indent=2))
    return folder


def load_attachment(model: nn.Module, folder: str | Path) -> FastWeightAttachment:
    """Attach to ``model`` the path saved in ``folder``; a path saved for another host is refused."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / SETTINGS).is_file() or not (folder / WEIGHTS).is_file():
        raise AttachmentFileError(f"{folder} holds no saved fast-weight attachment ({SETTINGS} + {WEIGHTS})")
    try:
        saved = json.loads((folder / SETTINGS).read_text())
        weights = load_file(str(folder / WEIGHTS))
    except (json.JSONDecodeError, SafetensorError, OSError) as exc:
        raise AttachmentFileError(f"{folder}: unreadable attachment ({' '.join(str(exc).split())})") from None
    cfg = getattr(model, "config", None)
    host = {"model_type": getattr(cfg, "model_type", None), "hidden_size": getattr(cfg, "hidden_size", None), "n_blocks": len(attention_modules(model))}
    for key, value in host.items():
        if saved.get(key) != value:
            raise AttachmentFileError(f"attachment was saved for {key}={saved.get(key)!r}, this model has {key}={value!r}")
    attachment = FastWeightAttachment(
        model, rule=saved["rule"], eta=saved["eta"], context_lambda=saved["context_lambda"], layers=saved["layers"],
        n_heads=saved["n_heads"], head_dim=saved["head_dim"], chunk_size=saved["chunk_size"],
    )
    try:
        attachment.paths.load_state_dict(weights)
    except RuntimeError as exc:
        attachment.detach()
        raise AttachmentFileError(f"{folder}: weights do not match its settings ({str(exc).splitlines()[0]})") from None
    return attachment
