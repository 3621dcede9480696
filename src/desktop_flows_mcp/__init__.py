"""desktop-flows-mcp."""

__version__ = "0.1.0"
