"""Foundation-model catalog, provider credentials and adapters (issue: foundation models)."""
