"""The website widget: its rules (origins, visitor sessions, identity, preview tokens), the loader served
at ``/widget.js``, the public API under ``/public/v1/`` and the dashboard's Install page.

- ``rules``: who may talk to a published bot, from where, as whom
- ``loader``: the loader script with the panel's content-hashed path written in
- ``api``: the public API's async views; ``public_urls``: its routes
- ``views`` / ``forms`` / ``urls``: the Install page (snippet, origins, appearance, identity, test page)
- ``identity_examples/``: the server code a tenant copies for identity verification (tested as it is shown)
"""
