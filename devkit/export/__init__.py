"""The same Flow past one machine: docker-compose and Kubernetes files from its resolved topology."""
