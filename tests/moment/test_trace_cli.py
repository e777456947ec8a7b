"""``memscope trace`` end to end with the shipped tiny LM, and its one-line errors."""

import time


from tests.cli_helpers import run_cli as _run


def test_trace_records_a_run_readable_by_the_store(tmp_path, capsys):
    from tracing.store import TraceStore

    out = tmp_path / "moment.duckdb"
    bank = tmp_path / "bank.safetensors"
    prompt = "In Barloford lived Rhaharn Vaskgorili, a surveyor who owned a linen map."
    code, stdout, _ = _run(["trace", "--prompt", prompt, "--max-new-tokens", "8", "--out", str(out), "--bank", str(bank), "--quiet"], capsys)
    assert code == 0 and out.is_file() and bank.is_file()
    store = TraceStore(out)
    runs = store.runs()
    assert runs.family.tolist() == ["moment"] and runs.status.tolist() == ["complete"]
    run_id = runs.run_id[0]
    steps = store.timeline(run_id)
    assert len(steps) >= 8 and steps.entropy.notna().all()
    moments = store.signatures(run_id)
    events = store.events(run_id)
    assert len(moments) == (events.op == "write").sum() > 0
    # a second run with the saved bank starts with the stored moments
    code, _, _ = _run(["trace", "--prompt", prompt, "--max-new-tokens", "4", "--out", str(out), "--bank", str(bank), "--quiet"], capsys)
    assert code == 0 and len(TraceStore(out).runs()) == 2


def test_empty_prompt_is_one_line_and_creates_no_trace(tmp_path, capsys):
    out = tmp_path / "t.duckdb"
    code, _, err = _run(["trace", "--prompt", " \x00 ", "--out", str(out), "--quiet"], capsys)
    assert code == 2 and "prompt is empty" in err and "Traceback" not in err
    assert not out.exists()


def test_non_utf8_prompt_file_is_accepted_with_a_warning(tmp_path, capsys):
    prompt = tmp_path / "p.txt"
    prompt.write_bytes(b"the caf\xe9 by the river\x07")
    code, _, err = _run(["trace", "--prompt-file", str(prompt), "--max-new-tokens", "2", "--out", str(tmp_path / "t.duckdb"), "--quiet"], capsys)
    assert code == 0 and "warning: the prompt is not valid UTF-8" in err and "control character" in err


def test_unknown_model_offline_fails_fast_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.time()
    code, _, err = _run(["trace", "--model", "no-such-org/no-such-model", "--prompt", "hi", "--out", str(tmp_path / "t.duckdb")], capsys)
    assert code == 2 and "offline" in err and len(err.strip().splitlines()) == 1
    assert time.time() - start < 20
    assert not (tmp_path / "t.duckdb").exists()


def test_a_bank_from_another_vocabulary_is_refused_without_touching_it(tmp_path, capsys):
    import torch

    from engine.moment.config import MomentConfig
    from engine.moment.memory import MomentMemory
    from engine.moment.persistence import save_bank

    memory = MomentMemory(50257, "cpu", MomentConfig(k=32), vocab_fingerprint="gpt2")
    memory.pin()
    memory.propose(torch.randn(1, 50257), torch.zeros(1, 1, dtype=torch.long))
    memory.commit(torch.tensor([1]))
    bank = save_bank(memory, tmp_path / "gpt2-bank.safetensors", model_name="gpt2")
    before = bank.read_bytes()
    code, _, err = _run(["trace", "--prompt", "hello there", "--bank", str(bank), "--out", str(tmp_path / "t.duckdb"), "--quiet"], capsys)
    assert code == 2 and "another vocabulary" in err and len(err.strip().splitlines()) == 1
    assert bank.read_bytes() == before
    assert not (tmp_path / "t.duckdb").exists()


def test_prompt_and_prompt_file_are_exclusive(tmp_path, capsys):
    code, _, err = _run(["trace", "--out", str(tmp_path / "t.duckdb")], capsys)
    assert code == 2 and "exactly one of --prompt" in err
