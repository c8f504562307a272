"""sitegen: partner scorecards for a healthcare alliance."""

__version__ = "0.1.0"
