"""Headless Chromium for the report test, driven over the DevTools protocol on a pipe: the standard library only.

``--remote-debugging-pipe``: Chromium reads commands from its fd 3 and writes replies and events to its fd 4,
each a JSON message ended by a NUL byte; no port is opened, no websocket client needed. The flags keep the
browser off the network (no background requests, no component updates, no QUIC): the page must not need it.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe",
)  # fmt: skip


def chromium_path() -> str | None:
    """The Chromium executable (Debian's ``chromium``), or ``None``."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    """One headless Chromium and one page in it; ``with Chromium(profile) as browser: browser.open(url)``."""

    def __init__(self, profile: Path, timeout: float = 30.0, executable: str | None = None) -> None:
        executable = executable or chromium_path()
        if executable is None:
            raise FileNotFoundError("no chromium on PATH")
        commands_r, self._commands = os.pipe()
        self._replies, replies_w = os.pipe()
        # the child's ends above fd 9, so that bash's redirections to 3 and 4 cannot overwrite one another
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (commands_r, replies_w)]
        self.process = subprocess.Popen(
            ["/bin/bash", "-c", f'exec "$0" "$@" 3<&{ends[0]} 4>&{ends[1]} {ends[0]}<&- {ends[1]}>&-', executable,
             *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=ends,
        )  # fmt: skip
        for fd in (commands_r, replies_w, *ends):
            os.close(fd)
        self.timeout, self.events, self.session = timeout, [], None
        self._messages: queue.Queue[dict | None] = queue.Queue()
        self._next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        pending = b""
        while chunk := os.read(self._replies, 1 << 16):
            *messages, pending = (pending + chunk).split(b"\0")
            for message in messages:
                self._messages.put(json.loads(message))
        self._messages.put(None)  # the browser closed its end

    def _until(self, match: Callable[[dict], bool]) -> dict:
        for i, event in enumerate(self.events):
            if match(event):
                return self.events.pop(i)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                message = self._messages.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"Chromium did not answer within {self.timeout} s") from None
            if message is None:
                raise RuntimeError("Chromium closed the DevTools pipe")
            if match(message):
                return message
            self.events.append(message)

    def call(self, method: str, **params: Any) -> dict:
        """Send a command (to the page once one is open) and return its result."""
        self._next_id += 1
        number = self._next_id
        message = {"id": number, "method": method, "params": params}
        if self.session is not None and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        reply = self._until(lambda m: m.get("id") == number)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def open(self, url: str, width: int = 1280, height: int = 900) -> None:
        """Open ``url`` in a new page of ``width`` x ``height`` CSS pixels and wait for its load event."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", url=url)
        self._until(lambda m: m.get("method") == "Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited); a thrown error fails."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"script error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """The page's console errors, uncaught exceptions and logged errors (failed loads, CSP refusals) so far."""
        self.evaluate("0")  # a round trip: the events sent before it are in
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(str(params["exceptionDetails"]))
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(str(params.get("args")))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(str(params["entry"].get("text")))
        return found

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        """A PNG of the viewport (or the whole page) to ``path``."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params |= {"captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": size["width"],
                                                                "height": size["height"], "scale": 1}}  # fmt: skip
        data = self.call("Page.captureScreenshot", **params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """Close the browser (killed if it does not exit within 10 s)."""
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):  # the reply may not come before it exits
            self.call("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._commands, self._replies):
            os.close(fd)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
