"""Giving a controller the moment it needs after a change: kube-proxy programs a Service's rules, Traefik
reloads its routes, each a second or few after the object was written. A check that sends traffic right
after `kubectl apply` would judge the state before the change. These read when an object was last written
(its managedFields) and wait out what is left of that moment, never longer: a clock that runs ahead (some
Docker Desktop VMs) must not stall a check."""
from __future__ import annotations

import time
from datetime import datetime


def written_at(obj) -> float:
    """When the object was last written by a client (its managedFields, whole seconds; a controller's status
    writes excluded); 0 when it does not say. Takes an API dict or a client model."""
    meta = obj.get("metadata", {}) if isinstance(obj, dict) else obj.metadata.to_dict()
    times = []
    for entry in meta.get("managedFields") or meta.get("managed_fields") or []:
        if entry.get("subresource") == "status" or not entry.get("time"):
            continue
        when = entry["time"]
        times.append((datetime.fromisoformat(when.replace("Z", "+00:00")) if isinstance(when, str) else when).timestamp())
    return max(times, default=0.0)


def settle(objects, seconds: float, announce=None) -> float:
    """Wait until every object was written `seconds` ago (at most `seconds`). announce(waited_so_far, left) is
    called before a wait. Returns the seconds waited."""
    objects = [o for o in objects if o is not None]
    if not objects:
        return 0.0
    wait = min(seconds, max(written_at(o) for o in objects) + seconds - time.time())
    if wait <= 0:
        return 0.0
    if announce is not None:
        announce(seconds - wait, wait)
    time.sleep(wait)
    return wait
