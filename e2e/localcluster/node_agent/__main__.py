"""python -m e2e.localcluster.node_agent: a kubelet that runs containers as local processes."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from types import FrameType

from e2e.localcluster.node_agent.agent import AgentOptions, NodeAgent
from e2e.localcluster.node_agent.backoff import DEFAULT_BASE_S, DEFAULT_CAP_S


def parse_args(argv: list[str] | None = None) -> AgentOptions:
    parser = argparse.ArgumentParser(prog="python -m e2e.localcluster.node_agent")
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--node-name", default="localnode")
    parser.add_argument(
        "--state-dir", type=Path, required=True, help="pid files of the processes it runs"
    )
    parser.add_argument(
        "--pods-dir",
        type=Path,
        help="per pod: working dir, TMPDIR, container logs (default: STATE_DIR/pods)",
    )
    parser.add_argument("--image-map", type=Path, help="YAML image map (default: built-in)")
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter that {python} stands for"
    )
    parser.add_argument(
        "--pod-cidr", help="a /16 inside 127.0.0.0/8 for pod IPs (default: a free one)"
    )
    parser.add_argument(
        "--backoff-base", type=float, default=DEFAULT_BASE_S, help="crash-loop back-off start (s)"
    )
    parser.add_argument(
        "--backoff-cap", type=float, default=DEFAULT_CAP_S, help="crash-loop back-off cap (s)"
    )
    parser.add_argument("--cluster-id", default="", help="marker set in every pod's environment")
    args = parser.parse_args(argv)
    return AgentOptions(
        kubeconfig=args.kubeconfig,
        node_name=args.node_name,
        state_dir=args.state_dir,
        pods_dir=args.pods_dir or args.state_dir / "pods",
        python=args.python,
        image_map=args.image_map,
        pod_cidr=args.pod_cidr,
        backoff_base_s=args.backoff_base,
        backoff_cap_s=args.backoff_cap,
        cluster_id=args.cluster_id,
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s",
    )
    # The kubernetes client logs every retried connection at WARNING.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    agent = NodeAgent(parse_args(argv))

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger(__name__).info("received signal %d", signum)
        agent.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    agent.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
