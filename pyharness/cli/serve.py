"""``pyharness serve``: browse the store over HTTP."""

from __future__ import annotations

import errno
import socket
from pathlib import Path
from typing import Annotated

import typer

from pyharness.cli.common import (
    app,
    doing,
    fail,
    print_warning,
    say,
)


@app.command()
def serve(
    store: Annotated[Path, typer.Option(help="The store to show.")] = Path("store"),
    host: Annotated[str, typer.Option(
        help="Address to listen on. Anything but loopback lets others read the store.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8080,
    allow_host: Annotated[list[str] | None, typer.Option(
        help="Also accept requests whose Host header names this (repeatable), e.g. the "
             "machine's name when binding beyond loopback; '*' accepts any.")] = None,
) -> None:
    """Browse the store's runs in a web browser (read-only)."""
    from pyharness.report.serve import is_loopback, make_server

    if not 0 <= port <= 65535:
        raise fail(f"--port must be between 0 and 65535, got {port}")
    if not store.is_dir():
        raise fail(f"--store: no such directory: {store}")
    if not is_loopback(host):
        print_warning(f"--host {host} is not a loopback address: anyone who can reach it can read "
              "the store")
    try:
        server = make_server(store, host, port, allowed_hosts=allow_host or ())
    except socket.gaierror as e:
        raise fail(f"--host {host}: {e.strerror or e}") from None
    except OSError as e:
        blame = f"--port {port}" if e.errno in (errno.EADDRINUSE, errno.EACCES) \
            else f"--host {host}"
        raise fail(f"{blame}: {e.strerror or e}") from None
    h, p = server.server_address[:2]
    shown = f"[{h}]" if ":" in str(h) else h
    say("serving", "green", f"{store.resolve()} at http://{shown}:{p}/ (Ctrl-C to stop)")
    try:
        with doing(f"serving {store}"):
            server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
