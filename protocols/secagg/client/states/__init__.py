"""The client's states, one module each, in protocol order.

``advertise`` (before ``start()``) -> ``share_keys`` -> ``masked_input`` -> ``consistency`` ->
``unmask`` -> ``completed``; ``aborted`` from anywhere. Each state handles the one server message
it waits for and returns the next state and its reply (:class:`base.Step`); a state holds only the
secrets the states after it still need.
"""
