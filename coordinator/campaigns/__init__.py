"""Campaigns, content items, targets, assignments, completion reports, launch and close."""
