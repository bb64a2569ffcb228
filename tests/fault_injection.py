"""Test-only mitmproxy script: aiwall's engine raises for any name containing "explode".

Proves that an internal error fails closed: the request gets an error page, never the vendor.
Both ways into the engine fail: the first look (is this AI traffic at all?) and the decision.
"""

from typing import Any

from aiwall.core.engine import Engine

_concerns = Engine.concerns
_decide = Engine.decide


def _explode_on(names: Any) -> None:
    if any("explode" in name.raw for name in names):
        raise RuntimeError("injected fault")


def _exploding_concerns(self: Engine, names: Any, path: str) -> bool:
    _explode_on(names)
    return _concerns(self, names, path)


def _exploding_decide(self: Engine, request: Any, explain: bool = False) -> Any:
    _explode_on(request.names)
    return _decide(self, request, explain)


Engine.concerns = _exploding_concerns  # type: ignore[method-assign]
Engine.decide = _exploding_decide  # type: ignore[method-assign]
addons: list[object] = []
