"""Choosing a session's parameters: the split-view rule, the stall and split bounds, the finder.

``security`` gives the least threshold at which a lying server learns no input, ``stall`` bounds
how often dropouts stall a round or split the SecAgg+ graph, and ``finder`` picks the cheapest
graph, k and t that meet both for a cohort and a dropout rate.
"""
