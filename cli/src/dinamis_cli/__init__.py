"""The `dinamis` command."""
