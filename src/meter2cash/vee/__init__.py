"""Validation, estimation and editing of meter data (VEE)."""
