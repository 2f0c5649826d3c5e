"""One module per document format; ``knowledge.ingestion.parse`` chooses between them."""
