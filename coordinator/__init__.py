"""Coordinator: campaign coordination for youth-union volunteers."""
