"""Adapters: the object store."""
