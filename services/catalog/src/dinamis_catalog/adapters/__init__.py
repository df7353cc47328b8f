"""Adapters: pgSTAC (PostgreSQL) and the orders service's access decisions."""
