"""The rule for when a sensor node counts as online or offline, shared by the listener and the portals.

One rule, stated once: a node is offline when it said so (its `offline` last will) or when nothing
arrived for `offline_timeout_s(sample_interval_s)`. The listener's sweep and every dashboard use
this function, so the web never disagrees with ingest.
"""

from __future__ import annotations

# A device is offline when nothing arrived for this many sample intervals…
OFFLINE_AFTER_INTERVALS = 3
# …but never sooner than this: a node that reboots or re-associates to Wi-Fi takes a minute or two.
OFFLINE_MIN_S = 300.0
STATUS_OFFLINE = "offline"
STATUS_ONLINE = "online"


def offline_timeout_s(sample_interval_s: float | None) -> float:
    """Seconds without a message after which a device counts as offline."""
    return max(OFFLINE_AFTER_INTERVALS * float(sample_interval_s or 60.0), OFFLINE_MIN_S)
