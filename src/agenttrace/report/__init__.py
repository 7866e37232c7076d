"""The per-run report and the run-vs-run comparison (needs ``pip install 'agenttrace[report]'``)."""
