"""Regression suites: questions a bot must keep answering well, run against its live settings and
candidate settings side by side before a switch, and on a schedule to notice a provider's model drifting.

- ``services/``: suites, cases (by hand, from a conversation, imported), starting runs and their records
- ``selectors``: lists, the side-by-side report, the builder's switching gate, drift alerts
- ``runner``: what the Celery task (``tasks``) does: answer each case with each configuration, score,
  store once
- ``scoring``: the deterministic checks and the optional LLM judge
- ``case_files``: the CSV and JSON Lines format of imports and exports
- ``api``, ``serializers``, ``api_urls``: the REST API
- ``views/``, ``forms``, ``presentation``, ``urls``: the dashboard's pages
"""
