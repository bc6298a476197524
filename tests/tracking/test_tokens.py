"""Unit tests for plugin.tracking.edge.tokens (no database)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import re

import pytest

from plugin.tracking.edge import tokens
from plugin.tracking.edge.tokens import (
    MAX_TOKEN_LEN,
    ClickToken,
    OpenToken,
    TokenSigner,
    TrackingUrls,
    new_public_id,
)

COPY = bytes(range(12))
URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


def _raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def _enc(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def signer() -> TokenSigner:
    return TokenSigner([b"newest-secret", "older-secret"])


def test_new_public_id_is_random_12_bytes() -> None:
    ids = {new_public_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 12 for i in ids)


def test_open_round_trip(signer: TokenSigner) -> None:
    token = signer.sign_open(COPY)
    assert URL_SAFE.fullmatch(token)
    assert signer.verify(token) == OpenToken(COPY)


@pytest.mark.parametrize(
    "destination",
    [
        "https://example.com/",
        "https://example.com/a?b=1&c=2#frag",
        "https://münchen.example/straße?q=café&x=日本語",
        "https://xn--mnchen-3ya.example/%C3%A9",
        "https://example.com/" + "utm_source=newsletter&utm_medium=email&" * 20,
        "",
    ],
)
def test_click_round_trip_is_exact(signer: TokenSigner, destination: str) -> None:
    token = signer.sign_click(COPY, 7, destination)
    assert URL_SAFE.fullmatch(token)
    assert signer.verify(token) == ClickToken(COPY, 7, destination, False)


def test_honeypot_uses_index_zero_and_flag(signer: TokenSigner) -> None:
    token = signer.sign_click(COPY, 5, "https://example.com/", honeypot=True)
    assert signer.verify(token) == ClickToken(COPY, 0, "https://example.com/", True)
    with pytest.raises(ValueError):
        signer.sign_click(COPY, 0, "https://example.com/")
    with pytest.raises(ValueError):
        signer.sign_click(COPY, 65536, "https://example.com/")
    assert signer.verify(signer.sign_click(COPY, 65535, "x")) == ClickToken(COPY, 65535, "x")


def test_long_destinations_are_compressed_when_shorter(signer: TokenSigner) -> None:
    destination = "https://shop.example.com/sale?" + "utm_source=newsletter&" * 30
    token = signer.sign_click(COPY, 1, destination)
    assert _raw(token)[1] & tokens.FLAG_DEFLATE
    assert len(token) < len(destination)
    assert signer.verify(token) == ClickToken(COPY, 1, destination)


def test_too_long_destination_is_refused(signer: TokenSigner) -> None:
    with pytest.raises(ValueError):
        signer.sign_click(COPY, 1, "https://example.com/" + random.Random(1).randbytes(7000).hex())


def test_rotation_old_keys_verify_newest_signs() -> None:
    old = TokenSigner(["k-2024"])
    rotated = TokenSigner(["k-2025", "k-2024"])
    old_open = old.sign_open(COPY)
    old_click = old.sign_click(COPY, 3, "https://example.com/")
    assert rotated.verify(old_open) == OpenToken(COPY)
    assert rotated.verify(old_click) == ClickToken(COPY, 3, "https://example.com/")
    new_token = rotated.sign_open(COPY)
    assert new_token != old_open
    assert TokenSigner(["k-2025"]).verify(new_token) == OpenToken(COPY)
    assert old.verify(new_token) is None
    # Once the old key is dropped its tokens stop verifying.
    assert TokenSigner(["k-2025"]).verify(old_open) is None


def _kid(secret: bytes) -> int:
    derived = hmac.digest(secret, b"mailbeacon/tracking-token/v1", "sha256")
    return hashlib.sha256(derived).digest()[0]


def test_key_id_collisions_are_handled() -> None:
    first = b"secret-0"
    other = next(s for i in range(1, 10_000) if _kid(s := f"secret-{i}".encode()) == _kid(first))
    signer_a, signer_b = TokenSigner([first]), TokenSigner([other])
    both = TokenSigner([first, other])
    assert both.verify(signer_a.sign_open(COPY)) == OpenToken(COPY)
    assert both.verify(signer_b.sign_open(COPY)) == OpenToken(COPY)
    assert signer_a.verify(signer_b.sign_open(COPY)) is None


def test_forged_mac_and_wrong_key_rejected(signer: TokenSigner) -> None:
    raw = bytearray(_raw(signer.sign_open(COPY)))
    raw[-16:] = bytes(16)
    assert signer.verify(_enc(bytes(raw))) is None
    assert TokenSigner(["someone-else"]).verify(signer.sign_open(COPY)) is None


@pytest.mark.parametrize("kind", ["open", "click"])
def test_every_single_bit_flip_is_rejected(signer: TokenSigner, kind: str) -> None:
    token = (
        signer.sign_open(COPY)
        if kind == "open"
        else signer.sign_click(COPY, 2, "https://example.com/path?q=1" * 3)
    )
    raw = _raw(token)
    for bit in range(len(raw) * 8):
        flipped = bytearray(raw)
        flipped[bit // 8] ^= 1 << (bit % 8)
        assert signer.verify(_enc(bytes(flipped))) is None, bit


def test_every_character_change_is_rejected(signer: TokenSigner) -> None:
    token = signer.sign_click(COPY, 2, "https://example.com/")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for i, char in enumerate(token):
        for other in alphabet:
            if other != char:
                assert signer.verify(token[:i] + other + token[i + 1 :]) is None


def test_truncation_and_extension_rejected(signer: TokenSigner) -> None:
    for token in (signer.sign_open(COPY), signer.sign_click(COPY, 1, "https://e.example/")):
        for length in range(len(token)):
            assert signer.verify(token[:length]) is None
        assert signer.verify(token + "A") is None
        assert signer.verify(token + "AA") is None
        assert signer.verify(token + "=") is None
        assert signer.verify(" " + token) is None


def test_wrong_kind_and_version_rejected(signer: TokenSigner) -> None:
    raw = _raw(signer.sign_open(COPY))
    for patch in ((0, 2), (1, 2), (1, 3), (1, 0x41)):
        changed = bytearray(raw)
        changed[patch[0]] = patch[1]
        body = bytes(changed[:-16])
        # Even with a valid MAC, an unknown version/kind/flag is refused.
        key = signer._by_kid[raw[2]][0]
        forged = body + hmac.digest(key, body, "sha256")[:16]
        assert signer.verify(_enc(forged)) is None


def test_garbage_never_raises(signer: TokenSigner) -> None:
    rng = random.Random(20240517)
    samples: list[object] = [
        "",
        "=",
        "====",
        "A",
        "é" * 40,
        "\ud800" * 40,
        "\x00" * 40,
        "A" * (MAX_TOKEN_LEN + 4),
        "A" * 10_000_000,
        "AQ",
        "AQE",
        None,
        42,
        b"AQEA",
        "😀" * 20,
    ]
    chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=.é\x00\ud800 "
    for _ in range(3000):
        samples.append("".join(rng.choice(chars) for _ in range(rng.randrange(0, 200))))
        samples.append(_enc(rng.randbytes(rng.randrange(0, 120))))
    for sample in samples:
        assert signer.verify(sample) is None  # type: ignore[arg-type]


def test_constant_time_compare_is_used(
    signer: TokenSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert signer.verify(signer.sign_open(COPY)) == OpenToken(COPY)
    assert len(calls) == 1


def test_signer_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError):
        TokenSigner([])
    with pytest.raises(ValueError):
        TokenSigner([b""])
    with pytest.raises(TypeError):
        TokenSigner("a-single-string")
    with pytest.raises(ValueError):
        TokenSigner(["k"]).sign_open(b"short")


def test_copy_id_not_in_clear(signer: TokenSigner) -> None:
    # The copy id is random, so a token leaks nothing guessable; the token
    # carries no database id. Different copies give unrelated tokens.
    a, b = signer.sign_open(new_public_id()), signer.sign_open(new_public_id())
    assert a != b and a[:4] == b[:4]  # only version/kind/kid prefix shared


@pytest.mark.parametrize("public_url", ["https://t.example.com", "https://crm.example.com/mb/"])
def test_tracking_urls_build_and_parse(signer: TokenSigner, public_url: str) -> None:
    urls = TrackingUrls(public_url, signer)
    base = public_url.rstrip("/")
    open_url = urls.open_url(COPY)
    assert open_url.startswith(base + "/t/o/") and open_url.endswith(".gif")
    click = urls.click_url(COPY, 4, "https://dest.example/ä?x=1&y=2")
    assert click.startswith(base + "/t/c/")
    honeypot = urls.click_url(COPY, 0, "", honeypot=True)
    assert urls.parse(open_url) == OpenToken(COPY)
    assert urls.parse(click) == ClickToken(COPY, 4, "https://dest.example/ä?x=1&y=2")
    assert urls.parse(honeypot) == ClickToken(COPY, 0, "", True)
    assert urls.parse(click.upper()) is None  # the token is case-sensitive
    assert urls.parse(click.replace("https://", "HTTPS://", 1)) == urls.parse(click)
    assert urls.parse(click + "?utm=x") == urls.parse(click)


def test_tracking_urls_reject_foreign_urls(signer: TokenSigner) -> None:
    urls = TrackingUrls("https://crm.example.com/mb", signer)
    click = urls.click_url(COPY, 1, "https://dest.example/")
    token = click.rsplit("/", 1)[1]
    for url in (
        f"https://evil.example/mb/t/c/{token}",
        f"http://crm.example.com/mb/t/c/{token}",
        f"https://crm.example.com/t/c/{token}",
        f"https://crm.example.com/mb/t/o/{token}.gif",  # click token on the pixel path
        f"https://crm.example.com/mb/t/c/{urls.signer.sign_open(COPY)}",
        "https://crm.example.com/mb/t/c/",
        "not a url",
        "https://[::1",
        "\ud800",
        "https://crm.example.com/mb/t/c/" + "A" * 20000,
    ):
        assert urls.parse(url) is None, url
    # Old keys still parse.
    old = TrackingUrls("https://crm.example.com/mb", TokenSigner(["older-secret"]))
    assert urls.parse(old.open_url(COPY)) == OpenToken(COPY)
    with pytest.raises(ValueError):
        TrackingUrls("crm.example.com", signer)
