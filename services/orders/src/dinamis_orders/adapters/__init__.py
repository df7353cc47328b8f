"""Adapters: MongoDB stores."""
