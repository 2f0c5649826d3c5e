"""Chat: the engine that answers from a bot's knowledge on its model, conversations and feedback, and
the three ways to talk to a bot from code and the dashboard.

- ``engine``: one chat turn as an async stream of events (``converse``), and ``evaluate`` for regression runs
- ``prompt``: the prompt within the model's context budget; ``limits``: Redis rate limits
- ``services`` / ``selectors``: turns, answers, ratings and corrections; conversations and their exports
- ``streaming``: a turn as server-sent events; ``exports``: conversations as CSV or JSON Lines
- ``api``: ``POST /bots/{id}/chat`` and the conversation REST API; ``openai_compat``: the OpenAI surface
- ``views``: the builder's playground and the Conversations pages
"""
