"""One interface for every foundation model, and an adapter per way of reaching one.

- ``base``: the chat and embedding interface, the failure vocabulary every SDK's errors become, and the
  reading of a streamed answer the SDK-backed adapters share
- ``openai``: OpenAI and OpenAI-compatible servers; ``anthropic``: Claude; ``local``: the built-in models
"""
