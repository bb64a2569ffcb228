"""What the log records of an outcome: the decision as it was enforced, one event per request,
with identical refusals of one client bounded (telemetry/limits.py)."""

import asyncio

from aiwall.proxy.enforce import Outcome
from aiwall.proxy.flows import Client
from aiwall.telemetry.events import EventLog, RequestContext
from aiwall.telemetry.limits import RefusalLimiter

# (client ip, user, host, rule, status): identical refusals of one client
RefusalKey = tuple[str | None, str | None, str | None, str | None, int | None]


class Recorder:
    def __init__(self, events: EventLog) -> None:
        self.events = events
        self.refusals: RefusalLimiter[RefusalKey] = RefusalLimiter()

    def outcome(
        self,
        outcome: Outcome,
        client: Client,
        method: str,
        scheme: str,
        path: str,
        sni: str | None,
        body: int | None = None,
        event_id: str | None = None,
    ) -> None:
        """One event for an outcome that is logged: what was enforced, as it was enforced;
        allowed use a rule records is counted into its session (`body`: declared length)."""
        if not outcome.logged:
            self.events.allowed(outcome.decision, user=client.user, client_ip=client.ip, body=body)
            return
        decision = outcome.decision
        ip = str(client.ip) if client.ip else None
        if not outcome.forwarded:
            rule = decision.rule.id if decision.rule else None
            if not self.refusals.admit((ip, client.user, decision.host, rule, outcome.status)):
                return
        context = RequestContext(
            client_ip=ip,
            user=client.user,
            method=method,
            scheme=scheme,
            path=path,
            sni=sni,
            status_code=outcome.status,
            acknowledged=outcome.acknowledged,
            forwarded=outcome.forwarded,
            event_id=event_id,
        )
        self.events.decision(decision, context)

    async def summarise(self) -> None:
        while True:
            await asyncio.sleep(self.refusals.interval)
            self.flush()

    def flush(self) -> None:
        """One event for each client whose identical refusals were counted, not written."""
        for (ip, user, host, rule, status), count, seconds in self.refusals.expired():
            self.events.decisions_suppressed(
                client_ip=ip,
                user=user,
                host=host,
                rule_id=rule,
                status_code=status,
                count=count,
                seconds=seconds,
            )

    def close(self) -> None:
        self.refusals.interval = 0.0  # whatever was counted is summarised before the end
        self.flush()
