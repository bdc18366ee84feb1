"""Call-to-deal rules: the pure model and its evaluation."""
