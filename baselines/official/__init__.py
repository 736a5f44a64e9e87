"""Adapters running the compared methods' official code."""
