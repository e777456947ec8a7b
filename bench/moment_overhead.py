"""Generation speed with the full moment memory on vs plain ``generate``, same model, same run.

Memory on = detection + a bank of ``--moments`` stored signatures searched at every token +
resonance + re-injection (the ``LogitsProcessor``) + tracing into a recorder. Models are randomly
initialised (no weights can be downloaded here): GPT-2-124M-shaped and Llama-1B-shaped. Runs
alternate baseline / memory ``--repeats`` times; the ratio of median tokens/s is printed.

    python bench/moment_overhead.py --device cuda --moments 100000 --new-tokens 256
    python bench/moment_overhead.py --device cpu --models tiny --moments 1000 --new-tokens 16   # smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, LogitsProcessorList

from engine.moment.config import MomentConfig
from engine.moment.memory import MomentMemory
from engine.moment.resonance import MomentLogitsProcessor
from tracing.recorder import MemoryRecorder

SHAPES = {
    "gpt2-124m": lambda: GPT2LMHeadModel(GPT2Config()),
    "llama-1b": lambda: LlamaForCausalLM(LlamaConfig(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                                                     num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=2048,
                                                     tie_word_embeddings=True)),
    "tiny": lambda: GPT2LMHeadModel(GPT2Config(vocab_size=1000, n_positions=128, n_embd=64, n_layer=2, n_head=2)),
}


def prefilled_memory(vocab: int, device: torch.device, moments: int, recorder, compile: bool = False) -> MomentMemory:
    """A memory whose bank already holds ``moments`` random signatures (old enough to resonate)."""
    cfg = MomentConfig(capacity=moments + 4096, k=32, flush_every=32, compile=compile)
    memory = MomentMemory(vocab, device, cfg, recorder=recorder)
    gen = torch.Generator(device=device).manual_seed(0)
    for start in range(0, moments, 65536):
        n = min(65536, moments - start)
        ids = torch.randint(0, vocab, (n, cfg.k), device=device, generator=gen)
        probs = torch.rand(n, cfg.k, device=device, generator=gen).softmax(-1)
        zeros = torch.zeros(n, device=device)
        memory.bank.write(torch.ones(n, dtype=torch.bool, device=device), ids, probs, ids[:, 0], torch.zeros(n, 3, device=device),
                          zeros.long() + 2, zeros.long(), zeros.long(), step=-10_000)
    memory.bank.sync()
    return memory


def time_generate(model, ids: torch.Tensor, new_tokens: int, processors=None) -> float:
    """Tokens per second of one greedy ``generate`` of exactly ``new_tokens`` tokens."""
    if ids.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=0,
                         logits_processor=processors)
    if processors is not None:
        processors[0].finish(out)
    if ids.device.type == "cuda":
        torch.cuda.synchronize()
    return new_tokens / (time.perf_counter() - start)


def run(shape: str, device: torch.device, moments: int, new_tokens: int, prompt_len: int, repeats: int) -> dict:
    with torch.device(device):
        model = SHAPES[shape]()
    model = model.to(torch.bfloat16 if device.type == "cuda" else torch.float32).eval()
    vocab = model.get_output_embeddings().weight.shape[0]
    ids = torch.randint(0, vocab, (1, prompt_len), device=device)
    memories = {mode: prefilled_memory(vocab, device, moments, MemoryRecorder(), compile=mode == "compiled") for mode in ("eager", "compiled")}
    speeds: dict[str, list[float]] = {"plain": [], "eager": [], "compiled": []}
    with torch.no_grad():
        time_generate(model, ids, 8)  # warm-up
        for memory in memories.values():  # warm-up (and compilation) outside the timings
            time_generate(model, ids, 8, LogitsProcessorList([MomentLogitsProcessor(memory)]))
        for _ in range(repeats):
            speeds["plain"].append(time_generate(model, ids, new_tokens))
            for mode, memory in memories.items():
                memory.reset_context()
                before = memory.recorder.tables()["steps"].num_rows
                speeds[mode].append(time_generate(model, ids, new_tokens, LogitsProcessorList([MomentLogitsProcessor(memory)])))
                assert memory.recorder.tables()["steps"].num_rows - before == new_tokens, "every generated token must be traced"
    base = statistics.median(speeds["plain"])
    result = {"model": shape, "params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 1), "vocab": vocab,
              "moments": moments, "new_tokens": new_tokens, "plain_tok_s": round(base, 1)}
    for mode, memory in memories.items():
        mem = statistics.median(speeds[mode])
        tables = memory.recorder.tables()
        ops = tables["memory_events"].column("op").to_numpy(zero_copy_only=False) if "memory_events" in tables else []
        result[mode] = {"tok_s": round(mem, 1), "slowdown": round(base / mem, 3), "bank_size": memory.size,
                        "moments_stored": int((ops == "write").sum()), "resonance_events": int((ops == "resonance").sum())}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", default="gpt2-124m,llama-1b")
    parser.add_argument("--moments", type=int, default=100_000)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--prompt-len", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    results = []
    for shape in args.models.split(","):
        result = run(shape, device, args.moments, args.new_tokens, args.prompt_len, args.repeats)
        result["device"] = name
        results.append(result)
        print(json.dumps(result), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
