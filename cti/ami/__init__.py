"""cti/ami."""
