"""STSA paper components, one per file (stsa.model assembles them)."""
