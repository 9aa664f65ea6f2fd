"""Evaluation metrics of the ML stages."""
