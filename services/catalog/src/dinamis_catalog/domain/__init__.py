"""Pure rules of the catalog: collection definitions."""
