"""Aggregates for leadership and leads: counts, never names."""
