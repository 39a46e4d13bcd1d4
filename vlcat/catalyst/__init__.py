"""catalyst."""
