"""`aiwall sources check` and `aiwall registry keygen|pack|install|rollback|update`.

The feed's modules (an HTML extractor, an HTTP client, cryptography) load only when one of
these commands runs, not for `aiwall run` or `check`.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiwall.core.registry import REVIEW_FILE, load_registry, record_folders
from aiwall.core.yamlsource import ConfigError

if TYPE_CHECKING:
    from aiwall.feed.install import Installation
    from aiwall.feed.notify import MailSettings

Commands = Any  # argparse's private _SubParsersAction


def add_commands(commands: Commands) -> None:
    sources = commands.add_parser(
        "sources", help="watch the pages vendor records cite", description=__doc__
    )
    check = sources.add_subparsers(required=True, metavar="COMMAND").add_parser(
        "check",
        help="report cited pages whose text changed; exit 0 none, 1 some, 2 could not run",
        description="Fetch every page the vendor records cite, compare its main text with the"
        " last run's, and report changes (the facts they back go under review). Exit 0:"
        " nothing changed; 1: something changed; 2: the check could not run.",
    )
    check.set_defaults(command=_sources_check)
    check.add_argument(
        "--policies", type=Path, help="records or registry folder (default: shipped)"
    )
    check.add_argument(
        "--state-dir", type=Path, help="snapshots and review marks (default: the --policies folder)"
    )
    check.add_argument("--format", choices=["text", "json"], default="text")
    check.add_argument("--concurrency", type=int, default=8, help="pages fetched at once")
    check.add_argument("--timeout", type=float, default=20.0, help="seconds per page")
    check.add_argument("--log", help="append a source.changed event per change: a file, or -")
    mail = check.add_argument_group("e-mail, one message per changed page")
    mail.add_argument("--smtp", metavar="HOST:PORT", help="SMTP server")
    mail.add_argument("--mail-from", default="aiwall@localhost", metavar="ADDRESS")
    mail.add_argument("--mail-to", action="append", default=[], metavar="ADDRESS")
    mail.add_argument("--smtp-starttls", action="store_true")
    mail.add_argument("--smtp-user")
    mail.add_argument("--smtp-password-file", type=Path)

    registry = commands.add_parser(
        "registry", help="signed record bundles: make, install, roll back, update"
    )
    actions = registry.add_subparsers(required=True, metavar="COMMAND")
    new_key = actions.add_parser("keygen", help="a new Ed25519 signing key: KEY and KEY.pub")
    new_key.set_defaults(command=_keygen)
    new_key.add_argument("--out", type=Path, required=True, metavar="KEY")
    packing = actions.add_parser("pack", help="sign a folder of records into a bundle")
    packing.set_defaults(command=_pack)
    packing.add_argument("directory", type=Path)
    packing.add_argument("--key", type=Path, required=True, help="private key (keygen's KEY)")
    packing.add_argument("--out", type=Path, required=True, metavar="FILE")
    packing.add_argument(
        "--version", type=int, help="a number above every earlier one (default: UTC time)"
    )
    installing = actions.add_parser("install", help="verify and install a bundle")
    installing.set_defaults(command=_install)
    installing.add_argument("bundle", type=Path)
    going_back = actions.add_parser("rollback", help="return to the previously installed bundle")
    going_back.set_defaults(command=_rollback)
    updating = actions.add_parser("update", help="fetch a bundle from a URL and install it")
    updating.set_defaults(command=_update)
    updating.add_argument("--from", dest="url", required=True, metavar="URL")
    for sub in (installing, updating):
        sub.add_argument("--key", type=Path, required=True, help="public key (keygen's KEY.pub)")
        sub.add_argument("--rules", type=Path, help="also check the records against these rules")
    for sub in (installing, going_back, updating):
        sub.add_argument("--into", type=Path, required=True, help="registry folder")


def _sources_check(args: argparse.Namespace) -> int:
    from aiwall.feed.notify import log_changes, mail_changes
    from aiwall.feed.review import record_changes
    from aiwall.feed.snapshots import SnapshotStore
    from aiwall.feed.sources import check_sources, render_json, render_text
    from aiwall.telemetry.events import EventLog

    if args.policies is None and args.state_dir is None:
        return _cannot("the shipped records are read-only: give --state-dir or --policies")
    state_dir: Path = args.state_dir or args.policies
    mail = _mail_settings(args)
    try:
        registry = load_registry(args.policies)
        store = SnapshotStore(state_dir)
        report = check_sources(registry, store, concurrency=args.concurrency, timeout=args.timeout)
        review_file = record_folders(args.policies).review if args.policies else None
        changed: dict[str, list[Any]] = {}
        for change in report.changed:
            for vendor_id, review in change.reviews(date.today()):
                changed.setdefault(vendor_id, []).append(review)
        record_changes(review_file or state_dir / REVIEW_FILE, registry, changed, date.today())
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 2
    except OSError as error:
        return _cannot(f"{error.filename or state_dir}: {error.strerror or error}")
    print(render_json(report) if args.format == "json" else render_text(report), end="")
    if args.log:
        log = EventLog(args.log)
        log_changes(log, report.changed)
        log.close()
    if mail is not None and report.changed:
        try:
            mail_changes(mail, report.changed)
        except OSError as error:  # smtplib's errors are OSErrors too
            print(f"aiwall: could not send the e-mail: {error}", file=sys.stderr)
            return 2
    return 1 if report.changed else 0


def _mail_settings(args: argparse.Namespace) -> MailSettings | None:
    from aiwall.feed.notify import MailSettings

    if not args.smtp:
        return None
    host, _, port = args.smtp.rpartition(":")
    if not args.mail_to or not port.isdigit():
        raise SystemExit("aiwall: --smtp needs HOST:PORT and at least one --mail-to")
    password = args.smtp_password_file.read_text().strip() if args.smtp_password_file else None
    return MailSettings(
        host.strip("[]") or "localhost",
        int(port),
        args.mail_from,
        tuple(args.mail_to),
        args.smtp_starttls,
        args.smtp_user,
        password,
    )


def _keygen(args: argparse.Namespace) -> int:
    from aiwall.feed.bundle import BundleError, keygen

    try:
        public = keygen(args.out)
    except (BundleError, OSError) as error:
        return _cannot(str(error))
    print(f"wrote the private key {args.out} (keep it secret) and the public key {public}")
    return 0


def _pack(args: argparse.Namespace) -> int:
    from aiwall.feed.bundle import BundleError, pack, private_key

    try:
        bundle = pack(args.directory, private_key(args.key), args.out, args.version)
    except (BundleError, OSError) as error:
        return _cannot(str(error))
    print(f"wrote {args.out}: version {bundle.version}, {len(bundle.records)} records")
    return 0


def _install(args: argparse.Namespace) -> int:
    from aiwall.feed.bundle import BundleError, public_key
    from aiwall.feed.install import install_bundle

    try:
        key = public_key(args.key)
        data = args.bundle.read_bytes()
    except (BundleError, OSError) as error:
        return _cannot(str(error))

    def run() -> Installation:
        return install_bundle(data, key, args.into, args.rules)

    return _installed(run, args.into, f"installed {args.bundle}")


def _rollback(args: argparse.Namespace) -> int:
    from aiwall.feed.install import rollback

    return _installed(lambda: rollback(args.into), args.into, "rolled back")


def _update(args: argparse.Namespace) -> int:
    from aiwall.feed.bundle import BundleError, public_key
    from aiwall.feed.install import update

    try:
        key = public_key(args.key)
    except BundleError as error:
        return _cannot(str(error))
    try:
        installation = update(args.url, key, args.into, args.rules)
    except OSError as error:
        return _cannot(str(error))
    except (BundleError, ConfigError) as error:
        for problem in error.problems if isinstance(error, ConfigError) else [error]:
            print(f"aiwall: refused {args.url}: {problem}", file=sys.stderr)
        print(f"aiwall: {args.into} is unchanged", file=sys.stderr)
        return 1
    if installation is None:
        print(f"{args.into}: up to date with {args.url}")
        return 0
    return _installed(lambda: installation, args.into, f"installed {args.url}")


def _installed(action: Any, into: Path, done: str) -> int:
    """Run an install or rollback and say what changed; refusals leave `into` as it was."""
    from aiwall.feed.bundle import BundleError

    try:
        installation: Installation = action()
    except (BundleError, ConfigError) as error:
        problems = error.problems if isinstance(error, ConfigError) else [error]
        for problem in problems:
            print(f"aiwall: refused: {problem}", file=sys.stderr)
        print(f"aiwall: {into} is unchanged", file=sys.stderr)
        return 1
    except OSError as error:
        return _cannot(f"{error.filename or into}: {error.strerror or error}")
    for warning in installation.warnings:
        print(warning, file=sys.stderr)
    previous = installation.previous or "the shipped records"
    print(f"{done}: {into} now serves version {installation.version} (before: {previous})")
    for change in installation.changes:
        print(f"  {change}")
    if not installation.changes:
        print("  no record changes")
    return 0


def _cannot(message: str) -> int:
    print(f"aiwall: {message}", file=sys.stderr)
    return 2
