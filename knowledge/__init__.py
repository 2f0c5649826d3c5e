"""Knowledge bases, the ingestion pipeline and retrieval (issue: knowledge bases)."""
