"""hashtagger: suggest hashtags for photos."""

__version__ = "0.1.0"
