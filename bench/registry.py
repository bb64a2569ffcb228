"""How much the registry knows, and from whom: the figures of the registry research.

    .venv/bin/python bench/registry.py [--base REV]

Prints: vendors with a jurisdiction; vendors with training, residency and jurisdiction all
known (for at least one product); for the big vendors, the share of their stated facts that
cite at least one of the vendor's own pages; and, with `--base`, how many facts `aiwall diff`
finds changed between the records at git revision REV and now.
"""

import argparse
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from aiwall.core.diff import diff_registries
from aiwall.core.policy import Product, Training, VendorRecord
from aiwall.core.registry import known_facts, load_registry

ROOT = Path(__file__).resolve().parent.parent
BIG = (
    "openai", "anthropic", "google", "microsoft", "github_copilot", "meta_ai", "xai", "mistral",
    "perplexity", "deepseek", "alibaba_qwen", "baidu_ernie", "bytedance_doubao", "moonshot_kimi",
    "zhipu_zai",
)  # fmt: skip
# The vendors' own domains beyond their homepage and hosts (docs, policy and trust sites).
OWN_DOMAINS = {
    "google": ["google.com", "google.dev", "googleapis.com", "withgoogle.com", "blog.google"],
    "microsoft": ["microsoft.com", "microsoftonline.com", "azure.com", "bing.com"],
    "github_copilot": ["github.com", "githubcopilot.com", "github.blog"],
    "meta_ai": ["meta.com", "facebook.com", "llama.com", "meta.ai"],
    "xai": ["x.ai", "grok.com", "x.com"],
    "alibaba_qwen": [
        "alibabacloud.com",
        "aliyun.com",
        "alibaba.com",
        "qwen.ai",
        "qwenlm.ai",
        "alicdn.com",  # terms.alicdn.com serves Alibaba's agreements
    ],
    "baidu_ernie": ["baidu.com"],
    "bytedance_doubao": [
        "doubao.com",
        "volcengine.com",
        "bytedance.com",
        "byteplus.com",
        "draftstatic.com",  # ByteDance's static host for Jianying / Jimeng agreements
    ],
    "moonshot_kimi": ["moonshot.cn", "moonshot.ai", "kimi.com", "kimi.ai"],
    "zhipu_zai": ["z.ai", "bigmodel.cn", "zhipuai.cn"],
}


def own_domains(vendor: VendorRecord) -> set[str]:
    names = {urlsplit(vendor.homepage).hostname or ""} | set(vendor.hosts)
    names |= {h if isinstance(h, str) else h.host for p in vendor.products for h in p.hosts}
    domains = {".".join(n.split("/")[0].split(".")[-2:]) for n in names if n}
    return domains | set(OWN_DOMAINS.get(vendor.id, []))


def is_own(url: str, domains: set[str]) -> bool:
    host = urlsplit(url).hostname or ""
    return any(host == d or host.endswith("." + d) for d in domains)


def fully_known(vendor: VendorRecord, product: Product) -> bool:
    jurisdiction = vendor.jurisdiction_of(product)
    return (
        product.training is not Training.UNKNOWN and bool(product.residency) and bool(jurisdiction)
    )


def facts_changed(base: str) -> Counter[str]:
    with tempfile.TemporaryDirectory() as folder:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", base, "policies"],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        old = load_registry(Path(folder) / "policies")
    changes = diff_registries(old, load_registry())
    counted: Counter[str] = Counter()
    for line in changes:
        rest = line.partition(": ")[2]
        counted[rest.partition(":")[0] or "record"] += 1
    return counted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", help="a git revision whose policies/ to diff against")
    args = parser.parse_args()
    registry = load_registry()
    vendors = list(registry.vendors.values())
    with_jurisdiction = [v for v in vendors if v.jurisdiction]
    complete = [v for v in vendors if any(fully_known(v, p) for p in v.products)]
    share = len(with_jurisdiction) / len(vendors)
    print(f"vendors: {len(vendors)}")
    print(f"jurisdiction known: {len(with_jurisdiction)} ({share:.0%})")
    print(f"training + residency + jurisdiction known: {len(complete)}")
    total = own = 0
    for vendor_id in BIG:
        vendor = registry.vendors.get(vendor_id)
        if vendor is None:
            print(f"  {vendor_id}: no record", file=sys.stderr)
            continue
        domains = own_domains(vendor)
        for product in vendor.products:
            jurisdiction = ["jurisdiction"] if vendor.jurisdiction_of(product) else []
            for fact in [*known_facts(product), *jurisdiction]:
                # A product's own jurisdiction is backed by `<product>.jurisdiction` alone.
                names = {f"{product.id}.{fact}"}
                if fact != "jurisdiction" or product.jurisdiction is None:
                    names.add(fact)
                citing = [s for s in vendor.sources if names & set(s.covers)]
                total += 1
                own += any(is_own(s.url, domains) for s in citing)
    print(f"big vendors' facts citing the vendor's own pages: {own}/{total} ({own / total:.0%})")
    if args.base:
        changed = facts_changed(args.base)
        summary = ", ".join(f"{field} {n}" for field, n in changed.most_common())
        print(f"facts changed since {args.base}: {sum(changed.values())} ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
