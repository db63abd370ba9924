"""How likely dropouts are to stall a round, or to split the SecAgg+ graph.

Both are bounds for clients that drop independently with probability ``dropout``; the parameter
finder (:mod:`prism_secure.protocols.secagg.planning.finder`) keeps them below what the caller
asks for.
"""

from __future__ import annotations

import math


def default_neighbours(n: int) -> int:
    """SecAgg+ degree k = 2 ceil(log2 n) (Bell et al.: O(log n)); even, as the graph needs."""
    return 2 * max(1, (n - 1).bit_length())


def neighbourhood_size(n: int, graph: str, neighbours: int | None) -> int:
    """Clients in one neighbourhood, the client itself included: n on the full graph, else k + 1."""
    if graph == "full":
        return n
    k = default_neighbours(n) if neighbours is None else neighbours
    return min(n, k + 1)


def stall_probability(n: int, neighbourhood: int, threshold: int, dropout: float) -> float:
    """Upper bound on the chance that a round aborts because some neighbourhood falls below t.

    Each client drops independently with probability ``dropout``; a surviving client needs
    ``threshold - 1`` live neighbours out of ``neighbourhood - 1`` (union bound over the n
    clients). Bell et al. choose k so that this is negligible for the dropout rate expected;
    on the full graph it is the chance that fewer than t of n survive.
    """
    _check_rate(dropout)
    if neighbourhood >= n:  # full graph: fewer than t of the n clients survive
        return _binomial_cdf(threshold - 1, n, 1.0 - dropout)
    # a survivor with at most t - 2 live neighbours cannot gather t shares of its own secrets
    return min(1.0, n * _binomial_cdf(threshold - 2, neighbourhood - 1, 1.0 - dropout))


def split_probability(n: int, neighbours: int, dropout: float) -> float:
    """Upper bound on the chance that dropouts cut the SecAgg+ ring into pieces.

    Each client links to k/2 ring neighbours on either side, so removing clients disconnects the
    survivors only if two separate runs of k/2 consecutive clients drop (one cut leaves a path).
    The server would then learn the sum of each piece, not only the total; a union bound over
    the n(n - 1)/2 pairs of run starts gives ``n(n-1)/2 * dropout^k``. Zero on the full graph.
    """
    _check_rate(dropout)
    if neighbours >= n - 1:
        return 0.0
    return min(1.0, n * (n - 1) / 2 * dropout**neighbours)


def _check_rate(dropout: float) -> None:
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout}")


def _binomial_cdf(x: int, trials: int, p: float) -> float:
    """P(Binomial(trials, p) <= x), summed term by term."""
    if x < 0:
        return 0.0
    return min(1.0, sum(binomial_pmfs(trials, p, min(x, trials))))


def binomial_pmfs(trials: int, p: float, upto: int | None = None) -> list[float]:
    """P(Binomial(trials, p) = j) for j = 0..upto, by a recurrence in log space (no overflow)."""
    upto = trials if upto is None else upto
    if p <= 0.0 or p >= 1.0:
        hit = 0 if p <= 0.0 else trials
        return [float(j == hit) for j in range(upto + 1)]
    log_q, step = math.log1p(-p), math.log(p) - math.log1p(-p)
    log_pmf = trials * log_q
    out = [math.exp(log_pmf)]
    for j in range(1, upto + 1):
        log_pmf += math.log((trials - j + 1) / j) + step
        out.append(math.exp(log_pmf))
    return out
