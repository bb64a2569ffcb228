"""The decision core: host names, vendor records, rules, the registry and the engine.

Pure Python: takes a request description and returns a decision. Imports nothing else of
aiwall and never mitmproxy (enforced by the import contracts in pyproject.toml).
"""
