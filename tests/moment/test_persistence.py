import pytest
import torch
from safetensors.torch import save_file

from engine.moment import persistence
from engine.moment.config import MomentConfig
from engine.moment.memory import MomentMemory
from engine.moment.persistence import BankFileError, load_bank, save_bank

V = 40


def _filled_memory(vocab=V, fingerprint="abc"):
    memory = MomentMemory(vocab, "cpu", MomentConfig(threshold_mode="fixed", k=4, capacity=16, flush_every=4, min_age=100), vocab_fingerprint=fingerprint)
    ctx = torch.zeros(1, 1, dtype=torch.long)
    for t in range(10):
        memory.pin()
        memory.propose(torch.randn(1, vocab) * 3, ctx)
        memory.commit(torch.tensor([t]))
    memory.texts[0] = "the first moment"
    memory.end_episode()
    return memory


def test_save_and_load_round_trip(tmp_path):
    memory = _filled_memory()
    path = save_bank(memory, tmp_path / "bank.safetensors", model_name="tiny")
    other = MomentMemory(V, "cpu", MomentConfig(k=4, capacity=16), vocab_fingerprint="abc")
    meta = load_bank(other, path)
    n = memory.bank.sync()
    assert meta["model"] == "tiny" and other.bank.sync() == n == memory.size
    for name in ("topk_ids", "q", "recall_ids", "recall_probs", "floats", "longs"):
        assert torch.equal(getattr(other.bank, name)[:n], getattr(memory.bank, name)[:n]), name
    assert other.texts == {0: "the first moment"}
    assert len(other.episodes) == 1 and (other.episodes[0].moment_ids == memory.episodes[0].moment_ids).all()
    assert int(other.bank.next_id) == int(memory.bank.next_id)
    assert list(tmp_path.iterdir()) == [path]


def test_a_bank_from_another_vocabulary_is_refused(tmp_path):
    path = save_bank(_filled_memory(), tmp_path / "bank.safetensors")
    with pytest.raises(BankFileError, match="another vocabulary"):
        load_bank(MomentMemory(V + 1, "cpu", MomentConfig(k=4, capacity=16)), path)
    same_size = MomentMemory(V, "cpu", MomentConfig(k=4, capacity=16), vocab_fingerprint="xyz")
    with pytest.raises(BankFileError, match="another vocabulary"):
        load_bank(same_size, path)
    assert same_size.size == 0


def test_capacity_and_top_k_mismatch_are_refused(tmp_path):
    path = save_bank(_filled_memory(), tmp_path / "bank.safetensors")
    with pytest.raises(BankFileError, match="capacity"):
        load_bank(MomentMemory(V, "cpu", MomentConfig(k=4, capacity=2), vocab_fingerprint="abc"), path)
    with pytest.raises(BankFileError, match="top-k"):
        load_bank(MomentMemory(V, "cpu", MomentConfig(k=8, capacity=16), vocab_fingerprint="abc"), path)


def test_files_that_are_not_banks_are_refused(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00\x01not safetensors")
    with pytest.raises(BankFileError, match="not a safetensors"):
        load_bank(MomentMemory(V, "cpu"), junk)
    other = tmp_path / "weights.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    with pytest.raises(BankFileError, match="not a memscope moment bank"):
        load_bank(MomentMemory(V, "cpu"), other)
    with pytest.raises(BankFileError, match="does not exist"):
        load_bank(MomentMemory(V, "cpu"), tmp_path / "missing.safetensors")


def test_a_failed_save_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "bank.safetensors"
    save_bank(_filled_memory(), target)
    before = target.read_bytes()

    def broken(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(persistence, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        save_bank(_filled_memory(), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["bank.safetensors"]
