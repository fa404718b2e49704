"""Shared helpers for the model_fetch test suite."""
