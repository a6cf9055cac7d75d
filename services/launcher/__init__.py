"""The `veil` command: starts, runs and inspects the services (importable as `veil.launcher`).

It lives beside the services, not in libs, because it imports them (the gateway's
settings and admin key, each service's app): libs import no service.
"""
