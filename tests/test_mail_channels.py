"""The mail channels against a real SMTP relay (aiosmtpd): TLS always, certificates verified,
plaintext refused before a byte of data or a credential leaves, the disclaimer in the body, no
personal data in headers or body, the attachment opening with the password from the key SMS;
and the VCMP rule end to end: encrypted e-mail ended on 2025-11-18, Zivver goes on."""

from __future__ import annotations

import email
import io
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import msoffcrypto  # type: ignore[import-untyped]
import openpyxl  # type: ignore[import-untyped]
import pytest
from sqlalchemy import Engine, select, text

from app.settings import Environment, Settings
from app.store.db import transaction
from app.wiring.mail_targets import mail_addresses, mail_deliveries, mail_outbox_path
from channels.mail import SecureMailDelivery, SmtpRelay, SmtpSender, ZivverDelivery
from channels.mail_capture import MailCapture
from exchange.models import ExportRun, RecipientMail
from exchange.ports import ChannelError, Parcel
from tests.conftest import Kbx
from tests.export_helpers import (
    LOMMEL,
    REQUEST,
    agree,
    expected_art20_rows,
    nn,
    password_from,
    personal_data,
    prepare,
    sms_messages,
)
from tests.leak_guard import GUARD
from tests.smtp_peer import Pki, Received, SmtpPeer, make_pki, smtp_peer

MAILBOX = "burgerzaken@lommel.be"
RELAY_USER, RELAY_PASSWORD = "kbx-relay", "relay secret 42"
SENDER = "kbx@integratie-inburgering.be"
DISCLAIMER = "verwijder deze e-mail dan onmiddellijk"
ROUTES: dict[str, type[SecureMailDelivery] | type[ZivverDelivery]] = {
    "secure_mail": SecureMailDelivery,
    "zivver": ZivverDelivery,
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def relay(pki: Pki) -> Iterator[SmtpPeer]:
    with smtp_peer("starttls", pki, username=RELAY_USER, password=RELAY_PASSWORD) as peer:
        yield peer


def parcel(reference: str = "KBX-2026-000042", data: bytes = b"sealed bytes") -> Parcel:
    return Parcel(
        recipient_id=LOMMEL,
        name=f"{reference}.xlsx",
        data=data,
        reference=reference,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        protocol_title_nl="Lijst van inburgeraars (art. 20)",
        disclaimer_nl="Bent u niet de bedoelde ontvanger, verwijder deze e-mail dan onmiddellijk.",
    )


def sender_for(peer: SmtpPeer, pki: Pki, route: str, security: str = "starttls") -> SmtpSender:
    relay = SmtpRelay(
        host=peer.host,
        port=peer.port,
        security=security,
        sender=SENDER,
        username=RELAY_USER,
        password=RELAY_PASSWORD,
        ca_file=pki.ca_file,
    )
    return SmtpSender(relay, route=route)


def delivery(
    route: str, transport: SmtpSender, registered: str | None = None
) -> SecureMailDelivery | ZivverDelivery:
    adapter = ROUTES[route]
    return adapter(transport, sender=SENDER, addresses=lambda _r: (MAILBOX, registered or route))


def parsed(received: Received) -> EmailMessage:
    message = email.message_from_bytes(received.content, policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


def said(message: EmailMessage) -> str:
    """Everything of a mail a person reads without the password: headers and the text."""
    headers = "\n".join(f"{k}: {v}" for k, v in message.items())
    body = message.get_body(("plain",))
    assert body is not None
    return headers + "\n" + str(body.get_content())


def attachment(message: EmailMessage) -> tuple[str | None, str, bytes]:
    [part] = list(message.iter_attachments())
    payload = part.get_content()
    assert isinstance(payload, bytes)
    return part.get_filename(), part.get_content_type(), payload


# -- the sender, route by route ---------------------------------------------------------------


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_each_route_delivers_over_starttls_with_the_disclaimer(
    route: str, relay: SmtpPeer, pki: Pki
) -> None:
    delivery(route, sender_for(relay, pki, route)).deliver(parcel())

    [got] = relay.received
    assert got.tls_version in ("TLSv1.2", "TLSv1.3")
    assert [(login.username, login.over_tls, login.accepted) for login in relay.logins] == [
        (RELAY_USER, True, True)
    ]
    assert got.mail_from == SENDER
    assert got.rcpt_tos == [MAILBOX]  # the registered mailbox only
    message = parsed(got)
    assert message["Subject"] == "AgII - bestand KBX-2026-000042"
    assert message["To"] == MAILBOX
    assert message["From"] == SENDER
    text_part = said(message)
    assert DISCLAIMER in text_part
    assert "Lijst van inburgeraars (art. 20)" in text_part
    assert "per sms" in text_part
    assert attachment(message) == (
        "KBX-2026-000042.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        b"sealed bytes",
    )
    # Zivver's wording explains its own verification code; plain encrypted mail has none.
    assert ("Zivver" in text_part) is (route == "zivver")


def test_implicit_tls_works(pki: Pki) -> None:
    with smtp_peer("tls", pki, username=RELAY_USER, password=RELAY_PASSWORD) as peer:
        delivery("zivver", sender_for(peer, pki, "zivver", security="tls")).deliver(parcel())
    [got] = peer.received
    assert got.tls_version in ("TLSv1.2", "TLSv1.3")
    assert [login.over_tls for login in peer.logins] == [True]


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_plaintext_only_relay_is_refused_before_anything_is_sent(route: str, pki: Pki) -> None:
    with (
        smtp_peer("plain") as peer,
        pytest.raises(ChannelError, match="does not offer STARTTLS") as refused,
    ):
        delivery(route, sender_for(peer, pki, route)).deliver(parcel())
    assert peer.received == []
    assert peer.logins == [], "no credentials over plaintext, although AUTH was offered"
    assert MAILBOX not in str(refused.value)


@pytest.mark.parametrize(
    ("mode", "names"),
    [("starttls", ("127.0.0.1",)), ("tls", ("127.0.0.1",)), ("starttls", ("mail.example.org",))],
    ids=["unknown-ca-starttls", "unknown-ca-tls", "wrong-name"],
)
def test_a_certificate_kbx_does_not_trust_is_refused(
    mode: str, names: tuple[str, ...], pki: Pki, tmp_path: Path
) -> None:
    # "wrong-name": signed by the trusted CA, but for another host.
    server_pki = make_pki(tmp_path / "other", names=names)
    trusted = pki if names == ("127.0.0.1",) else server_pki
    security = "tls" if mode == "tls" else "starttls"
    with smtp_peer("tls" if mode == "tls" else "starttls", server_pki) as peer:
        relay = SmtpRelay(
            peer.host,
            peer.port,
            security,
            SENDER,
            RELAY_USER,
            RELAY_PASSWORD,
            ca_file=trusted.ca_file,
        )
        with pytest.raises(ChannelError, match="certificate not trusted"):
            delivery("zivver", SmtpSender(relay, route="zivver")).deliver(parcel())
    assert peer.received == []
    assert peer.logins == []


def test_plaintext_and_half_configured_relays_are_refused_at_start() -> None:
    for security in ("none", "plain", "", "ssl"):
        with pytest.raises(ChannelError, match="never sends mail in plaintext"):
            SmtpRelay("relay.example.org", 25, security, SENDER)
    with pytest.raises(ChannelError, match="no password"):
        SmtpRelay("relay.example.org", 587, "starttls", SENDER, username="kbx")
    with pytest.raises(ChannelError, match="no host"):
        SmtpRelay("", 587, "starttls", SENDER)
    relay = SmtpRelay("relay.example.org", 587, "starttls", SENDER, "kbx", "s3cret-value")
    assert "s3cret-value" not in repr(relay)
    assert "s3cret-value" not in repr(SmtpSender(relay, route="zivver"))


def test_a_recipient_registered_for_the_other_route_is_refused(relay: SmtpPeer, pki: Pki) -> None:
    with pytest.raises(ChannelError, match="registered for zivver, not for secure_mail"):
        delivery("secure_mail", sender_for(relay, pki, "secure_mail"), "zivver").deliver(parcel())
    with pytest.raises(ChannelError, match="registered for secure_mail, not for zivver"):
        delivery("zivver", sender_for(relay, pki, "zivver"), "secure_mail").deliver(parcel())
    assert relay.received == []


def test_mail_cannot_look_or_withdraw(relay: SmtpPeer, pki: Pki) -> None:
    for route in ROUTES:
        adapter = delivery(route, sender_for(relay, pki, route))
        assert adapter.present(LOMMEL, "KBX-2026-000042.xlsx") is None
        assert adapter.withdraw(LOMMEL, "KBX-2026-000042.xlsx") is False


def test_each_route_goes_to_its_own_relay(pki: Pki, tmp_path: Path) -> None:
    with (
        smtp_peer("starttls", pki, username=RELAY_USER, password=RELAY_PASSWORD) as plain_mail,
        smtp_peer("starttls", pki, username="zivver-user", password="zivver-pass") as zivver,
    ):
        settings = Settings(
            env="dev",
            data_dir=tmp_path,
            secure_mail_host=plain_mail.host,
            secure_mail_port=plain_mail.port,
            secure_mail_username=RELAY_USER,
            secure_mail_password=RELAY_PASSWORD,
            secure_mail_from="kbx-mail@integratie-inburgering.be",
            zivver_host=zivver.host,
            zivver_port=zivver.port,
            zivver_username="zivver-user",
            zivver_password="zivver-pass",
            zivver_from="kbx-zivver@integratie-inburgering.be",
            mail_ca_file=pki.ca_file,
        )
        routes = {"72020": "secure_mail", "44021": "zivver"}
        deliveries = mail_deliveries(settings, lambda r: (f"stad@{r}.example.be", routes[r]))
        deliveries["secure_mail"].deliver(parcel())
        deliveries["zivver"].deliver(
            Parcel(**{**parcel("KBX-2026-000043").__dict__, "recipient_id": "44021"})
        )
    [via_mail] = plain_mail.received
    [via_zivver] = zivver.received
    assert (via_mail.mail_from, via_mail.rcpt_tos) == (
        "kbx-mail@integratie-inburgering.be",
        ["stad@72020.example.be"],
    )
    assert (via_zivver.mail_from, via_zivver.rcpt_tos) == (
        "kbx-zivver@integratie-inburgering.be",
        ["stad@44021.example.be"],
    )
    assert [login.username for login in zivver.logins] == ["zivver-user"]


# -- the dev capture --------------------------------------------------------------------------


def test_without_a_relay_host_dev_captures_to_eml_files(tmp_path: Path) -> None:
    settings = Settings(env="dev", data_dir=tmp_path, secure_mail_host="", zivver_host="")
    deliveries = mail_deliveries(settings, lambda _r: (MAILBOX, "zivver"))
    deliveries["zivver"].deliver(parcel())
    folder = mail_outbox_path(settings)
    [eml] = [p for p in folder.iterdir()]  # no temporary file left behind
    assert eml.suffix == ".eml"
    assert "zivver" in eml.name
    assert stat.S_IMODE(eml.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    message = email.message_from_bytes(eml.read_bytes(), policy=default_policy)
    assert isinstance(message, EmailMessage)
    assert message["X-Kbx-Envelope-To"] == MAILBOX
    assert DISCLAIMER in said(message)
    assert attachment(message)[2] == b"sealed bytes"


def test_the_capture_refuses_to_exist_in_production(tmp_path: Path) -> None:
    with pytest.raises(ChannelError, match="development stand-in"):
        MailCapture(tmp_path, route="zivver", production=True)

    def production(secure_mail_host: str, zivver_host: str) -> Settings:
        return Settings(
            env=Environment.PRODUCTION,
            today=None,
            data_dir=tmp_path,
            secure_mail_host=secure_mail_host,
            zivver_host=zivver_host,
        )

    # In production the capture is never used: a route without a relay is switched off.
    assert mail_deliveries(production("", "")) == {}
    assert set(mail_deliveries(production("", "smtp.zivver.com"))) == {"zivver"}
    both = mail_deliveries(production("relay.example.org", "smtp.zivver.com"))
    for adapter in both.values():
        assert isinstance(adapter, SecureMailDelivery | ZivverDelivery)
        assert isinstance(adapter.transport, SmtpSender)


# -- end to end through the CLI, on both databases --------------------------------------------


def register_mailbox(engine: Engine, route: str, address: str = MAILBOX) -> None:
    with transaction(engine) as session:
        session.merge(
            RecipientMail(
                recipient_id=LOMMEL, address=address, route=route, updated_at=datetime.now(UTC)
            )
        )


def use_relay(monkeypatch: pytest.MonkeyPatch, prefix: str, peer: SmtpPeer, pki: Pki) -> None:
    for name, value in {
        "HOST": peer.host,
        "PORT": str(peer.port),
        "SECURITY": "starttls",
        "USERNAME": RELAY_USER,
        "PASSWORD": RELAY_PASSWORD,
    }.items():
        monkeypatch.setenv(f"KBX_{prefix}_{name}", value)
    monkeypatch.setenv("KBX_MAIL_CA_FILE", str(pki.ca_file))


def request_and_run(kbx: Kbx, protocol: str, channel: str, *extra: str) -> str:
    requested = kbx(
        "export",
        "request",
        protocol,
        "--recipient",
        LOMMEL,
        "--period",
        "2026",
        "--channel",
        channel,
        "--by",
        "olga",
        *extra,
        *(REQUEST if protocol == "art20-municipal" else ()),
    )
    assert requested.exit_code == 0, requested.output
    run_id = requested.stdout.strip()
    assert kbx("export", "approve", run_id, "--by", "arne").exit_code == 0
    ran = kbx("export", "run", run_id)
    assert ran.exit_code == 0, ran.output
    assert "1 key_sent" in ran.stdout
    return run_id


def open_xlsx(data: bytes, password: str) -> list[tuple[object, ...]]:
    decrypted = io.BytesIO()
    office = msoffcrypto.OfficeFile(io.BytesIO(data))
    office.load_key(password=password)
    office.decrypt(decrypted)
    book = openpyxl.load_workbook(decrypted)
    return [tuple(c.value for c in r) for r in book["Gegevens"].iter_rows()]


def check_mail(
    got: Received, reference: str, settings: Settings
) -> tuple[str, list[tuple[object, ...]]]:
    """TLS, the disclaimer, nothing personal in what a person reads; returns the SMS password
    and the rows of the attachment opened with it."""
    assert got.tls_version in ("TLSv1.2", "TLSv1.3")
    assert got.rcpt_tos == [MAILBOX]
    message = parsed(got)
    text_part = said(message)
    GUARD.saw("mail headers and body", text_part)
    assert message["Subject"] == f"AgII - bestand {reference}"
    assert DISCLAIMER in text_part
    for value in [*personal_data(), "+32478123456", "Lommel Burgerzaken"]:
        assert value not in text_part
    [sms] = sms_messages(settings)
    assert sms["reference"] == reference
    password = password_from(sms)
    assert password not in got.content.decode("ascii", "replace")
    name, media_type, data = attachment(message)
    assert name == f"{reference}.xlsx"
    assert media_type == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return password, open_xlsx(data, password)


def audit_actions(engine: Engine, run_id: str) -> list[str]:
    with engine.connect() as connection:
        return list(
            connection.scalars(
                text("SELECT action FROM audit_events WHERE subject = :s ORDER BY seq"),
                {"s": f"run:{run_id}"},
            )
        )


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_lommel_list_by_mail_opens_with_the_sms_password(
    route: str,
    kbx: Kbx,
    engine: Engine,
    settings: Settings,
    pki: Pki,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prepare(kbx, tmp_path)
    register_mailbox(engine, route)
    with (
        smtp_peer("starttls", pki, username=RELAY_USER, password=RELAY_PASSWORD) as mail_relay,
        smtp_peer("starttls", pki, username=RELAY_USER, password=RELAY_PASSWORD) as zivver_relay,
    ):
        use_relay(monkeypatch, "SECURE_MAIL", mail_relay, pki)
        use_relay(monkeypatch, "ZIVVER", zivver_relay, pki)
        run_id = request_and_run(kbx, "art20-municipal", route)
    ours, other = (
        (mail_relay, zivver_relay) if route == "secure_mail" else (zivver_relay, mail_relay)
    )
    assert other.received == []
    assert other.logins == []
    [got] = ours.received
    with engine.connect() as connection:
        run = connection.execute(select(ExportRun).where(ExportRun.id == int(run_id))).one()
    assert run.state == "key_sent"
    _, rows = check_mail(got, run.reference, settings)
    assert rows[0] == (
        "Rijksregisternummer",
        "Inburgeringscontract ondertekend",
        "Inburgeringsattest behaald",
    )
    assert sorted(rows[1:]) == expected_art20_rows()
    actions = audit_actions(engine, run_id)
    assert actions.index("export.delivered") < actions.index("export.key_sent")


def test_vcmp_ceremony_list_in_2026_is_refused_by_mail_and_delivered_by_zivver(
    kbx: Kbx,
    engine: Engine,
    settings: Settings,
    pki: Pki,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    prepare(kbx, tmp_path)
    agree(
        kbx,
        *("accession", "add", LOMMEL, "--protocol", "vcmp-ceremony"),
        *("--signed-on", "2025-02-03", "--document", "VCMP-TOETREDING-72020"),
        *("--cadence", "two-yearly"),
    )
    register_mailbox(engine, "zivver")
    with (
        smtp_peer("starttls", pki, username=RELAY_USER, password=RELAY_PASSWORD) as mail_relay,
        smtp_peer("starttls", pki, username=RELAY_USER, password=RELAY_PASSWORD) as zivver_relay,
    ):
        use_relay(monkeypatch, "SECURE_MAIL", mail_relay, pki)
        use_relay(monkeypatch, "ZIVVER", zivver_relay, pki)
        by_mail = kbx(
            "export",
            "request",
            "vcmp-ceremony",
            "--recipient",
            LOMMEL,
            "--period",
            "2026",
            "--channel",
            "secure_mail",
            "--lookback-years",
            "2",
            "--by",
            "olga",
        )
        assert by_mail.exit_code == 3, by_mail.output
        assert "channel.expired" in by_mail.stderr
        assert sms_messages(settings) == []
        run_id = request_and_run(kbx, "vcmp-ceremony", "zivver", "--lookback-years", "2")
    assert mail_relay.received == []
    assert mail_relay.logins == []
    [got] = zivver_relay.received
    with engine.connect() as connection:
        reference = connection.scalar(
            select(ExportRun.reference).where(ExportRun.id == int(run_id))
        )
    assert reference
    _, rows = check_mail(got, reference, settings)
    assert "Zivver" in said(parsed(got))
    # The one Lommel resident with a certificate in the last two years, national register only.
    assert [r[0] for r in rows[1:]] == [nn(1)]
    actions = audit_actions(engine, run_id)
    assert actions.index("export.delivered") < actions.index("export.key_sent")


def test_a_recipient_without_a_mailbox_on_that_route_is_refused_at_request(
    kbx: Kbx, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    prepare(kbx, tmp_path)
    request = (
        "export", "request", "art20-municipal", *REQUEST, "--recipient", LOMMEL,
        "--period", "2026", "--channel", "zivver", "--by", "olga",
    )  # fmt: skip
    none = kbx(*request)
    assert none.exit_code == 2
    assert "geen e-mailadres geregistreerd voor zivver [recipient.no_mailbox]" in none.stderr
    register_mailbox(engine, "secure_mail")  # a mailbox, but on the other route
    other = kbx(*request)
    assert other.exit_code == 2
    assert "recipient.no_mailbox" in other.stderr
    with engine.connect() as connection:
        assert connection.execute(select(ExportRun)).all() == [], "no run, no slot taken"
    assert sms_messages(settings) == []
    assert not (mail_outbox_path(settings).exists() and os.listdir(mail_outbox_path(settings)))


def test_the_address_lookup_reads_the_registration(engine: Engine) -> None:
    lookup = mail_addresses(engine)
    with pytest.raises(ChannelError, match="no registered mailbox"):
        lookup(LOMMEL)
    register_mailbox(engine, "secure_mail")
    assert lookup(LOMMEL) == (MAILBOX, "secure_mail")
    register_mailbox(engine, "zivver", "gemeente@lommel.be")
    assert lookup(LOMMEL) == ("gemeente@lommel.be", "zivver")
