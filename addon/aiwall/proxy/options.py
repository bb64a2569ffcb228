"""aiwall's mitmproxy options, and the token key one of them names."""

from pathlib import Path

from mitmproxy import exceptions
from mitmproxy.addonmanager import Loader

from aiwall.ack.tokens import TokenSigner
from aiwall.proxy.heads import HEAD_MAX_BYTES, HEAD_TIMEOUT


def add_options(loader: Loader) -> None:
    """aiwall's options, as `--set NAME=VALUE` and `aiwall run --set` take them."""
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
        "aiwall_state_dir",
        str,
        "",
        "Folder where the last good configuration is kept: a start that finds broken files"
        " serves it (empty: not kept, and such a start fails).",
    )
    loader.add_option(
        "aiwall_reload_interval",
        int,
        2,
        "Seconds between checks of the rules and policy files for changes (0: only SIGHUP).",
    )
    loader.add_option(
        "aiwall_refusal_events",
        int,
        20,
        "Identical refusals of one client (same host, rule and answer) logged per 10 s; the"
        " rest are counted in one decisions.suppressed event (0: log every one).",
    )
    loader.add_option(
        "aiwall_stream",
        bool,
        True,
        "Stream the bodies of requests aiwall lets through, and of their responses, instead of"
        " holding them (aiwall never reads them; streamed AI answers arrive as they are"
        " written). Takes the place of stream_large_bodies, which breaks blocking uploads.",
    )
    loader.add_option(
        "aiwall_head_max_bytes",
        int,
        HEAD_MAX_BYTES,
        "The largest HTTP/1 request head (request line and header fields) aiwall reads; a"
        " larger one is answered 431 and its connection closed.",
    )
    loader.add_option(
        "aiwall_head_timeout",
        int,
        int(HEAD_TIMEOUT),
        "Seconds an HTTP/1 request head may take from its first byte to its end; a slower one"
        " is answered 408 and its connection closed (0: no limit).",
    )


def signer_from(secret_file: str) -> TokenSigner:
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
