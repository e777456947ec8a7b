"""Which attention kernel makes bf16 CLS training non-finite on CUDA? (docs/results/cls.md, Precision)

    python bench/cls_bf16_probe.py --rule hebbian --sdpa model default math efficient cudnn --steps 600

Trains the assoc-recall model of docs/results/cls.md (d_model 128, 2 heads, 2 layers, window 2, no
positions) under bf16 autocast, ``full_precision=False``, once per scaled-dot-product-attention backend
(same seed, same batches): ``model`` is the model's own choice (``ATTENTION_BACKENDS``: every kernel but
cuDNN's), ``default`` PyTorch's choice among all kernels, the others one kernel alone. Prints per
backend the first step whose loss or gradients are not finite and the parameters whose gradients
were, or ``finite`` after ``--steps`` steps.
"""

from __future__ import annotations

import argparse
import time

import torch

import engine.cls.augmented_attention as augmented_attention
from engine.cls.config import CLSConfig
from engine.cls.model import CLSTransformer
from engine.tasks import make_task
from engine.training.trainer import task_loss

MODEL_CHOICE = list(augmented_attention.ATTENTION_BACKENDS)
BACKENDS = {"math": "MATH", "efficient": "EFFICIENT_ATTENTION", "cudnn": "CUDNN_ATTENTION", "flash": "FLASH_ATTENTION"}


def backends(choice: str) -> list:
    """The SDPA kernels the model's attention may use for ``choice``."""
    from torch.nn.attention import SDPBackend

    if choice == "model":
        return list(MODEL_CHOICE)
    if choice == "default":
        return [getattr(SDPBackend, name) for name in BACKENDS.values()]
    return [getattr(SDPBackend, BACKENDS[choice])]


def probe(rule: str, backend: str, steps: int, device: torch.device, seed: int = 0) -> str:
    """Train ``steps`` steps in bf16 with the attention kernels of ``backend``; a one-line verdict."""
    torch.manual_seed(seed)
    task = make_task("assoc-recall", n_pairs=8, max_pairs=64, n_keys=128, n_values=32, n_queries=8)
    cfg = CLSConfig(vocab_size=task.vocab_size, d_model=128, n_heads=2, n_layers=2, d_ff=256, attn_window=2, pos_embedding=False, rule=rule, max_len=512)
    model = CLSTransformer(cfg).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    generator = torch.Generator().manual_seed(seed)
    began = time.time()
    for step in range(steps):
        batch = task.make_batch(64, generator).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            logits = model(batch.inputs).logits
        loss = task_loss(logits, batch.targets)
        optimizer.zero_grad(set_to_none=True)
        try:
            loss.backward()
        except RuntimeError as exc:
            return f"{rule} {backend}: error at step {step}: {str(exc).splitlines()[0]}"
        bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
        if not torch.isfinite(loss) or bad:
            return f"{rule} {backend}: NON-FINITE at step {step} (loss {loss.item():.3f}; {len(bad)} grads, e.g. {bad[:4]})"
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    return f"{rule} {backend}: finite for {steps} steps (loss {loss.item():.3f}, {time.time() - began:.0f} s)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rule", default="hebbian")
    parser.add_argument("--sdpa", nargs="+", default=["model", "default", "math", "efficient", "cudnn"], choices=["model", "default", *BACKENDS])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for backend in args.sdpa:
        augmented_attention.ATTENTION_BACKENDS = backends(backend)
        print(probe(args.rule, backend, args.steps, torch.device(args.device)), flush=True)
    augmented_attention.ATTENTION_BACKENDS = MODEL_CHOICE


if __name__ == "__main__":
    main()
