"""Shared semantics, RULES.md §0.4; implemented once, used by every check.

Each module mirrors one upstream parser or matcher byte for byte, so that a check never
re-parses a duration, quantity, retryOn list, host or path on its own.
"""
