import numpy as np

from engine.moment.chains import EpisodeChain, best_episode, match_chain


def _chain(rows):
    ids = np.array([r[0] for r in rows])
    probs = np.array([r[1] for r in rows], np.float32)
    return EpisodeChain.empty(ids.shape[1]).extend(np.arange(len(rows)), np.arange(len(rows)) * 10, ids, probs)


A = ([0, 1], [0.9, 0.1])
B = ([2, 3], [0.9, 0.1])
C = ([4, 5], [0.9, 0.1])


def test_a_chain_matches_itself_exactly_and_order_matters():
    chain = _chain([A, B, C])
    assert match_chain(chain, chain, 10).distance < 1e-3
    assert match_chain(chain, _chain([C, B, A]), 10).distance > 0.3


def test_dtw_tolerates_a_missing_moment():
    full, partial = _chain([A, B, C]), _chain([A, C])
    match = match_chain(full, partial, 10)
    assert match.path[0] == (0, 0) and match.path[-1] == (2, 1)
    assert match.distance < match_chain(full, _chain([C, A]), 10).distance


def test_best_episode_finds_the_stored_episode():
    episodes = [_chain([C, C]), _chain([A, B, C]), _chain([B, A])]
    index, match = best_episode(episodes, _chain([A, B, B, C]), 10)
    assert index == 1 and match.distance < 1e-3
    assert best_episode([], _chain([A]), 10)[0] == -1
