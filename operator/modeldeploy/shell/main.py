"""`modeldeploy-operator`: runs the kopf operator with JSON logs and its metrics endpoint."""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import kopf

from modeldeploy.api.spec import parse_duration
from modeldeploy.runtime import logs
from modeldeploy.runtime.leader import LeaseTiming
from modeldeploy.shell import config, kube, metrics

LOG_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_DEFAULT_TIMING = LeaseTiming()
# Leader election's timings: each flag, its default, and what it sets.
_TIMING_FLAGS = (
    (
        "lease-duration",
        _DEFAULT_TIMING.lease_duration_s,
        "how long a standby waits on a Lease its holder stopped renewing before it takes it",
    ),
    (
        "renew-deadline",
        _DEFAULT_TIMING.renew_deadline_s,
        "how long the leader tries to renew its Lease before it stops acting; shorter than the "
        "lease duration",
    ),
    (
        "retry-period",
        _DEFAULT_TIMING.retry_period_s,
        "how often each replica tries to take or renew the Lease; shorter than the renew deadline",
    ),
)


@dataclass(frozen=True)
class Options:
    """What the command line and the environment ask of one run."""

    settings: config.Settings
    log_level: int
    metrics_port: int
    liveness_port: int


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parser() -> argparse.ArgumentParser:
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
    for flag, default, meaning in _TIMING_FLAGS:
        parser.add_argument(
            f"--leader-election-{flag}",
            type=_duration,
            default=default,
            metavar="DURATION",
            help=f"{meaning} (default {default:g}s)",
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
    parser.add_argument(
        "--log-level",
        choices=sorted(LOG_LEVELS, key=LOG_LEVELS.__getitem__),
        default=os.environ.get("MODELDEPLOY_LOG_LEVEL", "info").lower(),
        help="the least severe records logged (default info, or MODELDEPLOY_LOG_LEVEL)",
    )
    return parser


def parse(argv: list[str] | None = None) -> Options:
    command = parser()
    args = command.parse_args(argv)
    if args.log_level not in LOG_LEVELS:  # a default from the environment skips `choices`
        command.error(f"log level {args.log_level!r}: one of {', '.join(LOG_LEVELS)}")
    try:
        timing = LeaseTiming(
            lease_duration_s=args.leader_election_lease_duration,
            renew_deadline_s=args.leader_election_renew_deadline,
            retry_period_s=args.leader_election_retry_period,
        )
    except ValueError as error:
        command.error(str(error))
    settings = config.Settings.from_env(
        namespaces=args.namespace,
        leader_elect=args.leader_elect,
        lease_namespace=args.leader_election_namespace,
        lease_timing=timing,
        webhook_port=args.webhook_port,
        webhook_cert_dir=args.webhook_cert_dir,
    )
    return Options(settings, LOG_LEVELS[args.log_level], args.metrics_port, args.liveness_port)


def main(argv: list[str] | None = None) -> int:
    options = parse(argv)
    logs.configure(options.log_level)
    config.configure(options.settings)
    kube.load_config()
    if options.metrics_port:
        metrics.serve(options.metrics_port)

    from modeldeploy.shell import handlers  # registers the handlers

    if options.settings.webhook_port:
        handlers.serve_admission()

    kopf.run(
        standalone=True,
        # kopf would otherwise derive it from the user name, which a container running as an
        # arbitrary uid without a passwd entry does not have.
        # kopf types this as its own NewType of str, which it does not export.
        identity=options.settings.identity,  # type: ignore[arg-type]
        clusterwide=not options.settings.namespaces,
        namespaces=options.settings.namespaces,
        liveness_endpoint=f"http://0.0.0.0:{options.liveness_port}/healthz"
        if options.liveness_port
        else None,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
