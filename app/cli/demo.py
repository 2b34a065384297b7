"""``kbx demo``: a synthetic store and the story ``make run`` tells."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import Context, ctx_of
from app.cli.kbi import import_extract_file

__all__ = ["demo_app"]

demo_app = typer.Typer(no_args_is_help=True, help="Demogegevens")


def _store_size(c: Context) -> int:
    from sqlalchemy import func, select

    from app.store.db import transaction
    from exchange.models import Integree

    with transaction(c.engine) as session:
        return session.scalar(select(func.count()).select_from(Integree)) or 0


@demo_app.command("seed")
def demo_seed(
    ctx: typer.Context,
    persons: Annotated[int, typer.Option(min=1, help="Number of synthetic integrees")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same store)")] = 1,
    out: Annotated[Path | None, typer.Option(help="Where to write the extract")] = None,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing when the store has data")
    ] = False,
) -> None:
    """Write a realistic synthetic KBI extract and import it through the normal import path."""
    from app.demo.synthetic import generate_rows
    from app.store.refdata import municipalities
    from exchange.kbi_extract import COLUMNS

    c = ctx_of(ctx)
    if if_empty and _store_size(c) > 0:
        typer.echo("store not empty: demo seed skipped")
        return
    path = out or c.settings.data_dir / "demo" / f"kbi-extract-seed{seed}-{persons}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    # Synthetic, but shaped as personal data: readable by its owner only, as a real extract.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with open(fd, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[col.name for col in COLUMNS])
        writer.writeheader()
        writer.writerows(
            generate_rows(persons, seed, municipalities().current, c.settings.current_date())
        )
    typer.echo(f"wrote synthetic extract {path}")
    import_extract_file(c, path)


@demo_app.command("story")
def demo_story(ctx: typer.Context) -> None:
    """Demo: staff, Lommel's key pair and contact, this year's list on the drop; prints how to
    fetch it with OpenSSH's sftp."""
    from app.demo.story import STAFF, prepare_story

    c = ctx_of(ctx)
    story = prepare_story(c)
    port, host = c.settings.sftp_port, c.settings.sftp_host
    lines = [
        "",
        f"Demo klaar: export {story.run_id} voor Lommel (72020), status {story.state}.",
        f"  Medewerkers ({', '.join(name for name, _ in STAFF)}): wachtwoorden in "
        f"{story.credentials}",
        f"  Console: http://{c.settings.http_host}:{c.settings.http_port}/ (meld u aan met een van "
        "hen)",
    ]
    if story.file_name and story.state in ("delivered", "key_sent"):
        lines += [
            "  Volgende stap, zodra 'kbx serve' draait: haal het bestand op met OpenSSH.",
            f"    sftp -i {story.private_key} -P {port} "
            f"-o UserKnownHostsFile={story.known_hosts} 72020@{host}",
            f"    sftp> get /outbox/{story.file_name}",
            "  Het wachtwoord staat in de SMS (dev: JSON-regels in "
            f"{story.sms_outbox}); open het bestand ermee in Excel of LibreOffice.",
        ]
    else:
        lines.append("  Het bestand van dit jaar is al opgehaald of verwijderd van de drop.")
    lines.append(f"  API: http://{c.settings.http_host}:{c.settings.http_port}/docs")
    typer.echo("\n".join(lines))
