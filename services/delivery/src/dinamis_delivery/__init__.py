"""DINAMIS delivery service."""
