"""The mitmproxy addon: hooks that turn flows into decisions and decisions into responses.

Cases it handles:
- CONNECT: remembers the target for the requests inside the tunnel; refuses it (403) when the
  tunnel would not be intercepted (mitmproxy's ignore_hosts) and the vendor is blocked.
- TLS ClientHello: with `intercept: ai-only`, passes non-AI connections through untouched,
  judging the CONNECT target and the SNI together so a fake SNI cannot carry AI traffic.
- Request headers: decides before the body is read; block and unacknowledged warn are
  answered here, so no connection to the vendor is opened (connection_strategy=lazy).
- The acknowledgement path: answered by the proxy itself, never forwarded.
- Any exception inside aiwall: an error page for the request and an error event.
"""

import asyncio
import contextlib
import logging
import re
import signal
import time
import weakref
from pathlib import Path

from mitmproxy import connection, ctx, exceptions, http, tcp, tls
from mitmproxy.addonmanager import Loader

from aiwall.ack.tokens import (
    ACK_PATH,
    AckStore,
    InvalidToken,
    MemoryAckStore,
    TokenSigner,
    kept_justification,
    open_ack_store,
    redeem,
)
from aiwall.core.config import Config, load_config
from aiwall.core.decision import Decision, RequestInfo
from aiwall.core.diff import diff_registries
from aiwall.core.policy import Kind
from aiwall.core.registry import default_policies_dir
from aiwall.core.rules import Action, Intercept
from aiwall.core.yamlsource import ConfigError
from aiwall.pages import answers as pages
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
from aiwall.proxy.watch import Fingerprint, fingerprint
from aiwall.telemetry.events import EventLog, RequestContext
from aiwall.telemetry.metrics import Metrics

logger = logging.getLogger("aiwall")

MAX_ACK_BODY = 16 * 1024
_FORWARDED = (Action.ALLOW, Action.LOG)
_ANSWERED = "aiwall_answered"
_STREAM_ABOVE = 256 * 1024  # bytes


class AiWall:
    def __init__(self) -> None:
        self.config: Config | None = None
        self.events = EventLog("-")
        self.store: AckStore = MemoryAckStore()
        self.signer = TokenSigner.with_random_secret()
        self.metrics = Metrics()  # allowed AI requests are counted here, not logged one by one
        # The CONNECT target of each client connection, forgotten with the connection.
        self._connect_targets: weakref.WeakKeyDictionary[connection.Client, str] = (
            weakref.WeakKeyDictionary()
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._read_fingerprint: Fingerprint = ()  # the files as the last load found them

    def load(self, loader: Loader) -> None:
        loader.add_option("aiwall_rules", str, "rules.yaml", "The organisation's rules file.")
        loader.add_option(
            "aiwall_policies", str, "", "Folder of vendor records (empty: the shipped ones)."
        )
        loader.add_option("aiwall_log", str, "-", "Where the JSON event log goes: - or a file.")
        loader.add_option(
            "aiwall_log_max_bytes",
            int,
            0,
            "Rotate the log file when it would grow past this many bytes (0: never).",
        )
        loader.add_option(
            "aiwall_log_backups", int, 5, "How many rotated log files to keep (.1 is the newest)."
        )
        loader.add_option(
            "aiwall_ack_store",
            str,
            "memory",
            "Where acknowledgements of warnings are kept: memory, or redis://HOST:PORT/DB"
            " shared by several instances (give them the same aiwall_secret).",
        )
        loader.add_option(
            "aiwall_intercept",
            str,
            "",
            "ai-only or all; empty: as the rules file's settings.intercept says.",
        )
        loader.add_option(
            "aiwall_secret",
            str,
            "",
            "File with the key that signs acknowledgement tokens (empty: a random key per start).",
        )
        loader.add_option(
            "aiwall_metrics",
            str,
            "",
            "HOST:PORT for /metrics, /healthz and /readyz (empty: off).",
        )
        loader.add_option(
            "aiwall_reload_interval",
            int,
            2,
            "Seconds between checks of the rules and policy files for changes (0: only SIGHUP).",
        )
        loader.add_option(
            "aiwall_stream",
            bool,
            True,
            "Stream the bodies of requests aiwall lets through, and of their responses, instead of"
            " holding them (aiwall never reads them; streamed AI answers arrive as they are"
            " written). Takes the place of stream_large_bodies, which breaks blocking uploads.",
        )

    def configure(self, updated: set[str]) -> None:
        if {"aiwall_log", "aiwall_log_max_bytes", "aiwall_log_backups"} & updated:
            options = ctx.options
            try:
                events = EventLog(
                    options.aiwall_log, options.aiwall_log_max_bytes, options.aiwall_log_backups
                )
            except ValueError as error:
                raise exceptions.OptionsError(f"aiwall_log: {error}") from None
            self.events.close()
            self.events = events
        if "aiwall_ack_store" in updated:
            try:
                self.store = open_ack_store(ctx.options.aiwall_ack_store)
                self.metrics.watch_store(getattr(self.store, "healthy", None))
            except ValueError as error:
                raise exceptions.OptionsError(f"aiwall_ack_store: {error}") from None
        if "aiwall_intercept" in updated and ctx.options.aiwall_intercept not in ("", *Intercept):
            raise exceptions.OptionsError(
                f"aiwall_intercept: {ctx.options.aiwall_intercept!r} is not ai-only or all"
            )
        if "aiwall_secret" in updated:
            self.signer = _signer(ctx.options.aiwall_secret)
        if {"aiwall_rules", "aiwall_policies"} & updated:
            self._apply(*self._read_config())
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

    def _paths(self) -> tuple[Path, Path]:
        policies = ctx.options.aiwall_policies
        return Path(ctx.options.aiwall_rules), Path(
            policies
        ) if policies else default_policies_dir()

    def _read_config(self) -> tuple[Config | None, list[str]]:
        """A new configuration validated in full, or the problems that reject it."""
        rules, policies = self._paths()
        # Taken before reading: a change made while (or just after) reading is a change.
        self._read_fingerprint = fingerprint(rules, policies)
        try:
            return load_config(rules, policies), []
        except ConfigError as error:
            return None, [str(p) for p in error.problems]

    def _apply(self, config: Config | None, problems: list[str]) -> None:
        """Swap in a good configuration in one assignment; keep the last good one otherwise."""
        self.metrics.reloaded(config is not None)
        if config is None:
            self.events.config_rejected(problems=problems)
            if self.config is None:
                raise exceptions.OptionsError("\n".join(problems))
            logger.error("aiwall: rejected the new configuration, keeping the last good one")
            return
        previous, self.config = self.config, config
        rules, policies = self._paths()
        self.events.config_loaded(
            rules=str(rules),
            policies=str(policies),
            vendors=len(config.registry.vendors),
            rules_count=len(config.rules.rules),
            warnings=[str(w) for w in config.warnings],
        )
        if previous is not None and (
            changes := diff_registries(previous.registry, config.registry)
        ):
            self.events.policy_changed(changes=changes)

    async def _reload(self) -> None:
        """Validate off the event loop, then swap between requests."""
        config, problems = await asyncio.to_thread(self._read_config)
        self._apply(config, problems)

    async def _watch(self) -> None:
        while interval := ctx.options.aiwall_reload_interval:
            await asyncio.sleep(interval)
            if fingerprint(*self._paths()) != self._read_fingerprint:
                await self._reload()

    def running(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks.add(loop.create_task(self._watch()))
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows
            loop.add_signal_handler(signal.SIGHUP, self._on_sighup)

    def _on_sighup(self) -> None:
        self.events.reopen()  # after logrotate moved the file away
        task = asyncio.get_running_loop().create_task(self._reload())
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
            self.metrics.serve(host.strip("[]") or "0.0.0.0", int(port), self._ready)
        except OSError as error:
            raise exceptions.OptionsError(
                f"aiwall_metrics: cannot listen on {listen}: {error}"
            ) from None

    def _ready(self) -> bool:
        return self.config is not None

    @property
    def intercept(self) -> Intercept:
        if ctx.options.aiwall_intercept:
            return Intercept(ctx.options.aiwall_intercept)
        return self.config.rules.settings.intercept if self.config else Intercept.ALL

    def http_connect(self, flow: http.HTTPFlow) -> None:
        target = authority(flow.request.host, flow.request.port)
        self._connect_targets[flow.client_conn] = target
        try:
            if not self._tunnel_is_ignored(flow.request.host, flow.request.port):
                return  # intercepted: each request inside is decided on its own
            client = client_of(flow)
            decision = self._decide(
                RequestInfo(connection_names(target, None), "CONNECT", "/", client.user, client.ip)
            )
            if (decision.ai and decision.action in (Action.BLOCK, Action.WARN)) or decision.invalid:
                flow.response = http.Response.make(403, b"Blocked by aiwall\n")
                self._log(flow, decision, client, 403)
        except Exception as error:  # fail closed: an error refuses the tunnel
            self._fail(flow, error, "http_connect")

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        """With ai-only, pass the connection through unless its CONNECT target or SNI is AI."""
        try:
            if self.intercept is Intercept.ALL:
                return
            target = self._connect_targets.get(data.context.client)
            if target is None and data.context.server.address:
                target = authority(*data.context.server.address[:2])
            sni = data.client_hello.sni
            decision = self._decide(RequestInfo(connection_names(target, sni), "CONNECT"))
            # Without SNI only the Host header inside can name the vendor: look inside.
            data.ignore_connection = bool(sni) and not decision.ai and not decision.invalid
        except Exception as error:
            data.ignore_connection = False  # intercept, so requestheaders decides (or fails closed)
            self.events.internal_error(
                error=repr(error), where="tls_clienthello", host=None, client_ip=None
            )

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live:
            return
        try:
            self._enforce(flow)
        except Exception as error:
            self._fail(flow, error, "requestheaders")

    def request(self, flow: http.HTTPFlow) -> None:
        """The acknowledgement form's body has arrived: answer it here, never upstream."""
        if flow.metadata.get(_ANSWERED):
            flow.request.data.content = b""  # a refused upload is not kept while the flow lives
            return
        if flow.response or not flow.metadata.get("aiwall_ack"):
            return
        try:
            self._acknowledge(flow, flow.metadata["aiwall_ack"])
        except Exception as error:
            self._fail(flow, error, "request")

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """Stream a long or open-ended answer from upstream: aiwall never reads response bodies."""
        response = flow.response
        if response and response.raw_content is None and ctx.options.aiwall_stream:
            response.stream = _worth_streaming(response.headers.get("content-length"))

    def tcp_start(self, flow: tcp.TCPFlow) -> None:
        """Raw TCP through a tunnel to a vendor cannot be shown a page: refuse it unless allowed."""
        try:
            target = self._connect_targets.get(flow.client_conn)
            names = connection_names(target, flow.client_conn.sni)
            decision = self._decide(RequestInfo(names, "CONNECT"))
            if (decision.ai and decision.action in (Action.BLOCK, Action.WARN)) or decision.invalid:
                flow.kill()
        except Exception as error:
            flow.kill()
            self.events.internal_error(
                error=repr(error), where="tcp_start", host=None, client_ip=None
            )

    def done(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.metrics.close()
        self.events.close()

    def _decide(self, request: RequestInfo) -> Decision:
        if self.config is None:
            raise RuntimeError("aiwall has no configuration")
        return self.config.engine.decide(request)

    def _enforce(self, flow: http.HTTPFlow) -> None:
        assert self.config is not None, "aiwall has no configuration"
        target = self._connect_targets.get(flow.client_conn)
        body = BodyHeaders.of(flow.request.headers)
        if len(body.hosts) > 1:
            html = pages.wants_html(flow.request.headers)
            _answer(flow, pages.invalid_host_page("two Host headers", html=html))
            return
        names = request_names(flow, target, body.hosts)
        path = request_path(flow)
        engine = self.config.engine
        if not engine.concerns(names, path):
            _stream_body(flow, body)
            return  # not AI traffic: untouched, unlogged, and nothing more spent on it
        client = client_of(flow)
        request = request_info(flow, names, path, client, body)
        start = time.perf_counter()
        decision = engine.decide(request)
        if decision.ai:
            self.metrics.decided(decision, time.perf_counter() - start)
        if decision.ai and decision.action in _FORWARDED and request.path != ACK_PATH:
            _stream_body(flow, body)
            self._forward(flow, decision, client)
            return
        html = pages.wants_html(flow.request.headers, default=_page_by_default(request, decision))
        if decision.invalid:
            _answer(flow, pages.invalid_host_page(decision.invalid, html=html))
            self._log(flow, decision, client, 400)
            return
        if not decision.ai:
            return
        if request.path == ACK_PATH:
            self._ack_request(flow, decision, client, html)
            return
        settings = self.config.rules.settings
        if decision.action is Action.BLOCK:
            page = (
                pages.block_page(decision, settings.contact)
                if html
                else pages.denial_json(decision, settings.contact)
            )
            _answer(flow, page)
            self._log(flow, decision, client, page.status)
            return
        assert decision.action is Action.WARN
        if self.store.is_acknowledged(client.identity(settings), _ack_scope(decision)):
            _stream_body(flow, body)
            self._forward(flow, decision, client, acknowledged=True)
            return
        page = self._warning(flow, decision, client, html, flow.request.url)
        _answer(flow, page)
        self._log(flow, decision, client, page.status)

    def _forward(
        self, flow: http.HTTPFlow, decision: Decision, client: Client, acknowledged: bool = False
    ) -> None:
        """Let the request go on, with the tenant headers; log it unless it is a plain allow."""
        for header in decision.tenant_headers:
            flow.request.headers[header.name] = header.value  # replaces every copy the client sent
        if acknowledged or decision.action is Action.LOG or decision.shadow:
            self._log(flow, decision, client, None, acknowledged=acknowledged)

    def _warning(
        self, flow: http.HTTPFlow, decision: Decision, client: Client, html: bool, return_url: str
    ) -> pages.Page:
        assert self.config is not None and decision.rule is not None
        settings = self.config.rules.settings
        host = flow.request.host_header or flow.request.host
        if not html:
            acknowledge_url = f"https://{host}{ACK_PATH}"
            return pages.denial_json(decision, settings.contact, acknowledge_url=acknowledge_url)
        ttl = decision.rule.ack_ttl or settings.ack_ttl
        claim = {
            "identity": client.identity(settings),
            "vendor": _ack_scope(decision),
            "rule": decision.rule.id,
            "require_justification": decision.rule.require_justification,
            "ttl_seconds": int(ttl.total_seconds()),
        }
        try:
            token = self.signer.issue(return_url=return_url, **claim)  # type: ignore[arg-type]
        except ValueError:  # a URL too long or odd to bind: return to the site's front page
            front = f"{flow.request.scheme}://{host}/"
            token = self.signer.issue(return_url=front, **claim)  # type: ignore[arg-type]
        return pages.warn_page(decision, settings.contact, token=token, host=host)

    def _ack_request(
        self, flow: http.HTTPFlow, decision: Decision, client: Client, html: bool
    ) -> None:
        """GET shows the warning for this vendor; POST carries the form, read in `request`."""
        assert self.config is not None
        if decision.action is not Action.WARN:
            page = pages.ack_refused_page(
                "nothing to acknowledge here", html=html, contact=self.config.rules.settings.contact
            )
            _answer(flow, page)
            return
        if flow.request.method == "GET":
            home = f"{flow.request.scheme}://{flow.request.host_header or flow.request.host}/"
            _answer(flow, self._warning(flow, decision, client, html, home))
            return
        length = flow.request.headers.get("content-length", "")
        if flow.request.method != "POST" or not length.isdigit() or int(length) > MAX_ACK_BODY:
            reason = "the acknowledgement takes one small POST"
            page = pages.ack_refused_page(
                reason, html=html, contact=self.config.rules.settings.contact
            )
            _answer(flow, page)
            return
        flow.metadata["aiwall_ack"] = (decision, client)

    def _acknowledge(self, flow: http.HTTPFlow, pending: tuple[Decision, Client]) -> None:
        assert self.config is not None
        decision, client = pending
        settings = self.config.rules.settings
        identity = client.identity(settings)
        scope = _ack_scope(decision)
        form = flow.request.urlencoded_form
        justification = kept_justification(form.get("justification", ""))
        host = flow.request.host_header or flow.request.host
        origin_error = _origin_error(flow.request.headers.get("origin"), flow.request.scheme, host)
        try:
            if origin_error:
                raise InvalidToken(origin_error)
            claim = redeem(
                self.signer,
                self.store,
                form.get("token", ""),
                identity=identity,
                vendor=scope,
                justification=justification,
            )
        except InvalidToken as refused:
            page = pages.ack_refused_page(str(refused), html=True, contact=settings.contact)
            _answer(flow, page)
            self._log_ack(decision, client, identity, scope, host, justification, 0, str(refused))
            return
        _answer(flow, pages.redirect(claim.return_url))
        self._log_ack(
            decision, client, identity, scope, host, justification, claim.ttl_seconds, None
        )

    def _log_ack(
        self,
        decision: Decision,
        client: Client,
        identity: str,
        scope: str,
        host: str,
        justification: str,
        ttl: int,
        refused: str | None,
    ) -> None:
        self.metrics.acknowledged(scope, refused is None)
        self.events.ack(
            identity=identity,
            user=client.user,
            client_ip=str(client.ip) if client.ip else None,
            vendor=scope,
            product=f"{decision.vendor.id}/{decision.product.id}"
            if decision.vendor and decision.product
            else None,
            rule_id=decision.rule.id if decision.rule else "",
            host=host,
            justification=justification,
            ttl_seconds=ttl,
            accepted=refused is None,
            reason=refused or "acknowledged",
        )

    def _log(
        self,
        flow: http.HTTPFlow,
        decision: Decision,
        client: Client,
        status: int | None,
        acknowledged: bool = False,
    ) -> None:
        context = RequestContext(
            client_ip=str(client.ip) if client.ip else None,
            user=client.user,
            method=flow.request.method,
            scheme=flow.request.scheme,
            path=flow.request.path,
            sni=flow.client_conn.sni,
            status_code=status,
            acknowledged=acknowledged,
        )
        self.events.decision(decision, context)

    def _fail(self, flow: http.HTTPFlow, error: Exception, where: str) -> None:
        """Fail closed: the request is answered with an error and never reaches the vendor."""
        contact = self.config.rules.settings.contact if self.config else "your IT service desk"
        try:
            html = pages.wants_html(flow.request.headers)
        except Exception:
            html = False
        _answer(flow, pages.error_page(html=html, contact=contact))
        self.metrics.failed(where)
        ip = client_ip(flow.client_conn)
        self.events.internal_error(
            error=repr(error),
            where=where,
            host=flow.request.host,
            client_ip=str(ip) if ip else None,
        )
        logger.exception("aiwall failed closed in %s", where, exc_info=error)

    def _tunnel_is_ignored(self, host: str, port: int) -> bool:
        """Whether mitmproxy's ignore_hosts will pass this tunnel through unseen."""
        patterns = ctx.options.ignore_hosts
        name = f"{host}:{port}"
        return any(re.search(pattern, name, re.IGNORECASE) for pattern in patterns)


def _page_by_default(request: RequestInfo, decision: Decision) -> bool:
    """A client stating no preference gets a page from an app's host, JSON from an API's."""
    if request.method not in ("GET", "HEAD"):
        return False
    if decision.vendor is None or decision.product is None:
        return True
    return decision.vendor.kind_of(decision.product) is not Kind.API_PLATFORM


def _ack_scope(decision: Decision) -> str:
    """What an acknowledgement covers: the vendor, or the host for one only a rule names."""
    return decision.vendor.id if decision.vendor else f"host:{decision.host}"


def _origin_error(origin: str | None, scheme: str, host: str) -> str | None:
    if not origin:
        return "the form came without an Origin header"
    if origin.lower().rstrip("/") != f"{scheme}://{host}".lower():
        return "the form was posted from another site"
    return None


def _stream_body(flow: http.HTTPFlow, body: BodyHeaders) -> None:
    """A large upload that goes upstream is sent on as it arrives (aiwall never reads it)."""
    if ctx.options.aiwall_stream and _worth_streaming(body.content_length):
        flow.request.stream = True


def _worth_streaming(content_length: str | None) -> bool:
    """A body of unknown length (server-sent events, chunked, HTTP/2 without a length) or a
    large one. Small bodies are cheaper held whole: streaming costs mitmproxy more per message.
    """
    length = content_length
    return length is None or not length.isdigit() or int(length) > _STREAM_ABOVE


def _answer(flow: http.HTTPFlow, page: pages.Page) -> None:
    """The proxy answers the request itself; it never goes upstream."""
    headers = [(name.encode(), value.encode()) for name, value in page.headers]
    flow.response = http.Response.make(page.status, page.body, headers)
    flow.metadata[_ANSWERED] = True
    # No "100 Continue": a client that waits for one need not send a body nobody will read.
    flow.request.headers.pop("expect", None)


def _signer(secret_file: str) -> TokenSigner:
    if not secret_file:
        return TokenSigner.with_random_secret()
    try:
        secret = Path(secret_file).read_bytes().strip()
    except OSError as error:
        raise exceptions.OptionsError(
            f"aiwall_secret: cannot read {secret_file}: {error}"
        ) from None
    if len(secret) < 32:
        raise exceptions.OptionsError(f"aiwall_secret: {secret_file} holds under 32 bytes")
    return TokenSigner(secret)
