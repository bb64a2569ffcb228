"""The mitmproxy adapter: hooks, flows to request descriptions, enforcement, reload, `aiwall run`.

The only part of aiwall that imports mitmproxy.
"""
