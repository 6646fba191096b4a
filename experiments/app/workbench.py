"""``vclass app``: serve the workbench, a local web app for trying strategies on a simulated class.

In the page (:mod:`vclass.experiments.app.page`) a designer sets up a class with the fields of ``vclass run``, picks
strategies (built-ins, rule strategies written in the page, Python classes from a folder), watches one teach a lesson
live, and compares them over seeds with the sweep machinery (``vclass sweep``'s numbers, with bootstrap CIs and paired
differences). What it writes goes into ``--out`` (default ``runs/workbench``): ``rules/NAME.toml`` for each rule
strategy written in the page, and ``comparisons/<timestamp>/`` for each comparison (``spec/spec.toml`` with the files it
names, ``spec.zip``, the sweep folder ``sweep/`` with its report, ``results.zip``).

The server listens on 127.0.0.1 (this machine only) unless ``--host`` says otherwise; Ctrl-C stops it, and with it a
comparison that is running. A bad or busy ``--port`` ends the command with status 2 and one line.
"""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
from pathlib import Path

from vclass.config import ConfigError
from vclass.experiments.app.page import Workbench, serve
from vclass.io import check_output_path

DEFAULT_PORT = 8765
LOCAL = "127.0.0.1"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to serve on (default {DEFAULT_PORT})")
    parser.add_argument(
        "--host", default=LOCAL, help=f"address to listen on (default {LOCAL}: this machine only; 0.0.0.0: everyone)"
    )
    parser.add_argument("--out", default="runs/workbench", help="the workbench's folder (default runs/workbench)")
    parser.add_argument(
        "--strategies", default=".", help="folder of designers' Python strategies the page first looks in (default .)"
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="processes a comparison runs its lessons on (default: the cores)"
    )


def check_port(host: str, port: int) -> None:
    """Refuse a port that is out of range or that something already listens on, before the server starts.

    :raises ConfigError: naming ``--port`` (or ``--host`` for an address this machine does not have).
    """
    if not 1 <= port <= 65535:
        raise ConfigError("--port", f"must be an integer >= 1 and <= 65535, got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise ConfigError("--host", f"cannot listen on {host!r}: {err.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: a closed port is free
        try:
            probe.bind(address)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise ConfigError(
                    "--port", f"port {port} on {host} is busy (another program listens there); choose another --port"
                ) from None
            if err.errno == errno.EACCES:
                raise ConfigError("--port", f"port {port} needs privileges here; choose one above 1023") from None
            raise ConfigError("--host", f"cannot listen on {host}:{port}: {err.strerror or err}") from None


def main(args: argparse.Namespace) -> int:
    check_port(args.host, args.port)
    if args.workers is not None and not 1 <= args.workers <= 64:
        raise ConfigError("--workers", f"must be an integer >= 1 and <= 64, got {args.workers}")
    folder = Path(args.out)
    check_output_path(folder)
    strategies = Path(args.strategies)
    if not strategies.is_dir():
        raise ConfigError("--strategies", f"{strategies} is not a folder")
    bench = Workbench(folder.resolve(), strategies.resolve(), args.workers or os.cpu_count() or 2)
    where = "this machine only" if args.host in (LOCAL, "localhost", "::1") else "open to the network"
    print(f"vclass workbench: http://{args.host}:{args.port} ({where}); its files go into {folder}", flush=True)
    print("open that address in a browser; Ctrl-C stops the server", file=sys.stderr, flush=True)
    serve(bench, args.host, args.port)
    return 0
