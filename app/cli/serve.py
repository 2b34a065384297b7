"""``kbx serve`` (the HTTP API, the SFTP drop and the worker) and ``kbx sftp serve`` (the drop
alone).

``kbx serve --workers N`` (or ``KBX_HTTP_WORKERS``) answers HTTP in N processes that share the
one listening socket: uvicorn's ``Multiprocess`` supervisor spawns them (a fresh interpreter, so
no database connection crosses a fork) and each builds its own application with ``http_app``.
The SFTP drop and the worker stay in the parent process, once. Every rate limit is counted in
the database (``app.store.rate_limits``), so N processes give a client no more tries than one.

Both take their ports before anything starts serving: a port that is taken ends the command with
exit 1 and one line naming the port and the setting that moves it.
"""

from __future__ import annotations

import errno
import gc
import socket
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import EXIT_INTERNAL, Context, configure_logging, ctx_of, fail

if TYPE_CHECKING:
    from fastapi import FastAPI

    from channels.sftp_drop import DropServer

__all__ = ["http_app", "listen", "serve", "sftp_app", "start_drop"]

sftp_app = typer.Typer(no_args_is_help=True, help="De SFTP-drop")


def _cannot_listen(exc: OSError, host: str, port: int, setting: str, option: str) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"poort {port} op {host} is in gebruik; stel {setting} of {option} in"
    return (
        f"kan niet luisteren op {host}:{port}: {exc.strerror or exc}; stel {setting} of {option} in"
    )


def listen(host: str, port: int, setting: str, option: str) -> socket.socket:
    """A TCP socket listening on ``host:port`` (Nagle off on its connections), or exit 1
    with one line saying why not (the port out of range, or taken: ``setting`` and ``option``
    say how to move it)."""
    if not 0 <= port <= 65535:
        message = f"poort {port} is geen TCP-poort (0-65535); stel {setting} of {option} in"
        fail(message, code=EXIT_INTERNAL)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listener = socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        fail(_cannot_listen(exc, host, port, setting, option), code=EXIT_INTERNAL)
    # create_server leaves the protocol 0, and asyncio turns Nagle's algorithm off (TCP_NODELAY)
    # only on connections of a socket that says IPPROTO_TCP: without it every answer written
    # in two parts (head, body) waited for the client's delayed ACK, 40 ms on Linux.
    return socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, listener.detach())


def start_drop(c: Context, host: str, port: int, option: str = "--port") -> DropServer:
    """Start the SFTP drop on ``host:port``; exit 1 with one line when the port is taken
    (``option`` is the command's flag that moves it)."""
    from app.flows.drop_events import RecordingDropEvents, recipient_keys
    from app.wiring import drop_root, host_key_file
    from channels.sftp_drop import DropServer

    # The port first, before the host key is made or anything is logged; the bind of the drop
    # itself is still checked below, for a program that takes the port in between.
    listen(host, port, "KBX_SFTP_PORT", option).close()
    c.deps  # noqa: B018 - fails early, with its message, when the service key is missing
    drop = DropServer(
        drop_root(c.settings),
        host_key_file(c.settings),
        recipient_keys(c.engine),
        RecordingDropEvents(c.engine, c.settings),
        host=host,
        port=port,
    )
    try:
        drop.start()
    except OSError as exc:
        fail(_cannot_listen(exc, host, port, "KBX_SFTP_PORT", option), code=EXIT_INTERNAL)
    typer.echo(f"kbx: SFTP drop on {host}:{drop.port}, host key {drop.host_key_fingerprint}")
    return drop


def http_app() -> FastAPI:
    """The application of one HTTP process of ``kbx serve --workers N`` (uvicorn's factory,
    called in each spawned process): its own settings (from the ``KBX_`` environment the parent
    passed on), protocol registry, engine and deps. Raises ``StartupError`` as ``create_app``
    does; the parent built one application before spawning, so that is not expected."""
    from app.api.app import create_app
    from app.registry import load_registry
    from app.settings import Settings

    configure_logging()
    settings = Settings()
    api = create_app(settings, load_registry(settings.protocols_dir))
    settle_heap()
    return api


def settle_heap() -> None:
    """Move everything built so far to the garbage collector's permanent generation
    (``gc.freeze``, Python's advice for servers): the ~150,000 objects of start-up (SQLAlchemy's
    mappers, FastAPI's routes, pydantic's schemas) are then never scanned again. A full
    collection scanned them all: ~56 ms, during which a process answered nothing (the p99 of
    ``bench.console``); after the freeze it scans only what requests left, well under 1 ms."""
    gc.collect()
    gc.freeze()


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Default 127.0.0.1 or KBX_HTTP_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="Default 8000 or KBX_HTTP_PORT")] = None,
    sftp_port: Annotated[int | None, typer.Option(help="Default 2222 or KBX_SFTP_PORT")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=16, help="HTTP processes, 1-16; default 1 or KBX_HTTP_WORKERS"),
    ] = None,
) -> None:
    """Run the service: HTTP API (in one or more processes), the SFTP drop and the worker."""
    c = ctx_of(ctx)
    processes = workers or c.settings.http_workers
    configure_logging()
    bind_host, bind_port = host or c.settings.http_host, port or c.settings.http_port
    # The HTTP port is taken first and handed to uvicorn, which would otherwise find it busy only
    # after the drop and the worker had started. Clients that come early wait in its backlog.
    listener = listen(bind_host, bind_port, "KBX_HTTP_PORT", "--port")
    bind_port = listener.getsockname()[1]
    stop = threading.Event()
    drop: DropServer | None = None
    try:
        import uvicorn

        from app.api.app import create_app
        from app.flows.worker import run_worker
        from app.wiring import StartupError

        sftp = sftp_port or c.settings.sftp_port
        drop = start_drop(c, c.settings.sftp_host, sftp, option="--sftp-port")
        try:
            api = create_app(c.settings, c.registry, c.engine, c.deps)
        except StartupError as exc:
            fail(f"kbx kan niet starten: {exc}", code=EXIT_INTERNAL)
        worker = threading.Thread(target=run_worker, args=(c.engine, c.deps, stop), daemon=True)
        worker.start()
        typer.echo(
            f"kbx: {len(c.registry)} protocol(s) loaded; serving on http://{bind_host}:{bind_port}"
            + (f" in {processes} HTTP processes" if processes > 1 else "")
        )
        # loop and http stay "auto": uvicorn takes uvloop and httptools (locked dependencies),
        # which parse and answer a request in a fraction of asyncio's and h11's time.
        if processes == 1:
            config = uvicorn.Config(
                api, host=bind_host, port=bind_port, log_level="info", access_log=False
            )
            settle_heap()
            uvicorn.Server(config).run(sockets=[listener])
            return
        # The application above only proved that one can be built (a missing pseudonym key
        # ends the command here, in one line); each process builds its own from the import
        # string. Multiprocess stops them all on SIGINT/SIGTERM and replaces one that dies.
        from uvicorn.config import STARTUP_FAILURE
        from uvicorn.supervisors import Multiprocess

        config = uvicorn.Config(
            f"{__name__}:http_app",
            factory=True,
            host=bind_host,
            port=bind_port,
            workers=processes,
            log_level="info",
            access_log=False,
        )
        supervisor = Multiprocess(config, sockets=[listener])
        supervisor.run()
        # A process that could not start stops the supervisor (it would fail again at once).
        if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
            fail("een HTTP-proces kon niet starten; zie de regels hierboven", code=EXIT_INTERNAL)
    finally:
        stop.set()
        if drop is not None:
            drop.stop()
        listener.close()


@sftp_app.command("serve")
def sftp_serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Default 127.0.0.1 or KBX_SFTP_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="Default 2222 or KBX_SFTP_PORT")] = None,
) -> None:
    """Run only the SFTP drop (recipients log in with their own key)."""
    c = ctx_of(ctx)
    configure_logging()
    drop = start_drop(c, host or c.settings.sftp_host, port or c.settings.sftp_port)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        drop.stop()
