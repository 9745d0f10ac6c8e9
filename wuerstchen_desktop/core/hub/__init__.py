"""Checkpoint sources: the catalogue, the Hub cache layout, download plans and transfers. Never torch."""
