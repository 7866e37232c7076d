"""ASGI: the middleware, HTTP request attributes, and the Server-Timing/traceresponse headers."""
