"""Measures of units on real (held-out) clips: activation statistics, class selectivity, invariance."""
