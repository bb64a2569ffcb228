"""aiwall: an egress policy for AI vendors, as a mitmproxy addon."""

__version__ = "0.1.0"
