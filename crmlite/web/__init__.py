"""crmlite/web."""
