"""crmlite/services."""
