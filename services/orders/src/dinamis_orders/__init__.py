"""DINAMIS orders service."""
