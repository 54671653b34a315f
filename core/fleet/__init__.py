"""The sensor-node fleet: the rule for online/offline shared by ingest and the portals.

`health` is the offline rule. Remote commands, OTA campaigns and data quality belong here too.
May import the core kernel and `core.measurement`.
"""
