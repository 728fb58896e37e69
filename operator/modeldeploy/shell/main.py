"""`modeldeploy-operator`: runs the kopf operator with JSON logs and its metrics endpoint."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import kopf

from modeldeploy.runtime import logs
from modeldeploy.shell import config, kube, metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modeldeploy-operator")
    parser.add_argument(
        "--namespace",
        action="append",
        default=[],
        help="watch only this namespace (repeatable); all namespaces by default",
    )
    parser.add_argument(
        "--metrics-port", type=int, default=int(os.environ.get("MODELDEPLOY_METRICS_PORT", "8383"))
    )
    parser.add_argument("--liveness-port", type=int, default=8384)
    parser.add_argument(
        "--leader-elect",
        action="store_true",
        help="act only while holding the leader Lease; run this way with more than one replica",
    )
    parser.add_argument(
        "--leader-election-namespace",
        help="namespace of the leader Lease (default: the operator's own)",
    )
    parser.add_argument(
        "--webhook-port",
        type=int,
        default=0,
        help="serve the admission webhook over HTTPS on this port (0: none)",
    )
    parser.add_argument(
        "--webhook-cert-dir",
        type=Path,
        help="directory with the webhook's tls.crt and tls.key",
    )
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)

    logs.configure(logging.DEBUG if args.verbose else logging.INFO)
    config.configure(
        config.Settings.from_env(
            namespaces=args.namespace,
            leader_elect=args.leader_elect,
            lease_namespace=args.leader_election_namespace,
            webhook_port=args.webhook_port,
            webhook_cert_dir=args.webhook_cert_dir,
        )
    )
    kube.load_config()
    if args.metrics_port:
        metrics.serve(args.metrics_port)

    from modeldeploy.shell import handlers  # registers the handlers

    if args.webhook_port:
        handlers.serve_admission()

    kopf.run(
        standalone=True,
        # kopf would otherwise derive it from the user name, which a container running as an
        # arbitrary uid without a passwd entry does not have.
        # kopf types this as its own NewType of str, which it does not export.
        identity=config.current().identity,  # type: ignore[arg-type]
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        liveness_endpoint=f"http://0.0.0.0:{args.liveness_port}/healthz"
        if args.liveness_port
        else None,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
