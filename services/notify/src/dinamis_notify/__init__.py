"""DINAMIS notify service."""
