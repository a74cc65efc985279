"""Metrics, subject-wise splits and reports."""
