"""Dashboard pages of regression suites: ``suites`` (a bot's suites, a suite with its cases, imports,
exports, adding an answer from a conversation) and ``runs`` (starting runs, progress, reports, drift, the
model-switch gate)."""
