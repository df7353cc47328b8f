"""DINAMIS ingest service."""
