"""Adapters for the compared methods."""
