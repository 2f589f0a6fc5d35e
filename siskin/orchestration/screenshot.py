"""Headless-Chromium screenshots of a web page as a person sees it (logged in), with a render check.

Drives Chromium over its DevTools protocol: sets the session cookie, opens the page, waits until the
network is quiet, records every stylesheet, script or image that failed to load, and captures a PNG.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siskin.errors import ConfigurationError, SiskinError

CHECKED_TYPES = {"Stylesheet", "Script", "Image", "Font"}


@dataclass
class PageCheck:
    """What the page loaded, and what failed to."""

    url: str
    png: Path
    title: str = ""
    text_chars: int = 0
    stylesheets: int = 0
    failed: list[str] = field(default_factory=list)  # "<type> <status or error> <url>"
    distinct_colours: int = 0

    @property
    def rendered(self) -> bool:
        """Styled, with content, nothing missing, not a blank image."""
        return not self.failed and self.stylesheets > 0 and self.text_chars > 0 and self.distinct_colours > 8


def chromium() -> str:
    """The Chromium executable (Debian's `chromium` package)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise ConfigurationError("no Chromium found: install Debian's package (apt-get install -y chromium)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _DevTools:
    """A minimal synchronous DevTools-protocol session on one page target."""

    def __init__(self, ws_url: str) -> None:
        from websockets.sync.client import connect

        self.ws = connect(ws_url, max_size=64 * 1024 * 1024, open_timeout=30)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, timeout_s: float = 60.0, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + timeout_s
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == ident:
                if "error" in message:
                    raise SiskinError(f"DevTools {method}: {message['error']}")
                return dict(message.get("result", {}))
            self.events.append(message)

    def drain(self, quiet_s: float, timeout_s: float) -> None:
        """Collect events until none arrives for `quiet_s` (or `timeout_s` passed)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                self.events.append(json.loads(self.ws.recv(timeout=quiet_s)))
            except TimeoutError:
                return

    def close(self) -> None:
        self.ws.close()


def _failures(events: list[dict[str, Any]]) -> tuple[list[str], int]:
    """Failed loads of checked resource types, and how many stylesheets were requested."""
    kinds: dict[str, tuple[str, str]] = {}
    failed = []
    for event in events:
        params = event.get("params", {})
        if event.get("method") == "Network.requestWillBeSent":
            kinds[params["requestId"]] = (params.get("type", ""), params["request"]["url"])
        elif event.get("method") == "Network.responseReceived":
            kind, url = params.get("type", ""), params["response"]["url"]
            kinds[params["requestId"]] = (kind, url)
            if kind in CHECKED_TYPES and int(params["response"]["status"]) >= 400:
                failed.append(f"{kind} {params['response']['status']} {url}")
        elif event.get("method") == "Network.loadingFailed" and not params.get("canceled"):
            kind, url = kinds.get(params["requestId"], (params.get("type", ""), "?"))
            if (params.get("type") or kind) in CHECKED_TYPES:
                failed.append(f"{params.get('type') or kind} {params.get('errorText')} {url}")
    stylesheets = sum(1 for kind, _ in kinds.values() if kind == "Stylesheet")
    return failed, stylesheets


def _colours(png: Path) -> int:
    from PIL import Image

    with Image.open(png) as image:
        return len(image.convert("RGB").getcolors(maxcolors=1 << 20) or [])


def capture(
    url: str,
    png: Path,
    *,
    cookies: dict[str, str] | None = None,
    width: int = 1440,
    height: int = 900,
    settle_s: float = 3.0,
    timeout_s: float = 90.0,
) -> PageCheck:
    """Open `url` in headless Chromium (with `cookies` set for its origin), screenshot it into `png`."""
    png.parent.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    # Chromium's helpers may still write its profile while it exits: leftovers are not an error
    with tempfile.TemporaryDirectory(prefix="siskin-chromium-", ignore_cleanup_errors=True) as profile:
        browser = subprocess.Popen(
            [
                chromium(),
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                f"--remote-debugging-port={port}",
                "--remote-allow-origins=*",
                f"--user-data-dir={profile}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            return _capture(port, url, png, cookies or {}, width, height, settle_s, timeout_s)
        finally:
            browser.terminate()
            try:
                browser.wait(timeout=15)
            except subprocess.TimeoutExpired:
                browser.kill()
                browser.wait(timeout=15)


def _page_target(port: int, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as response:
                pages = [t for t in json.load(response) if t.get("type") == "page"]
            if pages:
                return str(pages[0]["webSocketDebuggerUrl"])
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SiskinError("headless Chromium did not start")
        time.sleep(0.3)


def _page_state(tools: _DevTools) -> dict[str, Any]:
    info = tools.call(
        "Runtime.evaluate",
        expression="JSON.stringify({title: document.title, ready: document.readyState, "
        "text: document.body ? document.body.innerText.length : 0, sheets: document.styleSheets.length})",
        returnByValue=True,
    )
    return dict(json.loads(info["result"]["value"]))


def _settled(tools: _DevTools, settle_s: float, timeout_s: float) -> dict[str, Any]:
    """Wait until the page is loaded and its text stopped changing (a single-page app renders late)."""
    deadline = time.monotonic() + timeout_s
    last: dict[str, Any] = {}
    while True:
        tools.drain(quiet_s=1.0, timeout_s=settle_s)
        state = _page_state(tools)
        if state["ready"] == "complete" and state["text"] > 0 and state == last:
            return state
        if time.monotonic() > deadline:
            return state
        last = state


def _capture(
    port: int,
    url: str,
    png: Path,
    cookies: dict[str, str],
    width: int,
    height: int,
    settle_s: float,
    timeout_s: float,
) -> PageCheck:
    tools = _DevTools(_page_target(port, 30))
    try:
        tools.call("Network.enable")
        tools.call("Page.enable")
        tools.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        for name, value in cookies.items():
            tools.call("Network.setCookie", name=name, value=value, url=url, httpOnly=True)
        tools.events.clear()
        tools.call("Page.navigate", url=url)
        page = _settled(tools, settle_s, timeout_s)
        shot = tools.call("Page.captureScreenshot", format="png")
        png.write_bytes(base64.b64decode(shot["data"]))
        failed, requested = _failures(tools.events)
    finally:
        tools.close()
    return PageCheck(
        url=url,
        png=png,
        title=str(page["title"]),
        text_chars=int(page["text"]),
        stylesheets=max(requested, int(page["sheets"])),
        failed=failed,
        distinct_colours=_colours(png),
    )
