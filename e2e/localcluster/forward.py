"""A TCP forwarder from a loopback port on the host to an address inside the cluster's network
namespace: how the host reaches the API server and Prometheus without the namespace having any
link to the outside.

    python -m e2e.localcluster.forward --listen 127.0.0.1:PORT --netns /run/netns/NAME \\
        --target 10.0.0.10:9090

The listening socket is opened in the host's namespace first; the process then enters the
cluster's, so every connection it opens to the target starts there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import sys
import time
from pathlib import Path

from e2e.localcluster.netns import enter

_BUFFER = 256 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_BUFFER):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            if writer.can_write_eof():
                writer.write_eof()


async def _serve(listener: socket.socket, host: str, port: int) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            target_r, target_w = await asyncio.open_connection(host, port)
        except OSError as exc:
            # The client sees only a closed connection; the log says why.
            print(f"{time.strftime('%H:%M:%S')} {host}:{port}: {exc}", file=sys.stderr, flush=True)
            client_w.close()
            return
        try:
            await asyncio.gather(_pipe(client_r, target_w), _pipe(target_r, client_w))
        finally:
            for w in (client_w, target_w):
                with contextlib.suppress(ConnectionError, OSError):
                    w.close()

    server = await asyncio.start_server(handle, sock=listener)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def forward_argv(port: int, netns: Path, host: str, target_port: int) -> list[str]:
    """The command that forwards 127.0.0.1:`port` to `host`:`target_port` inside `netns`."""
    return [
        sys.executable,
        "-m",
        "e2e.localcluster.forward",
        f"--listen=127.0.0.1:{port}",
        f"--netns={netns}",
        f"--target={host}:{target_port}",
    ]


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m e2e.localcluster.forward")
    parser.add_argument("--listen", required=True, type=_address)
    parser.add_argument("--netns", required=True, type=Path)
    parser.add_argument("--target", required=True, type=_address)
    args = parser.parse_args()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(args.listen)
    listener.listen(512)
    enter(args.netns)
    asyncio.run(_serve(listener, *args.target))


if __name__ == "__main__":
    main()
