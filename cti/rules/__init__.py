"""cti/rules."""
