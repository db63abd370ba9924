"""What the server sees of one client looks uniform mod 2^b and says nothing about its input."""

from __future__ import annotations

import os

import numpy as np
from scipy import stats

from prism_secure.protocols.secagg.driver import run_secure_sum

ALPHA = 1e-4  # false alarm rate per check; the checks would fail loudly if masks were missing


def test_masked_vector_uniform_and_uncorrelated() -> None:
    n, d = 6, 60_000
    rng = np.random.default_rng(11)  # test data only
    inputs = {c: (rng.random(d) < 0.3).astype(np.uint8) for c in range(n)}  # skewed, like masks
    res = run_secure_sum(
        inputs,
        threshold=4,
        round_index=1,
        model_digest=os.urandom(32),
        record_transcript=True,
        dropouts={5: "masked"},
    )
    assert res.transcript is not None and set(res.transcript) == {0, 1, 2, 3, 4}
    assert res.secagg is not None
    bins = 1 << res.secagg.bits
    for cid in (0, 3):
        seen = res.transcript[cid].astype(np.int64)
        x = inputs[cid]
        assert not np.array_equal(seen % 2, x)  # not the input, obviously
        counts = np.bincount(seen, minlength=bins)
        assert stats.chisquare(counts).pvalue > ALPHA
        for value in (0, 1):  # uniform whatever the true bit was
            cond = np.bincount(seen[x == value], minlength=bins)
            assert stats.chisquare(cond).pvalue > ALPHA
        table = np.stack([np.bincount(seen[x == v], minlength=bins) for v in (0, 1)])
        assert stats.chi2_contingency(table).pvalue > ALPHA  # independent of the input
        r = np.corrcoef(seen, x)[0, 1]
        assert abs(r) < 4.5 / np.sqrt(d)


def test_without_masks_the_checks_would_fire() -> None:
    """Sanity of the test itself: the raw input fails the same uniformity check."""
    rng = np.random.default_rng(12)
    x = (rng.random(60_000) < 0.3).astype(np.int64)
    assert stats.chisquare(np.bincount(x, minlength=8)).pvalue < ALPHA
