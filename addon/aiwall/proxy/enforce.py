"""The enforcement step: one decision in, one outcome out.

The addon describes a request once, the engine decides once, and `Enforcer.outcome` turns that
decision into what happens: forward (with the tenant headers), answer with a page, refuse the
tunnel, or wait for the acknowledgement form's body. The hooks apply the outcome and the log
records it; nothing downstream works the decision out again.
"""

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from aiwall.ack.errors import AckError, InvalidToken, JustificationRequired
from aiwall.ack.store import AckStore
from aiwall.ack.tokens import (
    ACK_PATH,
    MAX_JUSTIFICATION_CHARS,
    AckClaim,
    TokenSigner,
    kept_justification,
    redeem,
)
from aiwall.core.decision import Decision, RequestInfo, TenantHeader
from aiwall.core.policy import Kind
from aiwall.core.rules import Action, Settings, identity_of
from aiwall.pages import answers as pages
from aiwall.telemetry.ids import new_event_id

MAX_ACK_BODY = 16 * 1024


class Step(enum.Enum):
    FORWARD = "forward"  # on to the vendor, with `headers` set
    ANSWER = "answer"  # the proxy answers with `page`; nothing reaches the vendor
    REFUSE = "refuse"  # a tunnel that cannot be shown a page: refused or closed
    READ_FORM = "read-form"  # the acknowledgement form: its body is needed first


@dataclass(frozen=True)
class Outcome:
    """What happens to one request, and whether (and how) the log records it."""

    step: Step
    decision: Decision
    page: pages.Page | None = None
    headers: tuple[TenantHeader, ...] = ()
    logged: bool = False
    acknowledged: bool = False  # forwarded because the client acknowledged every warning

    @property
    def status(self) -> int | None:
        """What the proxy answered, None when the request went on."""
        if self.page is not None:
            return self.page.status
        return 403 if self.step is Step.REFUSE else None

    @property
    def forwarded(self) -> bool:
        return self.step is Step.FORWARD


@dataclass(frozen=True)
class Seen:
    """What the answer depends on beyond the decision: how the request was made."""

    scheme: str
    host: str  # the Host header, or the URL's host
    url: str  # where the client was going, for the warning's Continue
    headers: Mapping[str, str]  # for negotiating a page or JSON
    reference: str = ""  # the id of the decision event: shown on the page, logged with it


@dataclass(frozen=True)
class AckForm:
    """The acknowledgement form as posted: read from the body in the `request` hook."""

    token: str
    justification: str
    origin: str | None


@dataclass(frozen=True)
class AckResult:
    """The outcome of a posted form, with what the `ack` event records."""

    outcome: Outcome
    identity: str
    rule: str  # the rule acknowledged, as the token names it ("" when it was refused unread)
    justification: str
    ttl_seconds: int
    refused: str | None


class Enforcer:
    """Turns decisions into outcomes for one configuration, store and signing key."""

    def __init__(self, settings: Settings, store: AckStore, signer: TokenSigner) -> None:
        self.settings = settings
        self.store = store
        self.signer = signer

    def identity(self, request: RequestInfo) -> str:
        return identity_of(request.user, request.client_ip, self.settings.identity)

    async def outcome(self, decision: Decision, request: RequestInfo, seen: Seen) -> Outcome:
        if decision.invalid:
            html = pages.wants_html(seen.headers)
            page = pages.invalid_host_page(
                decision.invalid, html=html, settings=self.settings, visit=_visit(seen, request)
            )
            return _answer(decision, page)
        if not decision.ai:
            return Outcome(Step.FORWARD, decision)
        if request.path == ACK_PATH:
            return self._ack_path(decision, request, seen)
        if decision.action in (Action.ALLOW, Action.LOG):
            logged = decision.action is Action.LOG or bool(decision.shadow)
            return Outcome(Step.FORWARD, decision, headers=decision.tenant_headers, logged=logged)
        html = pages.wants_html(seen.headers, default=_page_by_default(request, decision))
        if decision.action is Action.BLOCK:
            visit = _visit(seen, request)
            page = (
                pages.block_page(decision, self.settings, visit)
                if html
                else pages.denial_json(decision, self.settings, visit)
            )
            return _answer(decision, page)
        pending = await self._unacknowledged(decision, request)
        if pending is None:
            return Outcome(
                Step.FORWARD,
                decision,
                headers=decision.tenant_headers,
                logged=True,
                acknowledged=True,
            )
        return _answer(pending, self._warning(pending, request, seen, html, seen.url))

    async def _unacknowledged(self, decision: Decision, request: RequestInfo) -> Decision | None:
        """The first warning among the request's names the client has not acknowledged."""
        identity = self.identity(request)
        for warned in decision.warned or (decision,):
            assert warned.rule is not None
            if not await self.store.is_acknowledged(identity, warned.ack_scope, warned.rule.id):
                return warned
        return None

    def refuses_tunnel(self, decision: Decision) -> bool:
        """A tunnel that is relayed unseen cannot show a warning: block and warn refuse it."""
        return bool(decision.invalid) or (
            decision.ai and decision.action in (Action.BLOCK, Action.WARN)
        )

    def tunnel(self, decision: Decision) -> Outcome:
        """The outcome for a connection relayed without interception."""
        if self.refuses_tunnel(decision):
            return Outcome(Step.REFUSE, decision, logged=True)
        logged = decision.ai and (decision.action is Action.LOG or bool(decision.shadow))
        return Outcome(Step.FORWARD, decision, logged=logged)

    def _warning(
        self,
        decision: Decision,
        request: RequestInfo,
        seen: Seen,
        html: bool,
        return_url: str,
        refused: tuple[pages.FormError, str] | None = None,
    ) -> pages.Page:
        """The warning; with `refused`, again after a refused form: the error and the text."""
        rule = decision.rule
        assert rule is not None
        visit = _visit(seen, request)
        if not html:
            acknowledge_url = f"https://{seen.host}{ACK_PATH}"
            return pages.denial_json(
                decision, self.settings, visit, acknowledge_url=acknowledge_url
            )
        identity = self.identity(request)
        address = identity.removeprefix("ip:") if identity.startswith("ip:") else None
        if self._needs_user(identity):  # shown the warning, without a form to continue
            return pages.warn_page(
                decision, self.settings, visit, token="", address=address, may_continue=False
            )
        ttl = rule.ack_ttl if rule.ack_ttl is not None else self.settings.ack_ttl
        claim = {
            "identity": identity,
            "vendor": decision.ack_scope,
            "rule": rule.id,
            "require_justification": rule.require_justification,
            "ttl_seconds": int(ttl.total_seconds()),
        }
        try:
            token = self.signer.issue(return_url=return_url, **claim)  # type: ignore[arg-type]
        except ValueError:  # a URL too long or odd to bind: return to the site's front page
            front = f"{seen.scheme}://{seen.host}/"
            token = self.signer.issue(return_url=front, **claim)  # type: ignore[arg-type]
        error, justification = refused or (None, "")
        return pages.warn_page(
            decision,
            self.settings,
            visit,
            token=token,
            error=error,
            justification=justification,
            address=address,
        )

    def _needs_user(self, identity: str) -> bool:
        """Whether this client may not acknowledge: the rules want a named user, and it is not."""
        return self.settings.ack_requires_user and not identity.startswith("user:")

    def _ack_path(self, decision: Decision, request: RequestInfo, seen: Seen) -> Outcome:
        """GET shows the warning for this vendor; POST carries the form, read in `request`."""
        html = pages.wants_html(seen.headers, default=_page_by_default(request, decision))
        visit = _visit(seen, request)
        if decision.action is not Action.WARN:
            refused = pages.ack_refused_page(
                "nothing to acknowledge here", html=html, settings=self.settings, visit=visit
            )
            return Outcome(Step.ANSWER, decision, page=refused)
        warned = decision.warned[0] if decision.warned else decision
        if request.method == "GET":
            home = f"{seen.scheme}://{seen.host}/"
            return _answer(warned, self._warning(warned, request, seen, html, home))
        if (
            request.method != "POST"
            or request.body_size is None
            or (request.body_size > MAX_ACK_BODY)
        ):
            reason = "the acknowledgement takes one small POST"
            page = pages.ack_refused_page(reason, html=html, settings=self.settings, visit=visit)
            return Outcome(Step.ANSWER, decision, page=page)
        return Outcome(Step.READ_FORM, decision)

    async def acknowledge(
        self, decision: Decision, request: RequestInfo, seen: Seen, form: AckForm
    ) -> AckResult:
        """Check a posted form against the warnings this request is under, and record it."""
        identity = self.identity(request)
        justification = kept_justification(form.justification)
        try:
            if error := _origin_error(form.origin, seen.scheme, seen.host):
                raise AckError(error)
            if self._needs_user(identity):
                raise AckError("acknowledgements need an authenticated user")
            claim, warned = await self._redeem(decision, identity, form.token, justification)
        except AckError as refused:
            page = self._form_again(decision, request, seen, form, refused)
            outcome = Outcome(Step.ANSWER, decision, page=page)
            rule = decision.rule.id if decision.rule else ""
            return AckResult(outcome, identity, rule, justification, 0, refused.reason)
        outcome = Outcome(Step.ANSWER, warned, page=pages.redirect(claim.return_url))
        return AckResult(outcome, identity, claim.rule, justification, claim.ttl_seconds, None)

    def _form_again(
        self, decision: Decision, request: RequestInfo, seen: Seen, form: AckForm, error: AckError
    ) -> pages.Page:
        """A justification too short, or a form that expired, shows the warning again with
        the error and the text as typed; any other refusal is only explained."""
        warned = decision.warned[0] if decision.warned else decision
        typed = form.justification[: 2 * MAX_JUSTIFICATION_CHARS]
        if isinstance(error, JustificationRequired):
            claim = self.signer.open(form.token)  # the same token: its nonce is not spent
            refused = (pages.FormError.TOO_SHORT, typed)
            return self._warning(warned, request, seen, True, claim.return_url, refused)
        if error.reason == "expired" and warned.action is Action.WARN:
            front = f"{seen.scheme}://{seen.host}/"
            refused = (pages.FormError.EXPIRED, typed)
            return self._warning(warned, request, seen, True, front, refused)
        visit = _visit(seen, request)
        return pages.ack_refused_page(error.reason, html=True, settings=self.settings, visit=visit)

    async def _redeem(
        self, decision: Decision, identity: str, token: str, justification: str
    ) -> tuple[AckClaim, Decision]:
        """Redeem the token for the vendor of this host and the rule it was issued for.

        The form is posted to the vendor's host, not to the page that was warned (a rule may
        warn on a path only), so the rule comes from the signed claim; the store records the
        acknowledgement for that rule alone."""
        claim = self.signer.open(token)
        warnings = decision.warned or (decision,)
        warned = next((w for w in warnings if w.ack_scope == claim.vendor), None)
        if warned is None:
            raise InvalidToken("issued for another vendor")
        claim = await redeem(
            self.signer,
            self.store,
            token,
            identity=identity,
            vendor=warned.ack_scope,
            rule=claim.rule,
            justification=justification,
        )
        return claim, warned


def _visit(seen: Seen, request: RequestInfo) -> pages.Visit:
    """What a page shows of the request. The reference is a fresh id until decision events
    carry theirs (`event.id`)."""
    return pages.Visit(
        host=seen.host,
        url=seen.url,
        user=request.user,
        accept_language=seen.headers.get("accept-language", ""),
        reference=seen.reference or new_event_id(),
    )


def _answer(decision: Decision, page: pages.Page) -> Outcome:
    return Outcome(Step.ANSWER, decision, page=page, logged=True)


def _page_by_default(request: RequestInfo, decision: Decision) -> bool:
    """A client stating no preference gets a page from an app's host, JSON from an API's."""
    if request.method not in ("GET", "HEAD"):
        return False
    if decision.vendor is None or decision.product is None:
        return True
    return decision.vendor.kind_of(decision.product) is not Kind.API_PLATFORM


def _origin_error(origin: str | None, scheme: str, host: str) -> str | None:
    if not origin:
        return "the form came without an Origin header"
    if origin.lower().rstrip("/") != f"{scheme}://{host}".lower():
        return "the form was posted from another site"
    return None
