"""End-to-end tooling: a local Kubernetes cluster made of real components, and scenarios."""
