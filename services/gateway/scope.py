"""Keys the gateway's HTTP server puts in a request's ASGI scope for its routes
(`veil.gateway.server` sets them; routes read them, without importing the server)."""

# The route answers a late body itself (the chat routes' `read_body`).
READS_OWN_BODY = "veil.reads_own_body"
# The body deadline passed (its value, seconds).
BODY_LATE = "veil.body_late"
# A future done when the client's connection closes, so a route can wait for its answer
# or the client's leaving without a task of its own polling receive().
CONNECTION_CLOSED = "veil.connection_closed"
