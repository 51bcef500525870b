"""Calls to upstream providers: URLs, outbound headers, one shared HTTP session."""
