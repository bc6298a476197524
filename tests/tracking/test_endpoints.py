"""The public pixel and redirect: exact answers, nothing recorded for bad tokens, no 500s."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import httpx

from plugin.sending.models import SentEmail
from plugin.tracking.edge.routes import PIXEL_GIF
from plugin.tracking.edge.tokens import TokenSigner
from plugin.tracking.models import TrackingEvent
from tests.conftest import UserFactory
from tests.tracking.tracked_mail import (
    BROWSER_UA,
    THUNDERBIRD_UA,
    make_tracked_mail,
    wait_for_events,
    wait_until,
)

NO_CACHE = "no-store, no-cache, must-revalidate, max-age=0, private"


def _pixel_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in ("date", "server")}


async def _settle() -> None:
    # Give the embedded workers time to (not) record what they were handed.
    await asyncio.sleep(0.3)


async def test_pixel_answers_a_43_byte_gif_that_nobody_caches(
    http: httpx.AsyncClient, make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    response = await http.get(mail.open_path(), headers={"User-Agent": THUNDERBIRD_UA})
    assert response.status_code == 200
    assert response.content == PIXEL_GIF and len(PIXEL_GIF) == 43
    assert PIXEL_GIF.startswith(b"GIF89a")
    assert response.headers["content-type"] == "image/gif"
    assert response.headers["cache-control"] == NO_CACHE
    assert response.headers["pragma"] == "no-cache"
    assert response.headers["expires"] == "0"
    assert "set-cookie" not in response.headers
    [event] = await wait_for_events(mail.email, 1)
    assert (event.kind.value, event.source.value, event.rule) == ("OPEN", "HUMAN", "human")
    assert event.method == "GET" and event.user_agent == THUNDERBIRD_UA


async def test_head_on_the_pixel_gets_the_headers_and_is_a_machine(
    http: httpx.AsyncClient, make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    get = await http.get(mail.open_path(), headers={"User-Agent": THUNDERBIRD_UA})
    head = await http.head(mail.open_path(), headers={"User-Agent": THUNDERBIRD_UA})
    assert head.status_code == 200 and head.content == b""
    assert _pixel_headers(head) == _pixel_headers(get)
    events = await wait_for_events(mail.email, 2)
    assert sorted((e.method, e.source.value) for e in events) == [
        ("GET", "HUMAN"),
        ("HEAD", "MACHINE"),
    ]


async def test_forged_unknown_and_truncated_pixel_tokens_get_the_same_pixel_and_record_nothing(
    http: httpx.AsyncClient, make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    valid = mail.open_path()
    token = valid.removeprefix("/t/o/").removesuffix(".gif")
    forged = TokenSigner(["another-secret-key-" + "x" * 40]).sign_open(mail.copy_id())
    unknown_copy = TokenSigner(settings.secret_keys).sign_open(b"\x00" * 12)
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    reference = await http.get(valid)
    for path in (
        f"/t/o/{forged}.gif",
        f"/t/o/{token[:-3]}.gif",
        f"/t/o/{flipped}.gif",
        f"/t/o/{token}",
        f"/t/o/{token}.png",
        "/t/o/.gif",
        "/t/o/x",
        f"/t/o/{token}.gif/extra",
        "/t/o/%00.gif",
    ):
        response = await http.get(path)
        assert response.status_code == 200, path
        assert response.content == PIXEL_GIF
        assert _pixel_headers(response) == _pixel_headers(reference)
    # A valid signature on a copy that does not exist: the pixel, recorded nowhere.
    assert (await http.get(f"/t/o/{unknown_copy}.gif")).content == PIXEL_GIF
    await wait_for_events(mail.email, 1)
    await _settle()
    assert await TrackingEvent.filter(email_id=mail.email.id).count() == 1
    assert not await TrackingEvent.filter(copy__public_id="00" * 12).exists()


async def test_a_click_redirects_to_the_destination_exactly(
    http: httpx.AsyncClient, make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id, urls=["https://example.com/p?a=1&b=%20x#top"])
    response = await http.get(mail.click_path(1), headers={"User-Agent": BROWSER_UA})
    assert response.status_code == 302
    assert response.headers["location"] == "https://example.com/p?a=1&b=%20x#top"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "set-cookie" not in response.headers
    [event] = await wait_for_events(mail.email, 1)
    assert event.kind.value == "CLICK" and event.link is not None
    assert event.link.position == 1


async def test_idn_and_non_ascii_destinations_become_a_correct_uri(
    http: httpx.AsyncClient, make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    cases = {
        "https://bücher.example/straße?q=café&x=%C3%A9#über": (
            "https://xn--bcher-kva.example/stra%C3%9Fe?q=caf%C3%A9&x=%C3%A9#%C3%BCber"
        ),
        "http://例え.テスト/パス": "http://xn--r8jz45g.xn--zckzah/%E3%83%91%E3%82%B9",
        "https://EXAMPLE.com:8443/a b": "https://example.com:8443/a%20b",
        "https://[2001:db8::1]/x": "https://[2001:db8::1]/x",
    }
    mail = await make_tracked_mail(settings, user.id, urls=list(cases))
    for index, (_, expected) in enumerate(cases.items(), start=1):
        response = await http.get(mail.click_path(index))
        assert response.status_code == 302
        assert response.headers["location"] == expected
        assert response.headers["location"].isascii()


async def test_bad_click_tokens_get_a_static_404_page_and_never_a_redirect(
    http: httpx.AsyncClient, make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    token = mail.click_path(1).removeprefix("/t/c/")
    forged = TokenSigner(["another-secret-key-" + "x" * 40]).sign_click(
        mail.copy_id(), 1, "https://evil.example/"
    )
    open_token = mail.open_path().removeprefix("/t/o/").removesuffix(".gif")
    pages = set()
    for path in (
        f"/t/c/{forged}",
        f"/t/c/{token[:-2]}",
        f"/t/c/{token[:20]}",
        f"/t/c/{open_token}",
        "/t/c/<script>alert(1)</script>",
        "/t/c/https://evil.example",
        "/t/c/..%2f..%2fetc%2fpasswd",
        "/t/c/",
        f"/t/c/{token}x",
    ):
        response = await http.get(path)
        assert response.status_code == 404, path
        assert "location" not in response.headers
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert "evil" not in response.text and "script" not in response.text.lower()
        pages.add(response.content)
    assert len(pages) == 1  # one static page, whatever was asked
    await _settle()
    assert await TrackingEvent.filter(email_id=mail.email.id).count() == 0


async def test_signed_destinations_that_are_not_http_are_refused(
    http: httpx.AsyncClient, make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    bad = [
        "javascript:alert(1)",
        "data:text/html,hi",
        "//evil.example/x",
        "ftp://x.example/",
        "https:///nohost",
        "http://ex.example\r\nSet-Cookie: a=b",
    ]
    mail = await make_tracked_mail(settings, user.id, urls=bad)
    for index in range(1, len(bad) + 1):
        response = await http.get(mail.click_path(index))
        assert response.status_code == 404
        assert "location" not in response.headers and "set-cookie" not in response.headers
    await _settle()
    assert await TrackingEvent.filter(email_id=mail.email.id).count() == 0


async def test_odd_methods_get_405_and_record_nothing(
    http: httpx.AsyncClient, make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    for path in (mail.open_path(), mail.click_path(1)):
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"):
            response = await http.request(method, path, content=b"x" * 100)
            assert response.status_code == 405, (method, path)
            assert response.headers["allow"] == "GET, HEAD"
    await _settle()
    assert await TrackingEvent.filter(email_id=mail.email.id).count() == 0


async def _raw(server: str, request: bytes) -> bytes:
    parts = urlsplit(server)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(request)
    await writer.drain()
    try:
        data = await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()
    return data


async def test_garbage_requests_never_get_a_500(
    server: str, http: httpx.AsyncClient, make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    token = mail.open_path().removeprefix("/t/o/").removesuffix(".gif")
    requests = [
        b"GET /t/o/\xff\xfe\xfd.gif HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /t/c/\xc3\x28 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /t/o/%ff%fe.gif HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /t/c/%ff%fe HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /t/o/" + b"A" * 60_000 + b".gif HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /t/c/" + b"A" * 60_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /t/o/x.gif HTTP/1.1\r\nHost: x\r\nUser-Agent: \xff\xfe\x00\r\n\r\n",
        b"GET /t/o/x.gif HTTP/1.0\r\n\r\n",  # no Host, no user agent
        b"BREW /t/o/x.gif HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /t/o/"
        + token.encode()
        + b".gif HTTP/1.1\r\nHost: x\r\nUser-Agent: "
        + b"Z" * 20_000
        + b"\r\n\r\n",
    ]
    for request in requests:
        answer = await _raw(server, request)
        status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 400
        assert status == 200 or 400 <= status < 500, (request[:60], answer[:100])
    # Only the last request had a valid token: one event, its user agent truncated.
    [event] = await wait_for_events(mail.email, 1)
    assert event.user_agent == "Z" * 512
    response = await http.get(mail.open_path())  # and the server is still fine
    assert response.status_code == 200


def test_one_clients_flood_is_answered_but_queued_only_up_to_the_limit() -> None:
    from plugin.tracking.edge.flood import FloodGuard

    now = [0.0]
    guard = FloodGuard(3, 10.0, clock=lambda: now[0])
    pixel = (b"copy", -1)
    admitted = [guard.admit(pixel, "198.51.100.1", "Mail/1") for _ in range(10)]
    assert admitted == [True] * 3 + [False] * 7
    # Another client (same network, or same address with another agent) is not held back.
    assert guard.admit(pixel, "198.51.100.2", "Mail/1")
    assert guard.admit(pixel, "198.51.100.1", "Mail/2")
    assert guard.admit((b"copy", 1), "198.51.100.1", "Mail/1")  # another link of the email
    now[0] = 10.0  # the next window
    assert guard.admit(pixel, "198.51.100.1", "Mail/1")


async def test_a_flood_from_one_client_stores_only_its_first_repeats(
    http: Any, make_user: UserFactory, settings: Any
) -> None:
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    flood = [await http.get(mail.open_path(), headers={"User-Agent": "Flood/1"}) for _ in range(60)]
    other = await http.get(mail.open_path(), headers={"User-Agent": "Reader/2"})
    assert {r.status_code for r in [*flood, other]} == {200}  # everyone is answered

    async def other_stored() -> bool:
        return await TrackingEvent.filter(email_id=mail.email.id, user_agent="Reader/2").exists()

    await wait_until(other_stored, timeout=15)
    await asyncio.sleep(0.5)  # (anything still queued behind it)
    stored = await TrackingEvent.filter(email_id=mail.email.id, user_agent="Flood/1").count()
    assert settings.flood_limit <= stored < 60  # the repeats beyond the limit were not stored
    counted = (await SentEmail.get(id=mail.email.id)).open_count
    assert counted <= 1 + stored // settings.flood_limit  # one open per window, plus Reader/2
