"""cti/calls."""
