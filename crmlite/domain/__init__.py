"""crmlite/domain."""
