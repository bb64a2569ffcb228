"""The mitmproxy addon: hooks that describe a flow once, ask the engine once, hand the decision
to the enforcement step (proxy/enforce.py) and apply the outcome it returns.

Cases it handles:
- CONNECT: remembers the target for the requests inside the tunnel; refuses it (403) when the
  tunnel would not be intercepted (mitmproxy's ignore_hosts / allow_hosts) and the vendor is
  blocked or warned.
- next_layer: a connection mitmproxy decided to relay unseen is judged on every name it has
  (CONNECT, SNI, first Host): refused for a blocked or warned vendor, looked into when it is
  plaintext HTTP (proxy/tunnels.py).
- TLS ClientHello: with `intercept: ai-only`, passes non-AI connections through untouched
  (the CONNECT target and SNI judged together: Engine.must_look_inside).
- Request headers: decides before the body is read; block and unacknowledged warn are
  answered here, so no connection to the vendor is opened (connection_strategy=lazy).
- The acknowledgement path: answered by the proxy itself, never forwarded.
- Any exception inside aiwall: an error page for the request and an error event.
- Who sent it: proxy/identify.py runs first in each hook (Negotiate 407, trusted child
  proxies); directory groups are read in the background, never while a request waits.
"""

import asyncio
import contextlib
import logging
import signal
import time
import weakref
from dataclasses import replace
from pathlib import Path

from mitmproxy import connection, ctx, exceptions, http, tcp, tls
from mitmproxy.addonmanager import Loader
from mitmproxy.proxy import layer, layers, server_hooks
from mitmproxy.proxy.layers.http import HTTPMode

from aiwall.ack.store import AckStore, MemoryAckStore, open_ack_store
from aiwall.ack.tokens import TokenSigner
from aiwall.core.config import Config
from aiwall.core.decision import Decision, RequestInfo
from aiwall.core.engine import Engine
from aiwall.core.registry import default_policies_dir
from aiwall.core.rules import Action, Intercept
from aiwall.pages import answers as pages
from aiwall.proxy import heads, tunnels
from aiwall.proxy.answer import (
    ANSWERED,
    answer,
    answer_without_reading,
    large_body,
    seen,
    stream_body,
    worth_streaming,
)
from aiwall.proxy.directory import DirectoryReader
from aiwall.proxy.enforce import AckForm, Enforcer, Step
from aiwall.proxy.flows import (
    BodyHeaders,
    Client,
    authority,
    client_ip,
    client_of,
    connection_names,
    request_info,
    request_names,
    request_path,
)
from aiwall.proxy.identify import Identify
from aiwall.proxy.options import add_options, signer_from
from aiwall.proxy.record import Recorder
from aiwall.proxy.serving import Serving
from aiwall.proxy.sink import Sink
from aiwall.telemetry.events import EventLog
from aiwall.telemetry.metrics import Metrics

logger = logging.getLogger("aiwall")

_PENDING_FORM = "aiwall_ack"
_STREAM_ABOVE = 256 * 1024  # bytes
_HELD_BODY = (
    64 * 1024
)  # a refused body up to this size is read and dropped; larger goes to the sink
_STORE_PING_SECONDS = 5.0


class AiWall:
    def __init__(self) -> None:
        self.events = EventLog("-")
        self.store: AckStore = MemoryAckStore()
        self.signer = TokenSigner.with_random_secret()
        self.metrics = Metrics()  # allowed AI requests are counted here, not logged one by one
        # The CONNECT target of each client connection, forgotten with the connection.
        self._connect_targets: weakref.WeakKeyDictionary[connection.Client, str] = (
            weakref.WeakKeyDictionary()
        )
        # Client connections whose raw TCP aiwall refused: never connected upstream.
        self._refused: weakref.WeakSet[connection.Client] = weakref.WeakSet()
        self._tasks: set[asyncio.Task[None]] = set()
        self.record = Recorder(self.events)  # one client cannot flood the log with refusals
        self.sink = Sink()  # answers refused uploads without holding their bodies
        self.identify = Identify()
        self.reader = DirectoryReader(self.metrics, lambda: self.events)
        self.directory = self.reader.cache
        self.serving = Serving(lambda: self.events, self.metrics, self._put_in_force)

    @property
    def config(self) -> Config | None:
        """The configuration in force (proxy/serving.py says which, and why)."""
        return self.serving.config

    @config.setter
    def config(self, config: Config | None) -> None:
        self.serving.config = config

    def _put_in_force(self, config: Config) -> None:
        if self.directory.configure(config.rules):
            self.reader.changed()  # read the directory now, not at the next interval

    def load(self, loader: Loader) -> None:
        self.identify.load(loader)
        add_options(loader)

    def configure(self, updated: set[str]) -> None:
        if self.serving.start_refused:
            return  # mitmproxy rolls the options of a refused start back: nothing to apply
        self.identify.configure(updated)
        if {"aiwall_log", "aiwall_log_max_bytes", "aiwall_log_backups"} & updated:
            options = ctx.options
            try:
                events = EventLog(
                    options.aiwall_log, options.aiwall_log_max_bytes, options.aiwall_log_backups
                )
            except ValueError as error:
                raise exceptions.OptionsError(f"aiwall_log: {error}") from None
            self.events.close()
            self.events = self.record.events = events
        if "aiwall_ack_store" in updated:
            try:
                store = open_ack_store(ctx.options.aiwall_ack_store)
            except ValueError as error:
                raise exceptions.OptionsError(f"aiwall_ack_store: {error}") from None
            self._replace_store(store)
        if "aiwall_intercept" in updated and ctx.options.aiwall_intercept not in ("", *Intercept):
            raise exceptions.OptionsError(
                f"aiwall_intercept: {ctx.options.aiwall_intercept!r} is not ai-only or all"
            )
        if "aiwall_secret" in updated:
            self.signer = signer_from(ctx.options.aiwall_secret)
        if {"aiwall_head_max_bytes", "aiwall_head_timeout"} & updated:
            max_bytes, timeout = ctx.options.aiwall_head_max_bytes, ctx.options.aiwall_head_timeout
            if max_bytes < 1024 or timeout < 0:
                raise exceptions.OptionsError(
                    "aiwall_head_max_bytes: 1024 or more; aiwall_head_timeout: 0 or more"
                )
            heads.install(max_bytes, timeout, self._head_refused)
        if "aiwall_refusal_events" in updated:
            if ctx.options.aiwall_refusal_events < 0:
                raise exceptions.OptionsError("aiwall_refusal_events: 0 or more")
            self.record.refusals.limit = ctx.options.aiwall_refusal_events or 2**62
        if {"aiwall_rules", "aiwall_policies", "aiwall_state_dir"} & updated:
            policies, state = ctx.options.aiwall_policies, ctx.options.aiwall_state_dir
            self.serving.open(
                Path(ctx.options.aiwall_rules),
                Path(policies) if policies else default_policies_dir(),
                Path(state) if state else None,
            )
        if "aiwall_metrics" in updated:
            self._serve_metrics(ctx.options.aiwall_metrics)
        if "connection_strategy" in updated and ctx.options.connection_strategy != "lazy":
            # With eager connections mitmproxy contacts the vendor before any hook can decide.
            logger.warning(
                "aiwall sets connection_strategy=lazy so blocked vendors are never contacted"
            )
            ctx.options.update(connection_strategy="lazy")
        if "stream_large_bodies" in updated and ctx.options.stream_large_bodies:
            # mitmproxy would start streaming a large upload before aiwall could refuse it, and
            # then fail on aiwall's answer; aiwall streams what it lets through itself.
            logger.warning(
                "aiwall streams bodies itself (aiwall_stream); unsetting stream_large_bodies"
            )
            ctx.options.update(stream_large_bodies=None)

    def _head_refused(self, client: connection.Client, status: int, reason: str) -> None:
        """A request head over the limits (proxy/heads.py): logged, bounded like any refusal."""
        ip = client_ip(client)
        shown = str(ip) if ip else None
        self.metrics.failed(f"head {status}")
        if self.record.refusals.admit((shown, None, None, None, status)):
            self.events.connection_refused(client_ip=shown, status_code=status, reason=reason)

    def _replace_store(self, store: AckStore) -> None:
        previous, self.store = self.store, store
        self.metrics.watch_store(lambda: store.up)
        self._close_later(previous)

    def _close_later(self, store: AckStore) -> None:
        """Close a store that was replaced, on the event loop where it was used."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(store.close())
            return
        task = loop.create_task(store.close())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _enforcer(self) -> Enforcer:
        if self.config is None:
            raise RuntimeError("aiwall has no configuration")
        return Enforcer(self.config.rules.settings, self.store, self.signer)

    async def _watch(self) -> None:
        while interval := ctx.options.aiwall_reload_interval:
            await asyncio.sleep(interval)
            try:
                if self.serving.changed():
                    await self.serving.reload()
            except Exception as error:  # the watcher outlives any one bad reload
                self.events.internal_error(
                    error=repr(error), where="reload", host=None, client_ip=None
                )

    async def _ping_store(self) -> None:
        """Keep the store's gauge true for an idle shared store too."""
        while True:
            await asyncio.sleep(_STORE_PING_SECONDS)
            if ping := getattr(self.store, "ping", None):
                await ping()

    def running(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks.add(loop.create_task(self._watch()))
        self._tasks.add(loop.create_task(self._ping_store()))
        self._tasks.add(loop.create_task(self.record.summarise()))
        self._tasks.add(loop.create_task(self.sink.start()))
        self._tasks.add(loop.create_task(self.reader.run()))
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
            loop.add_signal_handler(signal.SIGHUP, self._on_sighup)

    def _on_sighup(self) -> None:
        self.events.reopen()  # after logrotate moved the file away
        task = asyncio.get_running_loop().create_task(self.serving.reload())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _serve_metrics(self, listen: str) -> None:
        if not listen:
            self.metrics.close()
            return
        host, _, port = listen.rpartition(":")
        if not port.isdigit():
            raise exceptions.OptionsError(f"aiwall_metrics: {listen!r} is not HOST:PORT")
        try:
            self.metrics.serve(host.strip("[]") or "0.0.0.0", int(port), self.serving.ready)
        except OSError as error:
            raise exceptions.OptionsError(
                f"aiwall_metrics: cannot listen on {listen}: {error}"
            ) from None

    @property
    def intercept(self) -> Intercept:
        if ctx.options.aiwall_intercept:
            return Intercept(ctx.options.aiwall_intercept)
        return self.config.rules.settings.intercept if self.config else Intercept.ALL

    def http_connect(self, flow: http.HTTPFlow) -> None:
        target = authority(flow.request.host, flow.request.port)
        self._connect_targets[flow.client_conn] = target
        try:
            self.identify.http_connect(flow)
            if flow.response or not self._ignored([target]):
                return  # a 407, or looked into: each request inside is decided on its own
            client = client_of(flow, self.directory.groups_of)
            names = connection_names(target, None)
            request = RequestInfo(names, "CONNECT", "/", client.user, client.ip)
            outcome = self._enforcer().tunnel(self._engine().decide(request))
            if outcome.step is Step.REFUSE:  # what goes through is recorded in next_layer
                flow.response = http.Response.make(403, b"Blocked by aiwall\n")
                self.record.outcome(outcome, client, flow.request.method, "", "/", None)
        except Exception as error:  # fail closed: an error refuses the tunnel
            self._fail(flow, error, "http_connect")

    def next_layer(self, nextlayer: layer.NextLayer) -> None:
        """A connection mitmproxy would relay unseen is judged on every name it carries.

        Runs before mitmproxy's own choice (scripts) or after it (`aiwall run`): either way
        aiwall works out the same test and, where it must, sets the layer itself.
        """
        context = nextlayer.context
        options = ctx.options
        if not (options.ignore_hosts or options.allow_hosts) or not context.server.address:
            return
        try:
            data = nextlayer.data_client()
            if tunnels.incomplete(data) or not tunnels.would_ignore(
                context, data, options.ignore_hosts, options.allow_hosts
            ):
                return
            if tunnels.looks_like_plain_http(data):
                # Later requests in a plaintext tunnel may name other hosts: look at each (it
                # is plaintext already, so looking costs no privacy and no TLS).
                nextlayer.layer = layers.HttpLayer(context, HTTPMode.transparent)
                return
            target = self._connect_targets.get(context.client)
            names = tunnels.connection_names(context, data, target)
            ip = client_ip(context.client)
            decision = self._engine().decide(RequestInfo(tuple(names), "CONNECT", "/", None, ip))
            outcome = self._enforcer().tunnel(decision)
            if outcome.step is Step.REFUSE:
                nextlayer.layer = tunnels.Refused(context)
            sni = next((n.raw for n in names if n.seen_in == "sni"), None)
            self.record.outcome(outcome, Client(None, ip), "CONNECT", "", "/", sni)
        except Exception as error:  # fail closed: a connection aiwall could not judge is refused
            nextlayer.layer = tunnels.Refused(context)
            self.events.internal_error(
                error=repr(error), where="next_layer", host=None, client_ip=None
            )

    def _ignored(self, names: list[str]) -> bool:
        options = ctx.options
        return tunnels.ignored(names, options.ignore_hosts, options.allow_hosts)

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        """With ai-only, pass the connection through unless its CONNECT target or SNI is AI."""
        try:
            if self.intercept is Intercept.ALL:
                return
            target = self._connect_targets.get(data.context.client)
            if target is None and data.context.server.address:
                target = authority(*data.context.server.address[:2])
            sni = data.client_hello.sni
            # Without SNI only the Host header inside can name the vendor: look inside.
            inside = self._engine().must_look_inside(connection_names(target, sni))
            data.ignore_connection = bool(sni) and not inside
        except Exception as error:
            data.ignore_connection = False  # intercept, so requestheaders decides (or fails closed)
            self.events.internal_error(
                error=repr(error), where="tls_clienthello", host=None, client_ip=None
            )

    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        try:
            self.identify.requestheaders(flow)
            if flow.response:  # 407: authenticate first
                return
            await self._enforce(flow)
        except Exception as error:
            self._fail(flow, error, "requestheaders")

    async def request(self, flow: http.HTTPFlow) -> None:
        """The acknowledgement form's body has arrived: answer it here, never upstream."""
        if flow.metadata.get(ANSWERED):
            flow.request.data.content = b""  # a refused upload is not kept while the flow lives
            return
        pending = flow.metadata.get(_PENDING_FORM)
        if flow.response or not pending:
            return
        try:
            await self._acknowledge(flow, *pending)
        except Exception as error:
            self._fail(flow, error, "request")

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """Stream a long or open-ended answer from upstream: aiwall never reads response bodies."""
        response = flow.response
        if response and response.raw_content is None and ctx.options.aiwall_stream:
            response.stream = worth_streaming(response.headers.get("content-length"))

    def tcp_start(self, flow: tcp.TCPFlow) -> None:
        """Raw TCP through a tunnel to a vendor cannot be shown a page: refuse it unless allowed."""
        try:
            target = self._connect_targets.get(flow.client_conn)
            decision = self._engine().decide(
                RequestInfo(connection_names(target, flow.client_conn.sni), "CONNECT")
            )
            if self._enforcer().refuses_tunnel(decision):
                self._refuse(flow)
        except Exception as error:
            self._refuse(flow)
            self.events.internal_error(
                error=repr(error), where="tcp_start", host=None, client_ip=None
            )

    def _refuse(self, flow: tcp.TCPFlow) -> None:
        # Killing the flow alone is not enough: mitmproxy's TCP layer still opens the
        # connection upstream; server_connect below stops that.
        self._refused.add(flow.client_conn)
        flow.kill()

    def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        if data.client in self._refused:
            data.server.error = "refused by aiwall"

    def done(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.record.close()
        self.sink.close()
        self._close_later(self.store)
        self.metrics.close()
        self.events.close()

    def _engine(self) -> Engine:
        if self.config is None:
            raise RuntimeError("aiwall has no configuration")
        return self.config.engine

    async def _enforce(self, flow: http.HTTPFlow) -> None:
        assert self.config is not None, "aiwall has no configuration"
        target = self._connect_targets.get(flow.client_conn)
        body = BodyHeaders.of(flow.request.headers)
        names = request_names(flow, target, body.hosts)
        path = request_path(flow)
        engine = self.config.engine
        if len(body.hosts) < 2 and not engine.concerns(names, path):
            stream_body(flow, body)
            return  # not AI traffic: untouched, unlogged, and nothing more spent on it
        client = client_of(flow, self.directory.groups_of)
        request = request_info(flow, names, path, client, body)
        start = time.perf_counter()
        decision = engine.decide(request)
        if len(body.hosts) > 1:  # which one would the server read? Refuse, and say so
            reason = "two Host headers"
            decision = replace(
                decision, action=Action.BLOCK, ai=True, reason=reason, invalid=reason
            )
        if decision.ai:
            self.metrics.decided(decision, time.perf_counter() - start)
        asked = seen(flow)
        outcome = await self._enforcer().outcome(decision, request, asked)
        if outcome.step is Step.READ_FORM:
            flow.metadata[_PENDING_FORM] = (decision, request, client)
            return
        if outcome.step is Step.FORWARD:
            stream_body(flow, body)
            for header in outcome.headers:
                flow.request.headers[header.name] = header.value  # replaces the client's copies
        elif outcome.page is not None:
            if large_body(request) and self.sink.ready:
                answer_without_reading(flow, outcome.page, self.sink)
            else:
                answer(flow, outcome.page)
        self.record.outcome(
            outcome,
            client,
            flow.request.method,
            flow.request.scheme,
            path,
            flow.client_conn.sni,
            request.body_size,
            event_id=asked.reference,  # the reference the page showed
        )

    async def _acknowledge(
        self, flow: http.HTTPFlow, decision: Decision, request: RequestInfo, client: Client
    ) -> None:
        form = flow.request.urlencoded_form
        posted = AckForm(
            token=form.get("token", ""),
            justification=form.get("justification", ""),
            origin=flow.request.headers.get("origin"),
        )
        result = await self._enforcer().acknowledge(decision, request, seen(flow), posted)
        assert result.outcome.page is not None
        answer(flow, result.outcome.page)
        warned = result.outcome.decision
        self.metrics.acknowledged(
            warned.vendor.id if warned.vendor else "-", result.refused is None
        )
        self.events.ack(
            identity=result.identity,
            user=client.user,
            client_ip=str(client.ip) if client.ip else None,
            vendor=warned.ack_scope,
            product=warned.product_ref,
            rule_id=result.rule,
            host=seen(flow).host,
            justification=result.justification,
            ttl_seconds=result.ttl_seconds,
            accepted=result.refused is None,
            reason=result.refused or "acknowledged",
        )

    def _fail(self, flow: http.HTTPFlow, error: Exception, where: str) -> None:
        """Fail closed: the request is answered with an error and never reaches the vendor."""
        settings = self.config.rules.settings if self.config else None
        try:
            html = pages.wants_html(flow.request.headers)
        except Exception:
            html = False
        answer(flow, pages.error_page(html=html, settings=settings))
        self.metrics.failed(where)
        ip = client_ip(flow.client_conn)
        self.events.internal_error(
            error=repr(error),
            where=where,
            host=flow.request.host,
            client_ip=str(ip) if ip else None,
        )
        logger.exception("aiwall failed closed in %s", where, exc_info=error)
