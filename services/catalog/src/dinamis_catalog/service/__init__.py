"""Use cases: indexing."""
