"""Würstchen Desktop: text-to-image with Würstchen v2 on your own computer."""

__version__ = "0.1.0"
