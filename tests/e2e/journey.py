"""What the first-run journey (tests/e2e/test_first_run_journey.py) needs besides its steps: one browser
page kept for the whole journey with the page-error checks of tests/e2e/conftest.py, screenshots of
every step at desktop and phone sizes in order, and the home page's checklist."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Locator, Page, ViewportSize, expect

from tests.processes import ARTIFACTS

JOURNEY_ARTIFACTS = ARTIFACTS / "journey"
DESKTOP: ViewportSize = {"width": 1280, "height": 860}
PHONE: ViewportSize = {"width": 390, "height": 844}

# The home page's "Getting started" items, in the order a new organisation meets them.
CHECKLIST_ITEMS = ("connect-model", "add-knowledge", "build-bot", "install-widget", "invite-team")


@dataclass
class Screenshots:
    """Full-page screenshots under test-artifacts/journey/, numbered in the order taken:
    ``01-sign-up-desktop.png``, ``01-sign-up-phone.png``, ``02-…``."""

    directory: Path = JOURNEY_ARTIFACTS
    taken: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for old in self.directory.glob("*.png"):  # a shorter run must not leave a longer run's tail
            old.unlink()
        self.count = 0

    def take(self, page: Page, name: str, *, focus: Locator | None = None, full_page: bool = True) -> None:
        """The page as it is now, at desktop size and at phone size (laid out again at 390 px wide;
        nothing reloads), then back at desktop size. The whole page from its top, or with ``focus`` (or
        ``full_page=False``) what the window shows: ``focus`` scrolled into it. The window's view is what
        a person sees of a long page, and the only true picture of what is fixed to the window (the
        sidebar, a widget's panel), which a full-page capture draws where the window ended."""
        self.count += 1
        for size_name, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            if focus is None:
                page.evaluate("window.scrollTo(0, 0)")
            else:
                focus.scroll_into_view_if_needed()
            path = self.directory / f"{self.count:02d}-{name}-{size_name}.png"
            page.screenshot(path=str(path), full_page=full_page and focus is None)
            self.taken.append(path)
        page.set_viewport_size(DESKTOP)


def expect_checklist(page: Page, base_url: str, *, done: set[str], not_done: set[str]) -> None:
    """The home page's checklist says ``done`` items are done and ``not_done`` ones are not (items in
    neither are not looked at). The items are issue 14's home part: their hooks are
    ``[data-checklist-item=<key>][data-done=true|false]``."""
    assert not done & not_done and (done | not_done) <= set(CHECKLIST_ITEMS)
    page.goto(f"{base_url}/app/")
    for key in CHECKLIST_ITEMS:
        if key not in done | not_done:
            continue
        wanted = "true" if key in done else "false"
        expect(
            page.locator(f'[data-checklist-item="{key}"]'),
            f"the home checklist's “{key}” item should be data-done={wanted} "
            "(issue 14 part C, home: [data-checklist-item] computed from data)",
        ).to_have_attribute("data-done", wanted)
