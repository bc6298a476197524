"""The tracking URLs of one sent copy: what instrumentation asks for each link and pixel."""

from __future__ import annotations

from typing import Protocol

from plugin.errors import TooManyLinksError
from plugin.tracking.edge.tokens import ClickToken, OpenToken, TrackingUrls

__all__ = ["LinkRegistry", "SimpleLinkRegistry"]


class LinkRegistry(Protocol):
    """The tracking URLs of one sent copy, as the sender provides them."""

    def open_url(self) -> str:
        """Return the open-pixel URL."""
        ...

    def click_url(self, destination: str) -> str:
        """Return the tracked URL for a real link (or ``destination`` itself if untrackable)."""
        ...

    def honeypot_url(self) -> str:
        """Return the tracked URL of the hidden honeypot link."""
        ...

    def untrack(self, url: str) -> str | None:
        """Our tracked URL -> its destination; our pixel (or honeypot) URL -> ""; else None."""
        ...


class SimpleLinkRegistry:
    """A LinkRegistry over TrackingUrls for the copy ``copy_id``.

    Distinct destinations are numbered 1..n in order of first appearance
    (index 0 is the honeypot). Pass the same ``indexes`` dict to the
    registries of every per-recipient copy of one email so a destination gets
    the same index in all of them. ``destinations`` lists, in order, the
    (index, destination) pairs this copy used: the rows to store as tracked
    links. A destination that cannot be tracked (index beyond 65535, or too
    long for a token) is returned as is, i.e. left untracked.
    """

    def __init__(
        self,
        urls: TrackingUrls,
        copy_id: bytes,
        *,
        indexes: dict[str, int] | None = None,
        honeypot_destination: str = "",
        max_links: int | None = None,
    ) -> None:
        self.urls = urls
        self.copy_id = copy_id
        self.indexes: dict[str, int] = {} if indexes is None else indexes
        self.honeypot_destination = honeypot_destination
        self._tracked: dict[str, str] = {}
        self._used: dict[str, int] = {}
        self._prefix = urls.public_url.casefold() + "/t/"
        self._next_index = max(self.indexes.values(), default=0) + 1
        self.max_links = max_links
        self.link_count = 0

    @property
    def destinations(self) -> list[tuple[int, str]]:
        """The (index, destination) pairs this copy tracked, in order of first appearance."""
        return [(index, destination) for destination, index in self._used.items()]

    def open_url(self) -> str:
        """Return the open-pixel URL of this copy."""
        return self.urls.open_url(self.copy_id)

    def click_url(self, destination: str) -> str:
        """Return the tracked URL of ``destination`` (the same one each time).

        Raises TooManyLinksError on the call past ``max_links`` (every link counts,
        repeated destinations too: each costs its rewrite).
        """
        self.link_count += 1
        if self.max_links is not None and self.link_count > self.max_links:
            raise TooManyLinksError(self.max_links)
        tracked = self._tracked.get(destination)
        if tracked is not None:
            return tracked
        index = self.indexes.get(destination)
        if index is None:
            index = self._next_index
        try:
            tracked = self.urls.click_url(self.copy_id, index, destination)
        except ValueError:
            return destination
        self.indexes.setdefault(destination, index)
        self._next_index = max(self._next_index, index + 1)
        self._used.setdefault(destination, index)
        self._tracked[destination] = tracked
        return tracked

    def honeypot_url(self) -> str:
        """Return the tracked URL of this copy's honeypot link."""
        return self.urls.click_url(self.copy_id, 0, self.honeypot_destination, honeypot=True)

    def untrack(self, url: str) -> str | None:
        """Map any of our tracking URLs (any copy, any listed key) back; see LinkRegistry."""
        # A cheap prefix test first: most URLs in an email are not ours.
        if url[: len(self._prefix)].casefold() != self._prefix:
            return None
        token = self.urls.parse(url)
        if isinstance(token, OpenToken):
            return ""
        if isinstance(token, ClickToken):
            return "" if token.honeypot else token.destination
        return None
