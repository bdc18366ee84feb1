"""cti/sim."""
