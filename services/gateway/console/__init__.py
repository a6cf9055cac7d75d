"""The web console: privacy settings, providers, keys, activity, rankings and a routing
playground, served by the gateway under /console.

Pages are rendered on the server from veil's own HTTP API, called in process with the
signed-in key (`api.py`); nothing here reads the KV stores or ClickHouse itself, so a
page can show no more than the key could fetch with curl.
"""
