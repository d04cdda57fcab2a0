"""Shared pytest configuration; devkit's own fixtures come from its pytest plugin."""
