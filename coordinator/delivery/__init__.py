"""Delivery, below the slices: the outbox table, queueing once, the sender's store, rendering.

Campaigns and organizations call it; it imports neither. What an outcome changes in their rows
(a task delivered, a chat unreachable or moved) is theirs, handed in as a `store.Settle`.
"""
