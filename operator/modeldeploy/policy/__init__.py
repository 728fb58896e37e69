"""Cluster-wide rollout policies: which one applies (select), its defaults under a
ModelDeployment's own spec (merge), and its rules (rules). All pure."""
