"""The operator's I/O: the kopf handlers, the controller that wires watches, stores, queue and
workers, the reconcile (read -> decide -> record -> act), the only Kubernetes client (`kube`),
HTTP to pods, the admission webhook, notifications, Events, metrics and settings."""
