"""The eight metrics of the STSA tables."""
