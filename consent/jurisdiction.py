"""Where a recipient's data-protection law comes from: address normal form and jurisdiction.

Pure functions: no database, no settings. The host CRM's country (when its hook
knows the contact) is passed in by the caller.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import idna
import yaml

__all__ = [
    "EEA_EXTRA",
    "EU_MEMBERS",
    "UK_COUNTRIES",
    "UNKNOWN",
    "Jurisdiction",
    "is_country_code",
    "jurisdiction_of_country",
    "normalize_address",
    "normalize_country",
    "region_of",
    "resolve_jurisdiction",
]

JurisdictionSource = Literal["host", "domain", "unknown"]

#: The 27 member states of the European Union.
EU_MEMBERS: frozenset[str] = frozenset(
    {
        "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU",
        "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
    }
)  # fmt: skip
# Outermost regions (and Aaland) that carry ISO codes of their own but are part of
# the EU, so the GDPR and the ePrivacy directive apply there.
_EU_TERRITORIES = frozenset({"AX", "GF", "GP", "MF", "MQ", "RE", "YT"})
#: EEA members outside the EU.
EEA_EXTRA: frozenset[str] = frozenset({"IS", "LI", "NO"})
#: Countries counted in the "UK" region: Great Britain and Northern Ireland plus the
#: Crown Dependencies (Guernsey, Jersey, Isle of Man). The dependencies are not part
#: of the UK, but their data-protection laws mirror the UK GDPR, so treating them
#: alike is the conservative choice (opt-in by default) and can be overridden per
#: country in the policy map.
UK_COUNTRIES: frozenset[str] = frozenset({"GB", "GG", "JE", "IM"})

# Codes ISO "exceptionally reserves" that hosts commonly send instead of the real one.
_COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """The law a recipient's data falls under, as far as we can tell.

    ``country`` is an ISO 3166-1 alpha-2 code or None (e.g. for a ``.eu`` address);
    ``region`` is "EU", "EEA", "UK", "CH" or, for any other country, the country
    code itself; None when nothing is known. ``source`` says where it came from.
    """

    country: str | None
    region: str | None
    source: JurisdictionSource

    @property
    def known(self) -> bool:
        """Whether anything is known (a region always is when a country is)."""
        return self.region is not None


#: Nothing is known about the recipient.
UNKNOWN = Jurisdiction(country=None, region=None, source="unknown")


@dataclass(frozen=True, slots=True)
class _TldTable:
    countries: frozenset[str]
    regions: dict[str, str]
    tlds: dict[str, str | None]


@functools.cache
def _table() -> _TldTable:
    # Loaded on first use (not at import) from package data, so it works installed.
    text = resources.files("consent").joinpath("data/cctld.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    countries = frozenset(raw["countries"])
    tlds: dict[str, str | None] = dict(raw["tlds"])
    regions: dict[str, str] = dict(raw["regions"])
    # YAML 1.1 turns a bare `no` into False: fail loudly instead of mis-mapping Norway.
    for code in countries:
        if not (isinstance(code, str) and len(code) == 2 and code.isupper()):
            raise ValueError(f"cctld.yaml: bad country code {code!r}")
    for tld, country in tlds.items():
        if not isinstance(tld, str) or (country is not None and country not in countries):
            raise ValueError(f"cctld.yaml: bad entry {tld!r}: {country!r}")
    return _TldTable(countries=countries, regions=regions, tlds=tlds)


@functools.lru_cache(maxsize=4096)
def _ascii_domain(domain: str) -> str:
    # Cached: the idna package's UTS 46 mapping is pure Python (a tenth of a millisecond a
    # domain), and a send to hundreds of recipients meets a few domains many times.
    try:
        # UTS 46 mapping lowercases, maps full-width dots etc.; IDNA 2008 keeps "ß"
        # distinct from "ss" as the registries (DENIC among them) do.
        return idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        # Not a valid IDN (e.g. an underscore): best effort, still case-insensitive.
        return domain.lower()


def normalize_address(email: str) -> str:
    """Return the canonical form of an email address, the key consent is stored under.

    Canonical form: surrounding whitespace removed, Unicode NFC, the whole address
    lowercased, the domain IDNA-encoded to ASCII (``Anna@Müller.DE`` ->
    ``anna@xn--mller-kva.de``, the same as ``anna@xn--mller-kva.de``) and without a
    trailing root dot. The local part is lowercased too: consent must follow the
    person, and mail providers treat local parts case-insensitively in practice.

    Never raises: input that is not an address (no ``@``, empty) comes back
    trimmed and lowercased; validating addresses is the sender's job.
    """
    text = unicodedata.normalize("NFC", email.strip())
    # rpartition: a quoted local part may itself contain "@".
    local, at, domain = text.rpartition("@")
    if not at:
        return text.lower()
    domain = domain.rstrip(".")
    return f"{local.lower()}@{_ascii_domain(domain) if domain else ''}"


def normalize_country(code: str | None) -> str | None:
    """Return ``code`` as an upper-case ISO 3166-1 alpha-2 code, or None if it is not one.

    Case-insensitive; the reserved aliases UK (-> GB) and EL (-> GR) are accepted.
    """
    if not isinstance(code, str):
        return None
    upper = code.strip().upper()
    upper = _COUNTRY_ALIASES.get(upper, upper)
    return upper if upper in _table().countries else None


def is_country_code(code: str | None) -> bool:
    """Whether ``code`` is a valid ISO 3166-1 alpha-2 code (see :func:`normalize_country`)."""
    return normalize_country(code) is not None


def region_of(country: str) -> str:
    """Return the region of a valid country code: EU, EEA, UK, CH or the code itself."""
    if country in EU_MEMBERS or country in _EU_TERRITORIES:
        return "EU"
    if country in EEA_EXTRA:
        return "EEA"
    if country in UK_COUNTRIES:
        return "UK"
    return country


def jurisdiction_of_country(
    code: str | None, *, source: JurisdictionSource = "host"
) -> Jurisdiction:
    """Return the jurisdiction of a country code, or :data:`UNKNOWN` if it is invalid.

    The code "EU" (also ISO-reserved) gives the EU region without a country.
    """
    if isinstance(code, str) and code.strip().upper() == "EU":
        return Jurisdiction(country=None, region="EU", source=source)
    country = normalize_country(code)
    if country is None:
        return UNKNOWN
    return Jurisdiction(country=country, region=region_of(country), source=source)


def _from_domain(address: str) -> Jurisdiction:
    _, at, domain = address.rpartition("@")
    labels = domain.split(".") if at else []
    # A bare TLD ("anna@de"), an empty label or an IP literal is no domain: unknown.
    if len(labels) < 2 or not all(labels):
        return UNKNOWN
    tld = labels[-1]
    table = _table()
    if tld in table.regions:
        return Jurisdiction(country=None, region=table.regions[tld], source="domain")
    country = table.tlds.get(tld)
    if country is None:
        return UNKNOWN
    return Jurisdiction(country=country, region=region_of(country), source="domain")


def resolve_jurisdiction(email: str, *, host_country: str | None) -> Jurisdiction:
    """Return the recipient's jurisdiction.

    Order: the host CRM's country for the contact (ISO alpha-2, case-insensitive;
    an invalid code is ignored), then the country-code TLD of the address (see
    ``consent/data/cctld.yaml``; generic TLDs and ccTLDs sold as generic names
    give nothing), else :data:`UNKNOWN`. Never raises, whatever ``email`` holds.
    """
    from_host = jurisdiction_of_country(host_country, source="host")
    if from_host.known:
        return from_host
    return _from_domain(normalize_address(email))
