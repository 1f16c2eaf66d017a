"""What differs between two run configs: how a resumable command names why it refuses to resume."""

from __future__ import annotations


def config_differences(then: dict, now: dict, prefix: str = "") -> list[str]:
    """What differs between two configs, one "key: then -> now" per field (nested keys dotted);
    a field one of them lacks shows as "absent" (a checkpoint from before the option existed)."""
    out = []
    for key in sorted(set(then) | set(now), key=str):
        if isinstance(then.get(key), dict) and isinstance(now.get(key), dict):
            out += config_differences(then[key], now[key], f"{prefix}{key}.")
        elif key not in then or key not in now or then[key] != now[key]:
            shown = [repr(c[key]) if key in c else "absent" for c in (then, now)]
            out.append(f"{prefix}{key}: {shown[0]} -> {shown[1]}")
    return out
