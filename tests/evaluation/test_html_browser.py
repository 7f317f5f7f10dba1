"""The HTML pages as a person sees them: headless Chromium renders the token-credit page and
a run report, a mouse hovers a token, and the screenshots are checked (not blank, the heat
map's colours and the embedded plot are there).

Chromium is driven over --remote-debugging-pipe (the DevTools protocol as NUL-separated
JSON on fds 3/4): no websocket library, no browser download. Debian's `chromium` is
installed by scripts/setup_system.sh (`make install`); where it could be installed (root +
apt-get) but is missing, the test fails instead of skipping.
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags that keep Chromium quiet on a closed network (root needs --no-sandbox).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio"]


@pytest.fixture(scope="module")
def chromium() -> str:
    if CHROMIUM:
        return CHROMIUM
    if os.geteuid() == 0 and shutil.which("apt-get"):
        pytest.fail("chromium is installable here but missing: run scripts/setup_system.sh")
    pytest.skip("no chromium, and no root/apt-get to install it")


class Browser:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, exe: str, width: int = 1200, height: int = 900):
        self.tmp = tempfile.mkdtemp(prefix="sd-chromium-")
        cmd_r, self._cmd_w = os.pipe()
        self._resp_r, resp_w = os.pipe()

        def fds() -> None:  # the child reads commands on fd 3 and answers on fd 4
            a, b = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (cmd_r, resp_w))
            os.dup2(a, 3)
            os.dup2(b, 4)

        # pass_fds keeps 3 and 4 open: Popen closes other descriptors after preexec_fn.
        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={self.tmp}", "--remote-debugging-pipe",
             f"--window-size={width},{height}", "about:blank"],
            preexec_fn=fds, pass_fds=(3, 4), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(resp_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target,
                                                           "flatten": True})["sessionId"]
        self.call("Page.enable", session=True)
        self.call("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=True)

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self._resp_r, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the debugging pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, params: dict[str, Any] | None = None, *, session: bool = False,
             timeout: float = 30.0) -> dict[str, Any]:
        self._id += 1
        msg: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._read(deadline)
            if m.get("id") == self._id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def open(self, path: Path) -> None:
        self.events.clear()
        self.call("Page.navigate", {"url": path.resolve().as_uri()}, session=True)
        deadline = time.monotonic() + 30
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.events.append(self._read(deadline))

    def js(self, expr: str) -> Any:
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True},
                      session=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def hover(self, x: float, y: float) -> None:
        self.call("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y},
                  session=True)

    def screenshot(self, path: Path) -> Any:
        from PIL import Image

        data = base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"},
                                          session=True)["data"])
        path.write_bytes(data)
        return Image.open(io.BytesIO(data)).convert("RGB")

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except Exception:  # already gone: nothing to close
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._cmd_w)
        os.close(self._resp_r)
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(chromium: str):
    b = Browser(chromium)
    yield b
    b.close()


def _stats(img: Any) -> tuple[int, float, int]:
    """(distinct colours, non-white fraction, strongly red pixels) of a screenshot."""
    counts = img.getcolors(img.width * img.height)  # [(count, (r, g, b)), ...]
    total = img.width * img.height
    nonwhite = sum(n for n, (r, g, b) in counts if r + g + b < 720) / total
    red = sum(n for n, (r, g, b) in counts if r > 170 and g < 110 and b < 110)
    return len(counts), nonwhite, red


def _record() -> Any:
    from selfdistill.analysis.credit import CreditRecord, TokenCredit

    texts = ["```", "python", "\n", "def", " numbers", "(n", "):", "\n", "   ", " return",
             " list", "(range", "(", "1", ",", " n", " +", " ", "1", "))", "\n", "```"]
    advs = [-0.3, 0, 0, 0, -0.3, 0.5, 0, 0, 0, -0.1, -0.2, 0, 0, 0.05, 0, -2.1, -1.2, 0, -0.9,
            0, 0, 0]
    toks = [TokenCredit(i, t, -0.5, -0.5 + a, [(t, -0.5 + a, -0.5), (")", -1.1, -3.0)])
            for i, (t, a) in enumerate(zip(texts, advs, strict=True))]
    return CreditRecord(prompt="Write a python function that returns all numbers from 1 to n.",
                        answer="".join(texts), teacher_message="... feedback ...", tokens=toks,
                        grpo_advantage=-0.5, reward=0.0, group_rewards=[0.0, 1.0],
                        feedback="Don't include n.", model="test")


def test_credit_page_renders_with_heat_map_hover_and_table(browser, tmp_path):
    from selfdistill.analysis.credit_view import write_html

    rec = _record()
    page = write_html([rec], tmp_path / "credit.html")
    browser.open(page)
    assert browser.js("document.querySelectorAll('#sdpo-0 .tok').length") == len(rec.tokens)
    assert browser.js("document.querySelectorAll('#table-0 tbody tr').length") == len(rec.tokens)
    assert browser.js("document.querySelectorAll('#table-0 tr.blamed').length") == 5
    assert browser.js("document.getElementById('summary-0').innerText").startswith(
        "Most negative A_t: \" n\" (-2.10, #15)")
    img = browser.screenshot(tmp_path / "credit.png")
    colours, nonwhite, red = _stats(img)
    assert colours > 50 and nonwhite > 0.05 and red > 800, (colours, nonwhite, red)

    # Hover the most blamed token: the tooltip shows both probabilities and alternatives.
    assert browser.js("document.getElementById('tip').hidden") is True
    box = browser.js("(() => { const r = document.querySelector('#sdpo-0 .tok[data-i=\"15\"]')"
                     ".getBoundingClientRect(); return [r.left + r.width / 2, "
                     "r.top + r.height / 2]; })()")
    browser.hover(*box)
    tip = browser.js("(() => { const t = document.getElementById('tip'); "
                     "return t.hidden ? null : t.innerText; })()")
    assert tip is not None and '#15 " n"' in tip
    assert "student p 60.7%" in tip and "teacher p 7.4%" in tip and "A_t = -2.100" in tip
    assert "teacher prefers" in tip and '")"' in tip
    hovered = browser.screenshot(tmp_path / "credit-hover.png")
    assert _stats(hovered)[1] > nonwhite  # the dark tooltip is on screen


def test_report_page_renders_tables_plot_and_config(browser, tmp_path):
    from selfdistill.evaluation.report import markdown_table, plot_curves_with_ci
    from selfdistill.evaluation.report_html import write_html_report

    plot = plot_curves_with_ci({"base": [(0.0, 0.2, 0.1, 0.3), (0.8, 0.3, 0.2, 0.4)],
                                "ssd": [(0.0, 0.25, 0.15, 0.35), (0.8, 0.4, 0.3, 0.5)]},
                               tmp_path / "pass1.png", xlabel="T", ylabel="pass@1",
                               title="plot")
    md = tmp_path / "report.md"
    md.write_text("\n\n".join([
        "# SSD report", "Some **numbers**.",
        markdown_table(["model", "pass@1"], [["base", "20.0%"], ["SSD", "25.0%"]]),
        f"![pass@1]({plot.name})"]) + "\n")
    (tmp_path / "config.yaml").write_text("recipe: ssd\nrun_dir: runs/x\n")
    page = write_html_report(md)
    plot.unlink()  # the page must not need the PNG beside it
    browser.open(page)
    assert browser.js("document.title") == "SSD report"
    assert browser.js("document.querySelectorAll('main table tbody tr').length") == 2
    assert browser.js("document.querySelector('main img').naturalWidth") > 100
    assert "selfdistill ssd run" in browser.js("document.getElementById('reproduce')"
                                               ".nextElementSibling.innerText")
    assert "recipe: ssd" in browser.js("document.body.innerText")
    img = browser.screenshot(tmp_path / "report.png")
    colours, nonwhite, _ = _stats(img)
    assert colours > 50 and nonwhite > 0.03, (colours, nonwhite)
