"""RoundSampler: a fixed pool share in every batch, importance draws, one order per seed and epoch, DDP shards."""

import numpy as np
import pytest

from wsiseg.data.samplers import RoundSampler


def epoch(sampler, e):
    sampler.set_epoch(e)
    return list(sampler)


def batches(indices, size):
    return [tuple(indices[i : i + size]) for i in range(0, len(indices), size)]


def test_without_pool_or_weights_an_epoch_is_a_permutation_fixed_by_seed_and_epoch():
    s = RoundSampler(range(100), 100, batch_size=8, seed=3)
    first = epoch(s, 0)
    assert len(first) == len(s) == 96 and len(set(first)) == 96 and max(first) < 100  # 12 whole batches
    assert epoch(RoundSampler(range(100), 100, 8, seed=3), 0) == first  # a resumed run: the same order
    assert epoch(s, 1) != first and epoch(RoundSampler(range(100), 100, 8, seed=4), 0) != first


def test_every_batch_holds_the_pool_share_and_the_pool_is_cycled():
    s = RoundSampler(range(130), 100, batch_size=8, share=0.25, seed=0)  # 100 patches, a pool of 30
    indices = epoch(s, 0)
    assert s.k_pool == 2 and len(indices) == 16 * 8  # 100 // 6 = 16 batches of 6 patches + 2 mined
    for batch in batches(indices, 8):
        assert sum(i >= 100 for i in batch) == 2
    mined = [i for i in indices if i >= 100]
    assert sorted(set(mined)) == list(range(100, 130))  # 32 draws cover the 30 mined patches
    patches = [i for i in indices if i < 100]
    assert len(set(patches)) == len(patches) == 96


def test_ddp_ranks_take_disjoint_whole_batches_of_one_global_order():
    single = batches(epoch(RoundSampler(range(130), 100, 8, share=0.25, seed=1), 2), 8)
    ranks = [batches(epoch(RoundSampler(range(130), 100, 8, 0.25, None, 2, r, seed=1), 2), 8) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 8
    assert ranks[0] == single[0::2] and ranks[1] == single[1::2]  # together: the one-process epoch


def test_importance_weights_decide_what_is_drawn():
    weights = np.zeros(50)
    weights[:5] = 1.0
    weights[7] = 20.0
    s = RoundSampler(range(50), 50, batch_size=10, weights=weights, seed=0)
    drawn = np.array(epoch(s, 0))
    assert set(drawn) <= {0, 1, 2, 3, 4, 7}  # weight 0: never drawn
    assert (drawn == 7).mean() > 0.6  # 20 / 25 of the mass
    assert epoch(RoundSampler(range(50), 50, 10, weights=weights, seed=0), 0) == drawn.tolist()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="share of a batch must be in"):
        RoundSampler(range(20), 10, 4, share=1.0)
    with pytest.raises(ValueError, match="weights must be 10 finite non-negative numbers"):
        RoundSampler(range(10), 10, 4, weights=np.r_[np.ones(9), -1.0])
    with pytest.raises(ValueError, match="weights must be 10"):
        RoundSampler(range(10), 10, 4, weights=np.ones(9))
