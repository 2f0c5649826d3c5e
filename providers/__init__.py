"""Foundation models: the catalog, provider credentials, the adapters and the one gateway into them.

- ``models``: catalog entries, credentials, the tenant's own models and model settings, usage records
- ``catalog.toml``: the catalog as data, synced after every migration (``apps``, ``services.catalog_sync``)
- ``services`` / ``selectors``: credentials, own models, settings and budget; a model resolved for a tenant,
  the catalog and settings as rows, spending and usage reports
- ``gateway``: the only way to call a model (key, fallback, metering); ``adapters/``: OpenAI and compatible
  servers, Anthropic, the built-in local models
- ``crypto``: provider keys encrypted at rest; ``tokens``: token counts without the network; ``errors``
- ``serializers`` / ``api``: the REST API
- ``forms`` / ``views`` / ``presentation``: the Models and Usage pages
- ``management/commands``: ``sync_model_catalog``, ``reencrypt_provider_keys``
"""
