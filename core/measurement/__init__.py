"""Measured stack emissions: hourly and daily rollups of the readings the listener stores.

`rollups` holds the incremental accumulator used by the listener's writer and the rebuild from
raw readings. May import the core kernel only.
"""
