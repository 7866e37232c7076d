"""An agent service that behaves like a real one under load, and the simulated model it calls.

``python -m examples.agent_service`` starts both (see examples/README.md for the knobs);
:func:`examples.agent_service.app.create_app` and :func:`examples.agent_service.model_server.create_app`
build them for tests.
"""
