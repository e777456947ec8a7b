"""A fused Triton kernel for the large-bank resonance search (CUDA only; optional).

One program reads ``BLOCK_M`` stored moments (``ids (M, k)`` int32, ``sqrt q (M, k)`` fp16), gathers
``sqrt p`` at their ids, reduces the Bhattacharyya coefficient ``sum_i sqrt(q_i p_i)`` over ``k``
and keeps its block's best; a second, tiny reduction picks the winner. Hellinger distance
``sqrt(1 - BC)``. Same result as :func:`engine.moment.divergence.hellinger_search` with ``n = 1``.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _block_best(ids_ptr, sqrt_q_ptr, sqrt_p_ptr, best_ptr, index_ptr, M, V, n_blocks,
                K: tl.constexpr, K_POW2: tl.constexpr, BLOCK_M: tl.constexpr):
    block = tl.program_id(0)
    row = tl.program_id(1)
    rows = block * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.arange(0, K_POW2)
    mask = (rows[:, None] < M) & (cols[None, :] < K)
    offsets = rows[:, None].to(tl.int64) * K + cols[None, :]
    ids = tl.load(ids_ptr + offsets, mask=mask, other=0)
    sqrt_q = tl.load(sqrt_q_ptr + offsets, mask=mask, other=0.0).to(tl.float32)
    sqrt_p = tl.load(sqrt_p_ptr + row * V + ids, mask=mask, other=0.0).to(tl.float32)
    bc = tl.sum(sqrt_q * sqrt_p, axis=1)
    bc = tl.where(rows < M, bc, -1.0)
    best = tl.max(bc, axis=0)
    index = tl.argmax(bc, axis=0)
    tl.store(best_ptr + row * n_blocks + block, best)
    tl.store(index_ptr + row * n_blocks + block, block * BLOCK_M + index)


def triton_hellinger_search(ids: torch.Tensor, sqrt_q: torch.Tensor, p: torch.Tensor, block_m: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Closest stored moment by Hellinger distance: ``ids (M, k)`` int32, ``sqrt_q (M, k)`` fp16,
    ``p (B, V)`` -> ``distance (B, 1)``, ``index (B, 1)``."""
    M, K = ids.shape
    B, V = p.shape
    n_blocks = triton.cdiv(M, block_m)
    sqrt_p = p.sqrt().to(sqrt_q.dtype).contiguous()
    best = torch.empty(B, n_blocks, device=p.device, dtype=torch.float32)
    index = torch.empty(B, n_blocks, device=p.device, dtype=torch.int64)
    _block_best[(n_blocks, B)](ids, sqrt_q, sqrt_p, best, index, M, V, n_blocks, K=K, K_POW2=triton.next_power_of_2(K), BLOCK_M=block_m)
    top, block = best.max(-1, keepdim=True)
    return (1.0 - top).clamp_min(0.0).sqrt(), index.gather(1, block)
