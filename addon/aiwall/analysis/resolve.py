"""`aiwall resolve`: which AI vendor and product each host name or URL of a log belongs to."""

import json
from collections.abc import Iterable, Iterator

from aiwall.core.hosts import InvalidHost, normalise_host
from aiwall.core.registry import Registry
from aiwall.core.urls import url_names

NOT_AI = "-"
_CACHE_LIMIT = 1_000_000  # logs repeat names; forget them all past this many distinct lines


def resolve_lines(lines: Iterable[str], registry: Registry, as_json: bool) -> Iterator[str]:
    """One output line per input line that names something (blank lines and # comments skipped).

    Text: `name<TAB>vendor/product<TAB>verdict`, or `name<TAB>-` when it is not an AI service,
    or `name<TAB>invalid: reason`. JSON: one object per line with the same and the key facts.
    """
    seen: dict[str, str] = {}
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        answer = seen.get(line)
        if answer is None:
            if len(seen) >= _CACHE_LIMIT:
                seen.clear()
            answer = seen[line] = _resolve(line, registry, as_json)
        yield answer


def _resolve(line: str, registry: Registry, as_json: bool) -> str:
    if "/" in line:
        names, path = url_names(line)
        raw_host = names[0].raw
    else:
        raw_host, path = line, "/"
    try:
        host = normalise_host(raw_host)
    except InvalidHost as error:
        if as_json:
            return json.dumps({"input": line, "host": None, "invalid": error.reason})
        return f"{line}\tinvalid: {error.reason}"
    resolution = registry.resolve(host, path)
    if not as_json:
        if resolution is None:
            return f"{line}\t{NOT_AI}"
        return (
            f"{line}\t{resolution.vendor.id}/{resolution.product.id}\t{resolution.product.verdict}"
        )
    if resolution is None:
        return json.dumps({"input": line, "host": host, "vendor": None})
    vendor, product = resolution.vendor, resolution.product
    return json.dumps(
        {
            "input": line,
            "host": host,
            "vendor": vendor.id,
            "product": f"{vendor.id}/{product.id}",
            "verdict": product.verdict,
            "training": str(product.training),
            "residency": list(product.residency),
            "retention": product.retention,
            "last_verified": str(vendor.last_verified),
            "confidence": str(vendor.confidence_of(product)),
        },
        ensure_ascii=False,
    )
