"""The consent page: GET records nothing, POST with a valid signed form records the choice."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from consent.models import ConsentRecord
from consent.pages import FORM_ACTION
from consent.service import recipient_consent, record_consent
from consent.signing import ConsentKeys, keys_for
from tests.consent.factories import unique_address

FORM_FIELD = re.compile(r'name="form" value="([^"]+)"')


def _path(settings: Any, email: str) -> str:
    """The path of the recipient's personal link (as mailed to it alone)."""
    token = keys_for(settings).sign_personal_link(email, expires_at=time.time() + 3600)
    return f"/consent/{token}"


async def _form(http: httpx.AsyncClient, path: str, **headers: str) -> str:
    page = await http.get(path, headers=headers)
    assert page.status_code == 200
    match = FORM_FIELD.search(page.text)
    assert match is not None
    return match.group(1)


async def _records(email: str) -> list[str]:
    rows = await ConsentRecord.filter(recipient=email).order_by("id")
    return [r.status.value for r in rows]


async def test_get_shows_the_choice_and_records_nothing(
    http: httpx.AsyncClient, settings: Any
) -> None:
    email = unique_address("firma.de")
    path = _path(settings, email)
    for _ in range(3):  # a scanner following the link, twice, then the person
        page = await http.get(path)
        assert page.status_code == 200
    assert (await http.head(path)).status_code == 200
    html = page.text
    assert '<html lang="en">' in html
    assert '<button type="submit" name="choice" value="grant">Allow tracking</button>' in html
    assert '<button type="submit" name="choice" value="decline">Don&#39;t track me</button>' in html
    assert email in html and settings.consent_text_version in html
    assert "<script" not in html and "http" not in html.split("<main>")[1]  # no external assets
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert await _records(email) == []


async def test_posting_the_grant_button_records_granted(
    http: httpx.AsyncClient, settings: Any
) -> None:
    email = unique_address("firma.de")
    path = _path(settings, email)
    form = await _form(http, path)
    answer = await http.post(path, data={"form": form, "choice": "grant"})
    assert answer.status_code == 200
    assert "tracking is now allowed" in answer.text
    state = await recipient_consent(email, settings)
    assert (state.status.value, state.source) == ("GRANTED", "consent page")
    record = await ConsentRecord.get(recipient=email)
    assert record.text_version == settings.consent_text_version
    assert record.recorded_by_id is None  # type: ignore[attr-defined]


async def test_decline_is_denied_or_a_withdrawal_after_a_grant(
    http: httpx.AsyncClient, settings: Any
) -> None:
    fresh, granted = unique_address("firma.de"), unique_address("firma.de")
    await record_consent(granted, "GRANTED", "import", None, settings)
    for email in (fresh, granted):
        path = _path(settings, email)
        answer = await http.post(path, data={"form": await _form(http, path), "choice": "decline"})
        assert answer.status_code == 200
    assert await _records(fresh) == ["DENIED"]
    assert await _records(granted) == ["GRANTED", "WITHDRAWN"]
    # The same page serves a later change of mind.
    path = _path(settings, granted)
    await http.post(path, data={"form": await _form(http, path), "choice": "grant"})
    assert await _records(granted) == ["GRANTED", "WITHDRAWN", "GRANTED"]


async def test_a_replayed_form_records_nothing(http: httpx.AsyncClient, settings: Any) -> None:
    email = unique_address("firma.de")
    path = _path(settings, email)
    form = await _form(http, path)
    assert (await http.post(path, data={"form": form, "choice": "decline"})).status_code == 200
    replay = await http.post(path, data={"form": form, "choice": "grant"})
    assert replay.status_code == 400
    assert "expired or was already sent" in replay.text
    assert await _records(email) == ["DENIED"]


def _forgeries(settings: Any, email: str) -> list[str]:
    keys = keys_for(settings)
    good = keys.sign_form(email, FORM_ACTION)
    stamp, nonce, mac = good.split(".")
    other_nonce = keys.sign_form(email, FORM_ACTION).split(".")[1]
    return [
        "",
        "garbage",
        f"{stamp}.{mac}",  # the old format, without a nonce
        f"{int(stamp) + 1}.{nonce}.{mac}",  # another time under the same MAC
        f"{stamp}.{other_nonce}.{mac}",  # another nonce under the same MAC
        f"{stamp}.{nonce}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
        keys.sign_form(unique_address("firma.de"), FORM_ACTION),  # someone else's form
        keys.sign_form(email, "other-action"),
        keys.sign_form(email, FORM_ACTION, now=time.time() - 7200),  # expired
        keys.sign_form(email, FORM_ACTION, now=time.time() + 3600),  # from the future
        ConsentKeys(["another-secret-of-sufficient-length-000000"]).sign_form(email, FORM_ACTION),
        good + "x" * 100,
    ]


async def test_forged_forms_get_400_and_record_nothing(
    http: httpx.AsyncClient, settings: Any
) -> None:
    email = unique_address("firma.de")
    path = _path(settings, email)
    for forged in _forgeries(settings, email):
        answer = await http.post(path, data={"form": forged, "choice": "grant"})
        assert answer.status_code == 400, forged
    good = keys_for(settings).sign_form(email, FORM_ACTION)
    for data in ({"form": good, "choice": "maybe"}, {"form": good}):
        assert (await http.post(path, data=data)).status_code == 400
    # Another site posting a valid form (cross-site request) is refused too.
    cross = await http.post(
        path, data={"form": good, "choice": "grant"}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 400
    assert await _records(email) == []


@pytest.mark.parametrize(
    "token",
    ["", "x", "AAAA", "not-base64!", "A" * 2000],
)
async def test_forged_links_get_400(http: httpx.AsyncClient, settings: Any, token: str) -> None:
    answer = await http.get(f"/consent/{token}" if token else "/consent/%20")
    assert answer.status_code in (400, 404)
    post = await http.post(f"/consent/{token or 'x'}", data={"choice": "grant"})
    assert post.status_code == 400


async def test_a_tampered_link_gets_400(http: httpx.AsyncClient, settings: Any) -> None:
    token = _path(settings, unique_address("firma.de")).removeprefix("/consent/")
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    answer = await http.get(f"/consent/{tampered}")
    assert answer.status_code == 400
    assert "not valid" in answer.text


async def test_italian_by_accept_language(http: httpx.AsyncClient, settings: Any) -> None:
    email = unique_address("firma.de")
    path = _path(settings, email)
    page = await http.get(path, headers={"Accept-Language": "it-IT,it;q=0.9,en;q=0.5"})
    assert '<html lang="it">' in page.text
    assert "Consenti il tracciamento" in page.text and "Non tracciarmi" in page.text
    english = await http.get(path, headers={"Accept-Language": "de-DE, fr;q=0.8"})
    assert "Allow tracking" in english.text
    preferred = await http.get(path, headers={"Accept-Language": "en;q=0.3, it;q=0.8"})
    assert '<html lang="it">' in preferred.text
    form = FORM_FIELD.search(page.text)
    assert form is not None
    done = await http.post(path, data={"form": form.group(1), "choice": "grant", "lang": "it"})
    assert "il tracciamento è ora consentito" in done.text
    error = await http.get("/consent/AAAA", headers={"Accept-Language": "it"})
    assert error.status_code == 400 and "non valido" in error.text
