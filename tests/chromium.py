"""Headless Chromium for tests: render a local HTML page, scripts included, and read its text.

Chromium is a test prerequisite (``./dev test`` installs the Debian package ``chromium`` when it
runs as root). When it is missing, the tests that need it fail and say so; they do not skip.

Pages are rendered offline: every host name resolves to nothing, so a page that pulls scripts
from a CDN (Data Docs load jQuery, Bootstrap and bootstrap-table that way) renders what it can
without them, the same on every machine, and the test makes no network calls.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def chromium_binary() -> str:
    """The path of the installed Chromium; fails the calling test if there is none."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        f"headless Chromium is needed to render Data Docs, but none of {', '.join(CHROMIUM_NAMES)} "
        "is on PATH: install the Debian package `chromium` (apt-get install chromium; "
        "./dev test does this when run as root)",
        pytrace=False,
    )


def rendered_dom(page: Path, *, profile_dir: Path, timeout: float = 60.0) -> str:
    """The DOM of ``page`` after Chromium loaded it and ran its scripts, as HTML.

    Args:
        page: A local HTML file.
        profile_dir: An empty folder for Chromium's profile (keeps ~/.config untouched).
        timeout: Seconds to wait for Chromium to exit.
    """
    command = [
        chromium_binary(),
        "--headless=new",
        "--no-sandbox",  # tests run as root in containers, where the sandbox cannot start
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        f"--user-data-dir={profile_dir}",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # offline: see the module docstring
        # Virtual time: scripts' timers run to completion without the test waiting in real time.
        "--virtual-time-budget=5000",
        "--dump-dom",
        page.resolve().as_uri(),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"Chromium did not render {page} within {timeout:.0f} s", pytrace=False)
    if done.returncode != 0 or "<body" not in done.stdout:
        stderr_tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        pytest.fail(
            f"Chromium could not render {page} (exit code {done.returncode}):\n{stderr_tail}",
            pytrace=False,
        )
    return done.stdout


def visible_text(dom: str) -> str:
    """The text a reader sees in ``dom``: no scripts or styles, whitespace collapsed."""
    parser = _TextParser()
    parser.feed(dom)
    parser.close()
    return " ".join(" ".join(parser.chunks).split())


class _TextParser(HTMLParser):
    _HIDDEN = frozenset({"script", "style", "head", "template", "noscript"})

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN and self._hidden_depth:
            self._hidden_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            self.chunks.append(data)
