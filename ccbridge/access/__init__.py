"""Who may call: client keys, permissions, rate limits, the auth-failure guard.

Used alike by the /v1 proxy and the /api admin resources.
"""
