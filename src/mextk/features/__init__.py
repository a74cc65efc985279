"""Features: pure functions over frame arrays."""
