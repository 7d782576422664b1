"""The district: the data contract, reading its files, validating every cell,
and the immutable :class:`~optimizer.district.model.District` the later stages read.

Only :mod:`optimizer.district.reader` (and :mod:`optimizer.outputs`) touch files.
"""
