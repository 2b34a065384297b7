"""``kbx serve`` (the HTTP API, the SFTP drop and the worker) and ``kbx sftp serve`` (the drop
alone)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.common import EXIT_INTERNAL, Context, configure_logging, ctx_of, fail

if TYPE_CHECKING:
    from channels.sftp_drop import DropServer

__all__ = ["serve", "sftp_app", "start_drop"]

sftp_app = typer.Typer(no_args_is_help=True, help="De SFTP-drop")


def start_drop(c: Context, host: str, port: int) -> DropServer:
    """Start the SFTP drop on ``host:port``."""
    from app.flows.drop_events import RecordingDropEvents, recipient_keys
    from app.wiring import drop_root, host_key_file
    from channels.sftp_drop import DropServer

    c.deps  # noqa: B018 - fails early, with its message, when the service key is missing
    drop = DropServer(
        drop_root(c.settings),
        host_key_file(c.settings),
        recipient_keys(c.engine),
        RecordingDropEvents(c.engine, c.settings),
        host=host,
        port=port,
    )
    drop.start()
    typer.echo(f"kbx: SFTP drop on {host}:{drop.port}, host key {drop.host_key_fingerprint}")
    return drop


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Default 127.0.0.1 or KBX_HTTP_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="Default 8000 or KBX_HTTP_PORT")] = None,
    sftp_port: Annotated[int | None, typer.Option(help="Default 2222 or KBX_SFTP_PORT")] = None,
) -> None:
    """Run the service: HTTP API, the SFTP drop and the worker."""
    import uvicorn

    from app.api.app import create_app
    from app.flows.worker import run_worker
    from app.wiring import StartupError

    c = ctx_of(ctx)
    configure_logging()
    try:
        api = create_app(c.settings, c.registry, c.engine, c.deps)
    except StartupError as exc:
        fail(str(exc), code=EXIT_INTERNAL)
    drop = start_drop(c, c.settings.sftp_host, sftp_port or c.settings.sftp_port)
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(c.engine, c.deps, stop), daemon=True)
    worker.start()
    bind_host, bind_port = host or c.settings.http_host, port or c.settings.http_port
    typer.echo(
        f"kbx: {len(c.registry)} protocol(s) loaded; serving on http://{bind_host}:{bind_port}"
    )
    try:
        uvicorn.run(api, host=bind_host, port=bind_port, log_level="info", access_log=False)
    finally:
        stop.set()
        drop.stop()


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
