"""Fast weights F_t (seed 1.2, 1.4): the Hebbian sum rule and the delta rule.

Per head, ``F_t in R^{d_k x d_v}`` and the read for a query q_t is ``r_t = F_t^T q_t``. With
``beta_t = g_t * eta`` (write gate times fast learning rate) every step makes one rank-1 write

- Hebbian (seed):  ``u_t = beta_t v_t``
- delta rule:      ``u_t = beta_t (v_t - F_{t-1}^T k_t)``  (write the error of the current retrieval)

and ``F_t = F_{t-1} + k_t u_t^T``. Since ``F_0`` is the carried state, ``F_t = F_0 + sum_{s<=t} k_s u_s^T``
and ``r_t = F_0^T q_t + sum_{s<=t} (q_t . k_s) u_s``: the contribution of write s to the read at t
is ``(q_t . k_s) u_s`` exactly, which is what the tracer records.

:func:`fast_weight_recurrent` is the step-by-step definition; :func:`fast_weight_chunked` is the
parallel form used for training (within a chunk of C steps the writes come from one triangular
solve, ``(I + diag(beta) tril(K K^T, -1)) U = diag(beta) (V - K F_0)``, and the reads from
``Q F_0 + tril(Q K^T) U``); they agree to float precision (tested).

Shapes: ``q, k (B, H, T, d_k)``, ``v (B, H, T, d_v)``, ``beta (B, H, T)``, ``F (B, H, d_k, d_v)``.
The hypernetwork rule hands several writes per step: ``k (B, H, T, r, d_k)``, ``u`` given directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class FastWeightResult:
    """What one pass over a sequence produced.

    ``read (B, H, T, d_v)``: r_t = F_t^T q_t. ``writes (B, H, T, r, d_v)``: the written values u_t
    (r = 1 for Hebbian and delta). ``keys (B, H, T, r, d_k)``. ``state (B, H, d_k, d_v)``: F_T.
    ``boundary_states (B, H, n_chunks, d_k, d_v)``: F at the end of each chunk.
    """

    read: Tensor
    writes: Tensor
    keys: Tensor
    state: Tensor
    boundary_states: Tensor


def hebbian_write(v: Tensor, beta: Tensor) -> Tensor:
    """Hebbian value of the write, ``u_t = beta_t v_t``. ``v (..., d_v)``, ``beta (...)`` -> ``(..., d_v)``."""
    return beta.unsqueeze(-1) * v


def delta_write(F: Tensor, k: Tensor, v: Tensor, beta: Tensor) -> Tensor:
    """Delta-rule value of the write, ``u_t = beta_t (v_t - F_{t-1}^T k_t)``.

    ``F (..., d_k, d_v)``, ``k (..., d_k)``, ``v (..., d_v)``, ``beta (...)`` -> ``(..., d_v)``.
    """
    retrieved = torch.einsum("...kv,...k->...v", F, k)
    return beta.unsqueeze(-1) * (v - retrieved)


def fast_weight_recurrent(q: Tensor, k: Tensor, v: Tensor, beta: Tensor, rule: str, F0: Tensor | None = None) -> FastWeightResult:
    """The step-by-step definition (reference for tests and single-token decoding).

    ``q, k (B, H, T, d_k)``, ``v (B, H, T, d_v)``, ``beta (B, H, T)``, ``F0 (B, H, d_k, d_v)``.
    """
    B, H, T, dk = k.shape
    F = _initial_state(F0, k, v)
    reads, writes = [], []
    for t in range(T):
        if rule == "delta":
            u = delta_write(F, k[:, :, t], v[:, :, t], beta[:, :, t])
        else:
            u = hebbian_write(v[:, :, t], beta[:, :, t])
        F = F + k[:, :, t, :, None] * u[:, :, None, :]
        reads.append(torch.einsum("bhkv,bhk->bhv", F, q[:, :, t]))
        writes.append(u)
    read = torch.stack(reads, 2) if T else v.new_zeros(B, H, 0, v.shape[-1])
    U = torch.stack(writes, 2).unsqueeze(3) if T else v.new_zeros(B, H, 0, 1, v.shape[-1])
    return FastWeightResult(read, U, k.unsqueeze(3), F, F.unsqueeze(2))


def fast_weight_chunked(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    beta: Tensor,
    rule: str,
    chunk_size: int,
    F0: Tensor | None = None,
    writes: Tensor | None = None,
) -> FastWeightResult:
    """The parallel (chunked) form: sequential over chunks, parallel within a chunk.

    ``q (B, H, T, d_k)``. Hebbian/delta: ``k (B, H, T, d_k)``, ``v (B, H, T, d_v)``, ``beta (B, H, T)``.
    Hypernetwork: ``k (B, H, T, r, d_k)`` and ``writes (B, H, T, r, d_v)`` (the generated u, gate
    and eta included); ``v`` and ``beta`` are ignored. Cost O(T C d) instead of O(T d^2) Python steps.
    """
    if writes is None:
        k = k.unsqueeze(3)
    B, H, T, r, dk = k.shape
    dv = (writes if writes is not None else v).shape[-1]
    F = _initial_state(F0, k, writes if writes is not None else v)
    C = max(1, min(chunk_size, T)) if T else 1
    reads, all_writes, boundaries = [], [], []
    eye = torch.eye(C, dtype=k.dtype, device=k.device)
    step_of = torch.arange(C * r, device=k.device) // r
    causal = (step_of[None, :] <= torch.arange(C, device=k.device)[:, None]).to(k.dtype)  # (C, C*r)
    for start in range(0, T, C):
        stop = min(start + C, T)
        n = stop - start
        Qc = q[:, :, start:stop]
        Kc = k[:, :, start:stop].reshape(B, H, n * r, dk)
        if writes is not None:
            Uc = writes[:, :, start:stop].reshape(B, H, n * r, dv)
        elif rule == "delta":
            bc = beta[:, :, start:stop]
            rhs = bc.unsqueeze(-1) * (v[:, :, start:stop] - Kc @ F)
            A = eye[:n, :n] + bc.unsqueeze(-1) * torch.tril(Kc @ Kc.transpose(-1, -2), diagonal=-1)
            Uc = torch.linalg.solve_triangular(A, rhs, upper=False, unitriangular=True)
        else:
            Uc = hebbian_write(v[:, :, start:stop], beta[:, :, start:stop])
        scores = (Qc @ Kc.transpose(-1, -2)) * causal[:n, : n * r]
        reads.append(Qc @ F + scores @ Uc)
        F = F + Kc.transpose(-1, -2) @ Uc
        all_writes.append(Uc.reshape(B, H, n, r, dv))
        boundaries.append(F)
    if not T:
        return FastWeightResult(q.new_zeros(B, H, 0, dv), q.new_zeros(B, H, 0, r, dv), k, F, F.unsqueeze(2))
    return FastWeightResult(torch.cat(reads, 2), torch.cat(all_writes, 2), k, F, torch.stack(boundaries, 2))


def fast_weight_history(F0: Tensor | None, keys: Tensor, writes: Tensor) -> Tensor:
    """Every F_t of a pass (for tracing only): ``F_0 + cumsum_t sum_r k_{t,r} u_{t,r}^T``.

    ``keys (B, H, T, r, d_k)``, ``writes (B, H, T, r, d_v)`` -> ``(B, H, T, d_k, d_v)``.
    """
    outer = torch.einsum("bhtrk,bhtrv->bhtkv", keys, writes).cumsum(2)
    return outer if F0 is None else outer + F0.unsqueeze(2)


def _initial_state(F0: Tensor | None, k: Tensor, v: Tensor) -> Tensor:
    if F0 is not None:
        return F0.to(k.dtype)
    B, H = k.shape[:2]
    return k.new_zeros(B, H, k.shape[-1], v.shape[-1])
