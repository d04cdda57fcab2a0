"""Running Executors in Docker containers: the base image, Executor images and the engine."""
