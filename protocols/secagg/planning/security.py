"""The split-view rule: the smallest threshold t at which a lying server learns no input.

A client's neighbourhood holds shares of both its self-mask seed and its mask key; each holder
reveals exactly one of the two, according to whether the server says the client survived. A
server that tells a group A of holders "it survived" and a disjoint group B "it dropped" (and
forwards to each group only the consistency tags of its own members, so every check passes)
collects the client's own seed share plus |A| seed shares and |B| key shares: with both secrets
it removes every mask from the client's vector. Among o other holders, c of them colluding (they
reveal both shares), that needs 1 + |A| + c >= t and |B| + c >= t with |A| + |B| <= o - c, which is
possible exactly when 2t <= o + 1 + c. So the rule is 2t > o + 1 + c, with o = n - 1 on the full
graph (2t > n) and o = k on the SecAgg+ graph (k even: 2t > k).
"""

from __future__ import annotations


def other_holders(graph: str, clients: int, neighbours: int | None) -> int:
    """How many other clients hold shares of one client's secrets."""
    if graph == "full" or neighbours is None:
        return clients - 1
    return min(neighbours, clients - 1)


def min_threshold(graph: str, clients: int, neighbours: int | None, corrupt: int = 0) -> int:
    """The smallest t with 2t > o + 1 + corrupt (see the module docstring); at least 2."""
    o = other_holders(graph, clients, neighbours)
    return max(2, (o + 1 + corrupt) // 2 + 1, corrupt + 1)


def rule_text(graph: str) -> str:
    return "2t > n (full graph)" if graph == "full" else "2t > k (SecAgg+ graph)"
