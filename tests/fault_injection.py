"""Test-only mitmproxy script: aiwall's engine raises for any name containing "explode".

Proves that an internal error fails closed: the request gets an error page, never the vendor.
"""

from typing import Any

from aiwall.engine import Engine

_decide = Engine.decide


def _exploding(self: Engine, request: Any, explain: bool = False) -> Any:
    if any("explode" in name.raw for name in request.names):
        raise RuntimeError("injected fault")
    return _decide(self, request, explain)


Engine.decide = _exploding  # type: ignore[method-assign]
addons: list[object] = []
