"""Widgets and windows: they show state and send requests. No torch, no file formats."""
