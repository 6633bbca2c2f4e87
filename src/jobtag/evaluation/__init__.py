"""Evaluation: multi-label metrics and reports."""
