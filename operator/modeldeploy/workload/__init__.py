"""What serves a revision: the Deployments, Services and disruption budgets rendered from a
spec (`render`, builders named `build_*`), and the hash that tells whether a child needs
writing (`applied`). Pure."""
