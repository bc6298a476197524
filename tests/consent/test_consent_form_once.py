"""A consent form records one choice, however many POSTs race (finding 6 of issue 11).

Twelve concurrent POSTs of one form used to record two choices in about one run of
eight. The form's nonce is now spent in the transaction that records the choice (a
unique key), so exactly one POST records, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from consent.models import ConsentFormUse, ConsentRecord
from consent.service import FormUsedError, record_consent
from tests.consent.factories import unique_address
from tests.consent.test_consent_pages import _form, _path

RUNS = 8
CONCURRENT_POSTS = 12


async def test_concurrent_posts_of_one_form_record_one_choice(
    http: httpx.AsyncClient, settings: Any
) -> None:
    for _ in range(RUNS):
        email = unique_address("firma.de")
        path = _path(settings, email)
        form = await _form(http, path)
        choices = ["grant", "decline"] * (CONCURRENT_POSTS // 2)
        answers = await asyncio.gather(*(
            http.post(path, data={"form": form, "choice": choice}) for choice in choices
        ))
        codes = sorted(a.status_code for a in answers)
        assert codes == [200] + [400] * (CONCURRENT_POSTS - 1), codes
        assert await ConsentRecord.filter(recipient=email).count() == 1


async def test_a_spent_nonce_refuses_the_second_record_and_writes_nothing(
    server: str, settings: Any
) -> None:
    email = unique_address("firma.de")
    await record_consent(email, "DENIED", "consent page", None, settings,
                         by_recipient=True, form_nonce="nonce-" + email[:20])
    with pytest.raises(FormUsedError) as used:
        await record_consent(email, "GRANTED", "consent page", None, settings,
                             by_recipient=True, form_nonce="nonce-" + email[:20])
    assert used.value.code == "FORM_USED"
    statuses = [r.status.value for r in await ConsentRecord.filter(recipient=email)]
    assert statuses == ["DENIED"]
    assert await ConsentFormUse.filter(nonce="nonce-" + email[:20]).count() == 1
