"""The pipeline example and its tests, written with devkit's test kit."""
