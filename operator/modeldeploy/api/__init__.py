"""The objects the operator reads and writes: the ModelDeployment spec and status models (the
CRD is generated from them), the ClusterRolloutPolicy models, names and labels, the command
annotations, conditions, revisions and what is observed of the children. Pure; imported by
every other layer."""
