"""Use cases: the ingest pipeline."""
