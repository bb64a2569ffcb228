"""The answers employees see: block, warn and error pages and JSON errors."""
