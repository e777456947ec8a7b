import torch

from engine.moment.config import FixedThresholds, MomentConfig
from engine.moment.detection import TRIGGERS, MomentDetector, boundary_signals


def _signals(surprisal=0.0, entropy=1.0, prev_entropy=1.0, kl=0.0, shift=0.0):
    t = lambda v: torch.tensor([float(v)])  # noqa: E731
    return boundary_signals(t(surprisal), t(entropy), t(prev_entropy), t(kl), t(shift))


def test_fixed_thresholds_fire_each_trigger():
    cfg = MomentConfig(threshold_mode="fixed", fixed=FixedThresholds(surprisal=5, entropy_delta=1, kl=2, topk_shift=0.5))
    det = MomentDetector(cfg, 1, torch.device("cpu"))
    cases = [(dict(), "none"), (dict(surprisal=6), "surprisal"), (dict(entropy=3), "entropy_spike"),
             (dict(entropy=0.0, prev_entropy=2.0), "entropy_dip"), (dict(kl=3), "kl_shift"), (dict(shift=0.75), "topk_shift"),
             (dict(surprisal=6, kl=3), "surprisal")]  # the lower code wins
    for kwargs, expected in cases:
        fired, trigger = det.detect(_signals(**kwargs))
        assert TRIGGERS[int(trigger)] == expected, kwargs
        assert bool(fired) == (expected != "none")


def test_disabled_triggers_do_not_fire():
    cfg = MomentConfig(threshold_mode="fixed", triggers=("kl_shift",))
    det = MomentDetector(cfg, 1, torch.device("cpu"))
    fired, _ = det.detect(_signals(surprisal=100))
    assert not bool(fired)


def test_adaptive_threshold_is_mean_plus_gamma_std_over_the_window():
    cfg = MomentConfig(threshold_mode="adaptive", gamma=2.0, window=16, min_history=8, triggers=("surprisal",))
    det = MomentDetector(cfg, 1, torch.device("cpu"))
    values = [1.0, 3.0] * 8
    for v in values[:4]:  # warming up: never fires, whatever the value
        assert not bool(det.detect(_signals(surprisal=v))[0])
    assert not bool(det.detect(_signals(surprisal=1000.0))[0])
    det = MomentDetector(cfg, 1, torch.device("cpu"))
    for v in values:
        det.detect(_signals(surprisal=v))
    # window = [1, 3] * 8: mean 2, std 1 -> threshold 4
    assert torch.allclose(det.thresholds()[0, 0], torch.tensor(4.0))
    assert not bool(det.detect(_signals(surprisal=3.9))[0])
    assert bool(det.detect(_signals(surprisal=4.5))[0])


def test_pin_stores_the_next_boundary_once():
    det = MomentDetector(MomentConfig(threshold_mode="fixed"), 2, torch.device("cpu"))
    det.pin()
    signals = torch.zeros(2, 5)
    fired, trigger = det.detect(signals)
    assert fired.tolist() == [True, True] and [TRIGGERS[int(c)] for c in trigger] == ["pinned", "pinned"]
    assert not det.detect(signals)[0].any()


def test_invalid_signals_are_masked_on_the_first_boundary():
    det = MomentDetector(MomentConfig(threshold_mode="fixed"), 1, torch.device("cpu"))
    fired, _ = det.detect(_signals(kl=100), valid=torch.tensor([True, False, False, False, False]))
    assert not bool(fired)
