"""The `aiwall` command: the proxy, and the tools around it for IT engineers and analysts."""

import argparse
import importlib.resources
import ipaddress
import itertools
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiwall.analysis.resolve import resolve_lines
from aiwall.cli.discover import add_arguments as add_discover_arguments
from aiwall.cli.discover import run as run_discover
from aiwall.cli.feed import add_commands as add_feed_commands
from aiwall.cli.pac import pac_for, proxy_argument, routed_hosts
from aiwall.cli.report import add_arguments as add_report_arguments
from aiwall.cli.report import run as run_report
from aiwall.cli.squid import squid_acl
from aiwall.cli.vendors import add_arguments as add_vendors_arguments
from aiwall.cli.vendors import run as run_vendors
from aiwall.core.card import card_for, render_text
from aiwall.core.config import Config, load_config, load_rules_file
from aiwall.core.decision import Decision, RequestInfo
from aiwall.core.diff import diff_registries, diff_rules
from aiwall.core.policy import VendorRecord
from aiwall.core.policytests import run_policy_tests
from aiwall.core.reach.analyser import analyse
from aiwall.core.registry import UNCOVERED, default_policies_dir, load_registry, uncovered
from aiwall.core.rules import RulesFile
from aiwall.core.urls import url_names
from aiwall.core.yamlsource import ConfigError

LOCAL_RULES = Path("rules.yaml")


def shipped_example() -> Path:
    return Path(str(importlib.resources.files("aiwall") / "rules.example.yaml"))


def rules_in_use(given: Path | None) -> tuple[Path, str]:
    """The rules file a command uses, and why that one: --rules, else `./rules.yaml` when there
    is one, else the shipped example (which every command then says it uses)."""
    if given is not None:
        return given, "--rules"
    if LOCAL_RULES.exists():
        return LOCAL_RULES, "./rules.yaml in the current folder"
    return shipped_example(), (
        "THE SHIPPED EXAMPLE: no --rules given and no ./rules.yaml here;"
        " copy it to rules.yaml and adapt it"
    )


def announce(args: argparse.Namespace, rules: bool = True) -> Path:
    """Say on stderr which rules file and vendor records a command uses; return the rules."""
    path, why = rules_in_use(getattr(args, "rules", None))
    records = args.policies or f"{default_policies_dir()} (the shipped ones)"
    used = f"rules {path} ({why}); " if rules else ""
    print(f"aiwall: {used}vendor records {records}", file=sys.stderr)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.command(args)
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aiwall", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, handler: Any, help: str, config: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(command=handler)
        if config:
            sub.add_argument(
                "--rules",
                type=Path,
                default=None,
                help="rules file (default: ./rules.yaml, else the example)",
            )
            sub.add_argument(
                "--policies",
                type=Path,
                default=None,
                help="vendor records folder (default: the shipped ones)",
            )
        return sub

    check = command("check", _check, "validate the rules and vendor records; exit 0 when valid")
    check.add_argument(
        "--strict",
        action="store_true",
        help="a stated fact, host list or jurisdiction that no source covers is an error",
    )
    explain = command("explain", _explain, "show how a request to URL would be decided, and why")
    explain.add_argument("url")
    explain.add_argument("--user", help="proxy-auth user name")
    explain.add_argument("--ip", type=ipaddress.ip_address, help="client IP address")
    explain.add_argument("--method", default="GET")
    vendors = command("vendors", _vendors, "list every vendor product with its key facts")
    add_vendors_arguments(vendors)
    show = command("show", _show, "print one vendor's card")
    show.add_argument("vendor")
    resolve = command("resolve", _resolve, "which AI vendor each host or URL (one per line) is")
    resolve.add_argument("files", nargs="*", type=Path, help="files to read (default: stdin)")
    resolve.add_argument("--json", action="store_true", help="one JSON object per line")
    resolve.add_argument("--stats", action="store_true", help="print names per second to stderr")
    discover = command(
        "discover", _discover, "which AI vendors and products proxy or DNS logs show in use"
    )
    add_discover_arguments(discover)
    diff = command(
        "diff",
        _diff,
        "field-level changes between two policy folders, or rule-level between two rules files",
        config=False,
    )
    diff.add_argument("old", type=Path, help="a policies folder or a rules file")
    diff.add_argument("new", type=Path, help="of the same kind as OLD")
    report = command(
        "report",
        run_report,
        "decisions, acknowledgements and shadow rules from event logs",
        config=False,
    )
    add_report_arguments(report)
    pac = command("pac", _pac, "a PAC file: AI hosts via the proxy, others DIRECT", config=False)
    pac.add_argument(
        "--proxy", required=True, type=proxy_argument, metavar="HOST:PORT", help="aiwall's address"
    )
    pac.add_argument("--policies", type=Path, help="vendor records folder (default: shipped)")
    pac.add_argument("--rules", type=Path, help="also route the hosts its rules name")
    squid = command(
        "squid-acl",
        _squid_acl,
        "the AI hosts as a Squid dstdomain list, for a Squid that sends them to aiwall",
        config=False,
    )
    squid.add_argument("--policies", type=Path, help="vendor records folder (default: shipped)")
    squid.add_argument("--rules", type=Path, help="also list the hosts its rules name")
    run = command("run", _run, "run the proxy (mitmproxy with aiwall loaded)")
    run.add_argument("--listen", default="127.0.0.1:8080", type=parse_listen, metavar="HOST:PORT")
    run.add_argument("--log", default="-", help="event log: - for stdout, or a file")
    run.add_argument("--log-max-bytes", type=int, default=0, help="rotate the log at this size")
    run.add_argument("--log-backups", type=int, default=5, help="rotated log files to keep")
    run.add_argument(
        "--intercept", choices=["ai-only", "all"], default="", help="override settings.intercept"
    )
    run.add_argument("--confdir", default="~/.mitmproxy", help="where mitmproxy keeps its CA")
    run.add_argument("--ack-store", default="memory", help="memory, or redis://HOST:PORT/DB")
    run.add_argument("--secret", default="", help="file with the acknowledgement signing key")
    run.add_argument("--metrics", default="", metavar="HOST:PORT", help="metrics and health")
    run.add_argument(
        "--state-dir",
        default="",
        metavar="DIR",
        help="keep the last good configuration here, to serve it when a restart finds broken"
        " files (empty: not kept, and a start with broken files fails)",
    )
    run.add_argument(
        "--set",
        dest="mitmproxy_options",
        action="append",
        default=[],
        metavar="OPTION=VALUE",
        help="any mitmproxy option, as with mitmdump --set (block_global=false, ...)",
    )
    add_feed_commands(commands)
    schema = command("schema", _schema, "print the JSON Schema of a file format", config=False)
    schema.add_argument("kind", choices=["policy", "rules", "events"])
    shown = schema.add_mutually_exclusive_group()
    shown.add_argument("--markdown", action="store_true", help="events: the field reference")
    shown.add_argument("--index-template", action="store_true", help="events: for Elasticsearch")
    return parser


def _load(args: argparse.Namespace) -> Config:
    """The configuration a tool looks at; its policy tests are `aiwall check`'s to report."""
    return load_config(announce(args), args.policies, tests=False)


def _check(args: argparse.Namespace) -> int:
    """Validate; run the policy tests; show what each rule can decide. Exit 1 on any error."""
    config = _load(args)
    strict = uncovered(config.registry, "error") if args.strict else []
    for warning in config.warnings:
        if not (strict and warning.message.startswith(UNCOVERED)):  # said below, as errors
            print(warning, file=sys.stderr)
    analysis = analyse(config)
    for line in analysis.lines():
        print(line)
    tests = run_policy_tests(config.engine, config.rules_document)
    findings = sorted(
        [*analysis.problems, *tests.failures, *strict], key=lambda p: (p.file, p.line)
    )
    for problem in findings:
        print(problem, file=sys.stderr)
    failed = len(tests.outcomes) - tests.passed
    print(f"tests: {tests.passed} passed, {failed} failed" if tests.outcomes else "tests: none")
    errors = [p for p in findings if p.severity == "error"]
    products = sum(len(v.products) for v in config.registry.vendors.values())
    verdict = f"FAILED ({len(errors)} problems)" if errors else "OK"
    print(
        f"{verdict}: {config.rules_path}: {len(config.rules.rules)} rules;"
        f" {len(config.registry.vendors)} vendors, {products} products,"
        f" {len(config.registry.index)} host entries"
    )
    return 1 if errors else 0


def _explain(args: argparse.Namespace) -> int:
    config = _load(args)
    names, path = url_names(args.url)
    request = RequestInfo(
        names=names, method=args.method.upper(), path=path, user=args.user, client_ip=args.ip
    )
    decision = config.engine.decide(request, explain=True)
    print(_explanation(args.url, request, decision))
    return 0


def _explanation(url: str, request: RequestInfo, decision: Decision) -> str:
    lines = [f"Request:  {request.method} {url}"]
    identity = ", ".join(
        f"{k} {v}" for k, v in (("user", request.user), ("ip", request.client_ip)) if v
    )
    lines.append(f"Client:   {identity or 'anonymous'}")
    for name in decision.names:
        if name.invalid:
            target = f"invalid: {name.invalid}"
        elif name.vendor:
            target = f"{name.vendor}/{name.product}"
        else:
            target = "named by a rule's host" if name.ai else "not an AI service"
        lines.append(f"Name:     {name.seen_in} {name.raw!r} → {name.host or '-'} → {target}")
    if decision.vendor and decision.product:
        vendor, product = decision.vendor, decision.product
        lines.append(f"Vendor:   {vendor.name} ({vendor.id})")
        lines.append(f"Product:  {product.name} ({vendor.id}/{product.id}): {product.verdict}")
        stale = "stale" if decision.stale else "current"
        lines.append(
            f"Record:   last verified {vendor.last_verified}, confidence"
            f" {vendor.confidence_of(product)}, {stale}"
        )
        if decision.residency and decision.residency != product.residency:
            pinned = ", ".join(decision.residency)
            lines.append(f"Host:     {decision.host} keeps data in {pinned} (a regional endpoint)")
        card = card_for(vendor, product)
        lines.extend(f"Review:   {notice}" for notice in card.reviews())
        lines.append("Facts:")
        lines.extend(f"  {label}: {value}" for label, value in card.facts())
    if decision.trace:
        lines.append("Rules tried, in order:")
        for number, trial in enumerate(decision.trace, 1):
            rule = trial.rule
            outcome = (
                f"matched → {rule.action}" if trial.matched else f"no match on {trial.failed_on}"
            )
            if trial.failed_on == "product" and decision.tenant_headers and decision.product_ref:
                # The usual surprise: the tenant binding made this host the enterprise product.
                outcome += f" (this host is {decision.product_ref} under the tenant header)"
            if trial.matched and rule.mode == "shadow":
                outcome += " (shadow: recorded, not enforced)"
            lines.append(f"  {number}. {rule.id}: {outcome}")
    lines.append(f"Decision: {decision.action.upper()} ({decision.reason})")
    if decision.facts:
        used = ", ".join(f"{k}={v}" for k, v in decision.facts.items())
        lines.append(f"Used:     {used}")
    for shadow in decision.shadow:
        lines.append(f"Shadow:   rule {shadow.rule.id} would have {shadow.action}ed this request")
    for header in decision.tenant_headers:
        lines.append(f"Header:   {header.name}: {header.value}")
    return "\n".join(lines)


def _vendors(args: argparse.Namespace) -> int:
    announce(args, rules=False)  # the facts alone: no rules apply to this list
    return run_vendors(args)


def _resolve(args: argparse.Namespace) -> int:
    registry = load_registry(args.policies)
    try:
        sources = [path.open(encoding="utf-8", errors="surrogateescape") for path in args.files]
    except OSError as error:
        print(f"aiwall resolve: cannot read {error.filename}: {error.strerror}", file=sys.stderr)
        return 2
    lines = itertools.chain.from_iterable(sources) if sources else sys.stdin
    start, count = time.perf_counter(), 0
    out = sys.stdout
    for answer in resolve_lines(lines, registry, args.json):
        out.write(answer)
        out.write("\n")
        count += 1
    elapsed = time.perf_counter() - start
    if args.stats:
        rate = count / elapsed if elapsed else 0.0
        print(f"resolved {count:,} names in {elapsed:.2f} s: {rate:,.0f} names/s", file=sys.stderr)
    return 0


def _discover(args: argparse.Namespace) -> int:
    return run_discover(args, _load(args))


def _diff(args: argparse.Namespace) -> int:
    if args.old.is_dir() != args.new.is_dir():
        print("aiwall: compare two policy folders or two rules files", file=sys.stderr)
        return 2
    if args.old.is_dir():
        changes = diff_registries(load_registry(args.old), load_registry(args.new))
    else:
        rule_changes = diff_rules(load_rules_file(args.old), load_rules_file(args.new))
        changes = [str(change) for change in rule_changes]
    for change in changes:
        print(change)
    return 1 if changes else 0


def _pac(args: argparse.Namespace) -> int:
    print(pac_for(args.proxy, args.policies, args.rules), end="")
    return 0


def _squid_acl(args: argparse.Namespace) -> int:
    routed = routed_hosts(args.policies, args.rules)
    print(squid_acl(routed.hosts, routed.source, routed.patterns), end="")
    return 0


def _show(args: argparse.Namespace) -> int:
    registry = load_registry(args.policies)
    vendor = registry.vendors.get(args.vendor.lower())
    if vendor is None:
        print(
            f"aiwall: no vendor {args.vendor!r}; known: {', '.join(sorted(registry.vendors))}",
            file=sys.stderr,
        )
        return 2
    print(render_text(card_for(vendor)), end="")
    return 0


def parse_listen(text: str) -> tuple[str, int]:
    """`127.0.0.1:8080`, `[::1]:8080` or `:8080` (all addresses)."""
    host, _, port = text.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def _run(args: argparse.Namespace) -> int:
    from aiwall.proxy.run import serve  # mitmproxy loads only for the proxy itself

    rules = announce(args)
    options: dict[str, str | int] = {
        "aiwall_log_max_bytes": args.log_max_bytes,
        "aiwall_log_backups": args.log_backups,
        "aiwall_ack_store": args.ack_store,
        "aiwall_secret": args.secret,
        "aiwall_metrics": args.metrics,
        "aiwall_state_dir": args.state_dir,
    }
    return serve(
        args.listen,
        rules,
        args.policies,
        args.log,
        args.intercept,
        args.confdir,
        options,
        args.mitmproxy_options,
    )


def _schema(args: argparse.Namespace) -> int:
    if args.kind == "events":
        from aiwall.telemetry import docs as eventdocs

        if args.markdown:
            print(eventdocs.markdown(), end="")
        elif args.index_template:
            print(eventdocs.index_template_json(), end="")
        else:
            print(eventdocs.event_schema_text(), end="")
        return 0
    if args.markdown or args.index_template:
        print("aiwall: --markdown and --index-template are for `schema events`", file=sys.stderr)
        return 2
    model = VendorRecord if args.kind == "policy" else RulesFile
    print(json.dumps(model.model_json_schema(), indent=2, ensure_ascii=False))
    return 0
