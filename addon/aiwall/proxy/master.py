"""The mitmproxy that `aiwall run` hosts aiwall in: only the addons a policy proxy needs, and
hooks dispatched only to the addons that have them.

mitmdump loads about 35 addons (replay, saving, header and body rewriting, sticky cookies and
more) and, for every event of every flow, walks all of them, twice (the event, then `update`),
each inside a context manager and a coroutine. That walk costs more CPU than aiwall's own work
on a request. `aiwall run` loads the addons below and dispatches each event to the few that
implement it, so a refusal costs less than a forward through plain mitmdump (bench/proxy.py).
`mitmdump -s addon/mitmproxy_addon.py` still works, with every mitmdump addon and its cost.
"""

import inspect
import sys
from collections.abc import Callable
from typing import Any

from mitmproxy import addonmanager, exceptions, hooks, master, options
from mitmproxy.addons import (
    block,
    core,
    disable_h2c,
    dns_resolver,
    errorcheck,
    next_layer,
    proxyauth,
    proxyserver,
    script,
    strip_dns_https_records,
    termlog,
    tlsconfig,
    update_alt_svc,
    upstream_auth,
)

Hook = tuple[object, Callable[..., Any]]


class HookDispatch(addonmanager.AddonManager):
    """mitmproxy's addon manager, with each event's handlers looked up once, not per event.

    The lookup is redone whenever an addon is added or removed and whenever options change
    (scripts come and go through both). Each handler runs inside mitmproxy's `safecall` as
    before: an addon's exception is logged, an `AddonHalt` stops the event.
    """

    def __init__(self, master: master.Master) -> None:
        super().__init__(master)
        self._handlers: dict[str, list[Hook]] = {}

    def register(self, addon: Any) -> Any:
        self._handlers.clear()
        try:
            return super().register(addon)
        finally:
            self._handlers.clear()

    def add(self, *addons: Any) -> None:
        super().add(*addons)
        self._handlers.clear()

    def remove(self, addon: Any) -> None:
        super().remove(addon)
        self._handlers.clear()

    def clear(self) -> None:
        super().clear()
        self._handlers.clear()

    def _configure_all(self, updated: set[str]) -> None:
        self._handlers.clear()
        super()._configure_all(updated)

    def handlers(self, name: str) -> list[Hook]:
        """The addons that implement hook `name`, in chain order, with the callable."""
        found = self._handlers.get(name)
        if found is None:
            found = []
            for addon in addonmanager.traverse(self.chain):
                func = getattr(addon, name, None)
                if func and callable(func):  # a module of the hook's name is no handler
                    found.append((addon, func))
            self._handlers[name] = found
        return found

    async def trigger_event(self, event: hooks.Hook) -> None:
        handlers = self.handlers(event.name)
        if not handlers:
            return
        args = event.args()
        for _, func in handlers:
            try:
                with addonmanager.safecall():
                    result = func(*args)
                    if result is not None and inspect.isawaitable(result):
                        await result
            except exceptions.AddonHalt:
                return


class PolicyMaster(master.Master):
    """mitmproxy with what a policy proxy needs of it, and `extra` (aiwall) last.

    Loaded: options and commands (core), refusing clients from public addresses
    (block_global), proxy authentication, the listeners, scripts (`--set scripts=...`, for an
    addon of one's own), DNS for dns mode, the choice of layer, TLS, upstream proxies, h2c and
    alt-svc handling, start-up errors, and logging to stderr. Left out: replay, saving flows,
    rewriting requests and responses, sticky cookies and the like, which have no place on a
    policy proxy (`mitmdump -s addon/mitmproxy_addon.py` has them all).
    """

    def __init__(self, opts: options.Options, *extra: object) -> None:
        super().__init__(opts)
        self.options.changed.disconnect(self.addons._configure_all)
        self.addons = HookDispatch(self)
        self.addons.add(
            core.Core(),
            block.Block(),
            strip_dns_https_records.StripDnsHttpsRecords(),
            disable_h2c.DisableH2C(),
            proxyauth.ProxyAuth(),
            proxyserver.Proxyserver(),
            script.ScriptLoader(),
            dns_resolver.DnsResolver(),
            next_layer.NextLayer(),
            tlsconfig.TlsConfig(),
            upstream_auth.UpstreamAuth(),
            update_alt_svc.UpdateAltSvc(),
            errorcheck.ErrorCheck(),
            termlog.TermLog(out=sys.stderr),
            *extra,
            _UnknownOptions(self),
        )
        self.unknown_options: list[str] = []


class _UnknownOptions:
    """Stops the proxy when a `--set` names an option that no addon knows, scripts included
    (their options are known once they are loaded, before the proxy runs)."""

    def __init__(self, master: PolicyMaster) -> None:
        self.master = master

    def running(self) -> None:
        if unknown := sorted(self.master.options.deferred):
            self.master.unknown_options = unknown
            print(
                f"aiwall: unknown option {', '.join(unknown)} (aiwall run loads the mitmproxy"
                " addons a policy proxy needs; see aiwall/proxy/master.py)",
                file=sys.stderr,
            )
            self.master.shutdown()
