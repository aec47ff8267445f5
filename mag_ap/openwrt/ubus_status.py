"""What ``ubus call mag-ap status`` answers: the ``mag-ap status --json`` object, blobmsg-safe.

rpcd turns a plugin's JSON output into a blobmsg table, and ``ubus call`` prints
that table back as JSON. A blobmsg reply must be an object, integers are at most
64-bit and there is no NaN or infinity; everything else the daemon's status
holds (objects, arrays, strings, booleans, integers, floats, null) survives the
trip unchanged. :func:`to_ubus` applies exactly those limits, so for a real
status answer the ubus reply equals the CLI's JSON. Pure: no IO, no ubus here;
the glue is ``/usr/libexec/rpcd/mag-ap`` (openwrt/net/mag-ap/files/mag-ap.rpcd),
which decodes the control socket's JSON once, passes it through here (one walk,
no JSON) and encodes the reply once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["INT64_MAX", "INT64_MIN", "LIST_REPLY", "error_reply", "to_ubus"]

INT64_MIN: Final = -(1 << 63)
INT64_MAX: Final = (1 << 63) - 1
# rpcd's `list` answer: method -> argument name -> a sample value giving its type.
LIST_REPLY: Final[Mapping[str, Mapping[str, Any]]] = {"status": {"lma": True}}


def error_reply(message: str) -> dict[str, Any]:
    """The reply when the daemon does not answer (the CLI prints the message and exits 1)."""
    return {"ok": False, "error": message}


def _key(key: object) -> str:
    """An object key as ``json.dumps`` writes it (the CLI's spelling)."""
    if key is True or key is False or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    return key if isinstance(key, str) else str(key)


def _safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {_key(k): _safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_safe(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def to_ubus(answer: object) -> dict[str, Any]:
    """The control-socket answer as ubus returns it (the CLI's JSON, made blobmsg-safe).

    One walk over the decoded answer, no JSON round trip: what
    ``json.dumps(default=str)`` would turn into text (other objects) becomes text,
    tuples become lists, values blobmsg cannot hold become text (huge integers)
    or null (NaN, infinity), and a non-object answer becomes an error reply.
    """
    if not isinstance(answer, Mapping):
        return error_reply(f"daemon answered a {type(answer).__name__}, not an object")
    return {_key(k): _safe(v) for k, v in answer.items()}
