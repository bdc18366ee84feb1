"""cti/pops."""
