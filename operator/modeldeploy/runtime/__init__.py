"""Generic controller machinery that knows no ModelDeployment: list-watch, a keyed work queue
with `add_after`, Lease-based leader election, RFC 7386 merge patches and JSON logs. Imports
nothing else of modeldeploy (checked by `make lint`)."""
