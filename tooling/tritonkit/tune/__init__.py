"""Tuning: the search space, a queueing model of each candidate, the search, and the driver that
reloads and measures candidates on a running server without restarting it."""
