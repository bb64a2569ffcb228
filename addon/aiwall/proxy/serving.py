"""Which configuration serves, and how it changes: the files, a reload, the last good copy.

A good configuration is swapped in with one assignment, between requests. Rejected files leave
the configuration in force serving; at a start, the last good one kept in the state directory
serves instead; without one, aiwall does not start. Each case is said loudly: on stderr, in
the log (`config.loaded`, `config.rejected`), in the metrics and in /readyz.
"""

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

from mitmproxy import exceptions

from aiwall.core.config import Config
from aiwall.core.rules import RulesFile
from aiwall.core.yamlsource import ConfigError
from aiwall.proxy.lastgood import LastGood
from aiwall.proxy.reload import ConfigFiles
from aiwall.telemetry.events import EventLog
from aiwall.telemetry.metrics import Metrics


class Serving:
    def __init__(
        self,
        events: Callable[[], EventLog],
        metrics: Metrics,
        put_in_force: Callable[[Config], None],
    ) -> None:
        self.config: Config | None = None
        self.files: ConfigFiles | None = None
        # What serves while the files on disk are rejected (None: the files are in force).
        self.instead_of_files: str | None = None
        self.start_refused = False  # there was nothing to serve: the start was refused
        self._events = events
        self._metrics = metrics
        self._put_in_force = put_in_force  # what else follows the configuration (the directory)

    def open(self, rules: Path, policies: Path, state_dir: Path | None) -> None:
        """Read the files named by the options and serve them (or what serves instead)."""
        self.files = ConfigFiles(rules, policies, LastGood(state_dir) if state_dir else None)
        kept = self.files.last_good.rules() if self.files.last_good else None
        self.apply(*self.files.read(), rules_before=kept)

    async def reload(self) -> None:
        """Validate off the event loop, then swap between requests."""
        if self.files is not None:
            config, problems = await asyncio.to_thread(self.files.read)
            self.apply(config, problems)

    def changed(self) -> bool:
        return self.files is not None and self.files.changed()

    def apply(
        self, config: Config | None, problems: list[str], rules_before: RulesFile | None = None
    ) -> None:
        """Swap in a good configuration in one assignment; keep the last good one otherwise.

        `rules_before`: at a start, the rules kept from the last run (for the rule changes)."""
        self._metrics.reloaded(config is not None)
        if config is None:
            self._reject(problems)
            return
        previous = self.config
        self._serve(config, None)
        assert self.files is not None
        before = previous.rules if previous is not None else rules_before
        self._events().config_loaded(
            config,
            rules=str(self.files.rules),
            policies=str(self.files.policies),
            previous=previous,
            previous_rules=before,
        )
        if previous is None:
            for warning in config.warnings:  # at a start only: a reload repeats them in its event
                print(warning, file=sys.stderr)

    def _reject(self, problems: list[str]) -> None:
        events = self._events()
        if self.config is not None:
            serving = self.instead_of_files or "the configuration in force before"
            _say(f"rejected the changed configuration; {serving} keeps serving", problems)
            self._in_force(serving)
            events.config_rejected(problems=problems, serving=serving)
            return
        last_good = self.files.last_good if self.files else None
        try:
            kept = last_good.load() if last_good else None
        except ConfigError as error:
            problems = [*problems, *(f"{p} (the kept last good copy)" for p in error.problems)]
            kept = None
        if kept is None:
            reason = "there is no last good configuration to serve"
            if last_good is None:
                reason += " (aiwall_state_dir / aiwall run --state-dir keeps one)"
            _say(f"rejected the configuration, and {reason}: aiwall does not start", problems)
            events.config_rejected(problems=problems, serving="nothing: aiwall does not start")
            self.start_refused = True
            raise exceptions.OptionsError(
                "\n".join([f"the configuration was rejected and {reason}:", *problems])
            )
        config, saved = kept
        serving = (
            f"the last good configuration, accepted {saved.saved} from {saved.source_rules}"
            f" (kept in {saved.rules.parent.parent})"
        )
        _say(
            f"rejected the configuration; serving {serving} instead, until the files are"
            " fixed (aiwall_config_in_sync is 0 meanwhile)",
            problems,
        )
        self._serve(config, serving)
        events.config_rejected(problems=problems, serving=serving)
        events.config_loaded(config, rules=str(saved.rules), policies=str(saved.policies))

    def _serve(self, config: Config, instead: str | None) -> None:
        """Put a configuration in force, in one assignment; `instead`: it is not the files'
        (they were rejected), and what it is."""
        self.config = config
        self._put_in_force(config)
        self._in_force(instead)

    def _in_force(self, instead: str | None) -> None:
        """Note what serves: the files (None), or what serves instead of them, and why."""
        self.instead_of_files = instead
        self._metrics.in_sync(instead is None)

    def ready(self) -> tuple[bool, str]:
        """Ready whenever a configuration serves; the body says when it is not the files'."""
        if self.config is None:
            return False, "not ready: no configuration"
        if self.instead_of_files is not None:
            return True, (
                f"ready, serving {self.instead_of_files}: the rules or vendor record files were"
                " rejected (see config.rejected in the log, or stderr)"
            )
        return True, "ready"


def _say(headline: str, problems: list[str]) -> None:
    """A rejected configuration on stderr, whoever runs aiwall: every problem, one a line."""
    lines = [f"aiwall: ERROR: {headline}:", *(f"  {problem}" for problem in problems)]
    print("\n".join(lines), file=sys.stderr, flush=True)
