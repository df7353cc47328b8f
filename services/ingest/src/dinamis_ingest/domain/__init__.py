"""Pure rules of ingest: DIMAP metadata, collections, archive layout, STAC items (no I/O)."""
