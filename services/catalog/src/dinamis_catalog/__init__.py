"""DINAMIS catalog service."""
