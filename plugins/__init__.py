"""Integrations of devkit with other tools' plugin systems (pytest, Jupyter)."""
