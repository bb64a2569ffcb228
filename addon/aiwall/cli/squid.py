"""`aiwall squid-acl`: the AI hosts as a Squid `dstdomain` list, for running behind Squid.

Squid sends only these to aiwall (`cache_peer ... parent`, `cache_peer_access aiwall allow
ai_hosts`, `never_direct allow ai_hosts`) and everything else on as before. Each name is
written `.example.com`, which Squid matches for the name and all its subdomains, the same
label-boundary match as aiwall's. A name under another listed one is left out: Squid
warns about such overlaps (and newer versions refuse them). Squid's dstdomain cannot match IP
literals by address, so listed addresses are named in a comment for a `dst` ACL instead.
"""

import ipaddress
from collections.abc import Iterable
from datetime import UTC

from aiwall import __version__
from aiwall.cli.pac import build_time
from aiwall.core.hostindex import HostEntry


def squid_acl(
    hosts: Iterable[str], source: str = "", patterns: dict[str, list[str]] | None = None
) -> str:
    names: set[str] = set()
    addresses: set[str] = set()
    for host in hosts:
        name = HostEntry.parse(host).host
        try:
            addresses.add(str(ipaddress.ip_address(name)))
        except ValueError:
            names.add(name)
    kept = sorted(n for n in names if not _under_another(n, names))
    when = build_time().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [
        f"# AI-vendor hosts for Squid's dstdomain ACL, by aiwall {__version__} on {when}.",
        f"# From {source or '(unnamed)'}; {len(kept)} domains. Regenerate with `aiwall squid-acl`.",
        '# squid.conf: acl ai_hosts dstdomain "/etc/squid/aiwall-hosts.acl"',
    ]
    if addresses:
        lines.append(f"# IP addresses (for a dst ACL): {' '.join(sorted(addresses))}")
    for parent, labels in sorted((patterns or {}).items()):
        for label in labels:  # one name per region: a dstdom_regex ACL covers them
            regex = f"(^|\\.){label}\\.{parent.replace('.', chr(92) + '.')}$"
            lines.append(f"# regional names (for a dstdom_regex ACL): {regex}")
    lines.extend(f".{name}" for name in kept)
    return "\n".join(lines) + "\n"


def _under_another(name: str, names: set[str]) -> bool:
    labels = name.split(".")
    return any(".".join(labels[i:]) in names for i in range(1, len(labels)))
