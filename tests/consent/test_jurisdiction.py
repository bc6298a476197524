"""Recipient address normal form and jurisdiction resolution."""

from __future__ import annotations

import pytest

from consent.jurisdiction import (
    UNKNOWN,
    Jurisdiction,
    is_country_code,
    jurisdiction_of_country,
    normalize_address,
    normalize_country,
    region_of,
    resolve_jurisdiction,
)

# --- normalize_address ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("anna@firma.de", "anna@firma.de"),
        ("  Anna.Schmidt@Firma.DE \n", "anna.schmidt@firma.de"),
        ("anna@müller.de", "anna@xn--mller-kva.de"),
        ("anna@MÜLLER.DE", "anna@xn--mller-kva.de"),
        ("anna@XN--MLLER-KVA.de", "anna@xn--mller-kva.de"),
        ("anna@firma.de.", "anna@firma.de"),
        # IDNA 2008: "ß" stays distinct from "ss", as DENIC registers it.
        ("x@straße.de", "x@xn--strae-oqa.de"),
        # A full-width dot (typed on a Japanese keyboard) is a dot.
        ("x@firma。de", "x@firma.de"),
        ('"a@b"@firma.de', '"a@b"@firma.de'),
        # Not a valid IDN: best effort, still lowercased.
        ("X@Foo_Bar.COM", "x@foo_bar.com"),
    ],
)
def test_normalize_address(raw: str, expected: str) -> None:
    assert normalize_address(raw) == expected


def test_idn_and_punycode_spellings_are_the_same_person() -> None:
    assert normalize_address("Jörg@Müller.de") == normalize_address("jörg@xn--mller-kva.DE")


def test_unicode_local_part_is_nfc_and_lowercased() -> None:
    decomposed = "Jo\u0308rg@firma.de"  # "o" + combining diaeresis
    assert normalize_address(decomposed) == "jörg@firma.de"


@pytest.mark.parametrize("garbage", ["", "   ", "no-at-sign", "@", "anna@", "a@@b", "@@@"])
def test_normalize_address_never_raises(garbage: str) -> None:
    assert normalize_address(garbage) == garbage.strip().lower()


# --- countries and regions --------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("de", "DE"),
        (" Gb ", "GB"),
        ("UK", "GB"),
        ("el", "GR"),
        ("XX", None),
        ("DEU", None),
        ("", None),
        (None, None),
        ("EU", None),
    ],
)
def test_normalize_country(code: str | None, expected: str | None) -> None:
    assert normalize_country(code) == expected
    assert is_country_code(code) is (expected is not None)


@pytest.mark.parametrize(
    ("country", "region"),
    [
        ("DE", "EU"),
        ("FR", "EU"),
        ("IT", "EU"),
        ("RE", "EU"),
        ("AX", "EU"),
        ("NO", "EEA"),
        ("IS", "EEA"),
        ("LI", "EEA"),
        ("GB", "UK"),
        ("JE", "UK"),
        ("GG", "UK"),
        ("IM", "UK"),
        ("CH", "CH"),
        ("US", "US"),
        ("JP", "JP"),
    ],
)
def test_region_of(country: str, region: str) -> None:
    assert region_of(country) == region


def test_jurisdiction_of_country_eu_code() -> None:
    assert jurisdiction_of_country("eu") == Jurisdiction(None, "EU", "host")


# --- resolve_jurisdiction: from the domain ----------------------------------------


@pytest.mark.parametrize(
    ("email", "country", "region"),
    [
        ("anna@firma.de", "DE", "EU"),
        ("marie@societe.fr", "FR", "EU"),
        ("luca@azienda.it", "IT", "EU"),
        ("ola@firma.no", "NO", "EEA"),
        ("jon@firma.is", "IS", "EEA"),
        ("tom@firm.co.uk", "GB", "UK"),
        ("tom@firm.org.uk", "GB", "UK"),
        ("tom@firm.uk", "GB", "UK"),
        ("hans@firma.ch", "CH", "CH"),
        ("ivan@firma.ru", "RU", "RU"),
        ("ivan@пример.рф", "RU", "RU"),
        ("kate@example.com.au", "AU", "AU"),
        ("sepp@wirt.bayern", "DE", "EU"),
        ("ANNA@FIRMA.DE", "DE", "EU"),
        ("anna@müller.de", "DE", "EU"),
    ],
)
def test_country_code_tld(email: str, country: str, region: str) -> None:
    assert resolve_jurisdiction(email, host_country=None) == Jurisdiction(country, region, "domain")


@pytest.mark.parametrize("email", ["info@agency.eu", "info@агенция.ею", "info@firma.ευ"])
def test_eu_tld_is_a_region_without_country(email: str) -> None:
    assert resolve_jurisdiction(email, host_country=None) == Jurisdiction(None, "EU", "domain")


@pytest.mark.parametrize(
    "email",
    [
        "bob@example.com",
        "bob@example.org",
        "bob@example.net",
        "bob@startup.io",
        "bob@startup.co",
        "bob@show.tv",
        "bob@about.me",
        "bob@lab.ai",
        "bob@radio.fm",
        "bob@bit.ly",
        "bob@team.gg",
        "bob@old.su",
        "bob@EXAMPLE.COM",
    ],
)
def test_generic_tlds_are_unknown(email: str) -> None:
    assert resolve_jurisdiction(email, host_country=None) == UNKNOWN


@pytest.mark.parametrize(
    "email",
    [
        "",
        "   ",
        "not an address",
        "anna@",
        "@",
        "anna@de",
        "anna@[192.0.2.1]",
        "anna@firma.",
        "anna@firma..de",
        "a@b@",
    ],
)
def test_garbage_is_unknown_without_raising(email: str) -> None:
    assert resolve_jurisdiction(email, host_country=None) == UNKNOWN


# --- resolve_jurisdiction: the host's country first -------------------------------


def test_host_country_wins_over_domain() -> None:
    assert resolve_jurisdiction("anna@firma.de", host_country="US") == Jurisdiction(
        "US", "US", "host"
    )
    assert resolve_jurisdiction("bob@example.com", host_country="fr") == Jurisdiction(
        "FR", "EU", "host"
    )


def test_host_country_applies_to_garbage_address() -> None:
    assert resolve_jurisdiction("", host_country="CH") == Jurisdiction("CH", "CH", "host")


def test_host_uk_alias() -> None:
    assert resolve_jurisdiction("bob@example.com", host_country="uk") == Jurisdiction(
        "GB", "UK", "host"
    )


@pytest.mark.parametrize("host", ["", "  ", "XX", "Germany", "DEU", "1", "ü"])
def test_invalid_host_country_is_ignored(host: str) -> None:
    assert resolve_jurisdiction("anna@firma.de", host_country=host) == Jurisdiction(
        "DE", "EU", "domain"
    )
    assert resolve_jurisdiction("bob@example.com", host_country=host) == UNKNOWN


def test_unknown_is_not_known() -> None:
    assert not UNKNOWN.known
    assert Jurisdiction(None, "EU", "domain").known
