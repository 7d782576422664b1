"""Planning: the planning problem, its objective, the solvers, and the
explained :class:`~optimizer.planning.result.Result`.

Only :mod:`optimizer.planning.solvers` imports OR-Tools.
"""
