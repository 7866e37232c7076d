"""What a load-generator plugin needs, without the load tool itself.

Run statistics from Server-Timing, their rendering, and the trace/baggage headers. Importable without Locust
(importing Locust monkey-patches the process with gevent), so it is tested in-process; :mod:`agenttrace.locust`
wires it into Locust's events.
"""
