"""Use cases: build a requested product (in a worker process), deliver it, expire it."""
