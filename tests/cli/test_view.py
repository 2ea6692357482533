"""``graphc view``: the model served to Netron on localhost, loaded by headless Chromium.

The browser test runs only where Chromium is installed (``apt-get install chromium``) and
the ``view`` extra (netron) is present; elsewhere it is skipped with the reason.

Chromium is driven over its DevTools pipe (``--remote-debugging-pipe``: JSON messages on
file descriptors 3 and 4), which needs nothing beyond the standard library: the test sets
Netron's cookie-consent cookie (otherwise Netron waits for a click on "Accept"), loads the
page and polls the rendered graph's text. Every host name but localhost resolves to nothing
(``--host-resolver-rules``), so Netron's usage reporting and its country look-up never leave
the machine.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

import graphc
from graphc import layers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _netron_installed():
    try:
        import netron  # noqa: F401
    except ImportError:
        return False
    return True


def small_model():
    x = graphc.Input(shape=(6,), name="pixels_in")
    h = layers.Dense(8, activation="relu", name="hidden")(x)
    a = layers.Dense(1, name="score_out")(h)
    b = layers.Dense(3, activation="softmax", name="class_out")(h)
    return graphc.Model(x, [a, b], name="viewed")


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def _start_view(path, *extra, env=None):
    """``graphc view PATH --no-browser --port 0``; returns (process, url)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "graphc", "view", str(path), "--no-browser", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or _env(),
        cwd=ROOT,
    )
    line = proc.stdout.readline()
    if " at http://" not in line:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"graphc view printed {line!r}; stderr: {err}")
    return proc, line.split(" at ", 1)[1].split()[0]


def _stop(proc):
    proc.terminate()  # graphc view stops Netron and removes its temporary export on SIGTERM
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


class _DevTools:
    """The smallest DevTools client: commands over Chromium's debugging pipe."""

    def __init__(self, chromium, profile):
        import fcntl

        def high(fd):  # above 10: putting the pipe on fds 3 and 4 cannot overwrite it
            copy = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
            os.close(fd)
            return copy

        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        to_browser_r, from_browser_w = high(to_browser_r), high(from_browser_w)

        def pipe_on_3_and_4():  # in the child, before exec; dup2's copies are inherited
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.proc = subprocess.Popen(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-dev-shm-usage",
                f"--user-data-dir={profile}",
                "--remote-debugging-pipe",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
                "--window-size=1200,900",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # close_fds would close 3 and 4 after preexec_fn; Python's own descriptors are
            # close-on-exec anyway.
            close_fds=False,
            preexec_fn=pipe_on_3_and_4,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._id = 0

    def send(self, method, session=None, timeout=30.0, **params):
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._id:
                    if "error" in reply:
                        raise AssertionError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise AssertionError("Chromium closed its debugging pipe")
            self._buffer += chunk
        raise AssertionError(f"no answer to {method} in {timeout} s")

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except (AssertionError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self._to_browser)
        os.close(self._from_browser)


def _render_in_chromium(url, profile, screenshot=None, timeout=60.0):
    """The text of the graph Netron draws at ``url`` (its SVG's text elements)."""
    browser = _DevTools(_chromium(), profile)
    try:
        targets = browser.send("Target.getTargets")["targetInfos"]
        page = next(t["targetId"] for t in targets if t["type"] == "page")
        session = browser.send("Target.attachToTarget", targetId=page, flatten=True)["sessionId"]
        browser.send(
            "Storage.setCookies",
            cookies=[
                {
                    "name": "consent",
                    "value": str(int(time.time() * 1000)),
                    "domain": "localhost",
                    "path": "/",
                }
            ],
        )
        browser.send("Page.enable", session=session)
        browser.send("Page.navigate", session=session, url=url)
        expression = (
            "Array.from(document.querySelectorAll('svg text, svg tspan'))"
            ".map(t => t.textContent).join('\\n')"
        )
        text = ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = browser.send(
                "Runtime.evaluate", session=session, expression=expression, returnByValue=True
            )
            text = result.get("result", {}).get("value") or ""
            if "Gemm" in text:
                time.sleep(0.5)  # let the drawing finish before the picture
                break
            time.sleep(0.5)
        if screenshot:
            shot = browser.send("Page.captureScreenshot", session=session, format="png")
            with open(screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
        return text
    finally:
        browser.close()


@pytest.mark.skipif(
    _chromium() is None, reason="Chromium is not installed (apt-get install chromium)"
)
@pytest.mark.skipif(
    not _netron_installed(), reason="Netron is not installed (pip install 'graphc[view]')"
)
@pytest.mark.slow
def test_netron_shows_the_model_in_headless_chromium(tmp_path):
    # A .graphc goes through a temporary .onnx: the same page (see the test below).
    path = tmp_path / "viewed.onnx"
    small_model().export(str(path))
    proc, url = _start_view(path)
    try:
        assert url.startswith("http://localhost:")
        text = _render_in_chromium(url, tmp_path / "profile", screenshot=tmp_path / "netron.png")
    finally:
        _stop(proc)
    # The graph's inputs, outputs and operators, as Netron draws them.
    for name in ("pixels_in", "score_out", "class_out", "Gemm", "Relu", "Softmax"):
        assert name in text, f"{name!r} not in Netron's drawing: {text[:500]!r}"
    assert (tmp_path / "netron.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_view_serves_the_model_file(tmp_path):
    """Without a browser: the address serves Netron's page and the model's bytes."""
    pytest.importorskip("netron", reason="Netron is not installed (pip install 'graphc[view]')")
    import urllib.request

    path = tmp_path / "m.onnx"
    small_model().export(str(path))
    proc, url = _start_view(path)
    try:
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        assert "<title>Netron</title>" in page and "/data/m.onnx" in page
        served = urllib.request.urlopen(url + "/data/m.onnx", timeout=10).read()
        assert served == path.read_bytes()
    finally:
        _stop(proc)
    assert proc.returncode == 0


def test_view_of_a_saved_model_cleans_its_temporary_export(tmp_path):
    pytest.importorskip("netron", reason="Netron is not installed (pip install 'graphc[view]')")
    import urllib.request

    path = tmp_path / "m.graphc"
    small_model().save(str(path))
    temp = tmp_path / "temp"
    temp.mkdir()
    proc, url = _start_view(path, env=_env(TMPDIR=str(temp)))
    try:
        page = urllib.request.urlopen(url, timeout=10).read().decode()
        served_name = page.split('<meta name="file" content="/data/', 1)[1].split('"')[0]
        assert served_name == "viewed.onnx"
        onnx_bytes = urllib.request.urlopen(url + "/data/viewed.onnx", timeout=10).read()
        import onnx

        names = {o.name for o in onnx.load_from_string(onnx_bytes).graph.output}
        assert names == {"score_out", "class_out"}
        assert [p for p in temp.iterdir() if p.name.startswith("graphc-view-")]
    finally:
        _stop(proc)
    assert proc.returncode == 0
    # The temporary export is gone.
    assert [p for p in temp.iterdir() if p.name.startswith("graphc-view-")] == []


def test_view_without_netron_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    from graphc.cli import main

    monkeypatch.setitem(sys.modules, "netron", None)  # `import netron` raises ImportError
    path = tmp_path / "m.onnx"
    small_model().export(str(path))
    assert main(["view", str(path), "--no-browser"]) == 1
    err = capsys.readouterr().err
    assert "pip install 'graphc[view]'" in err and err.count("\n") == 1


def test_view_of_a_missing_file(tmp_path, capsys):
    from graphc.cli import main

    pytest.importorskip("netron")
    assert main(["view", str(tmp_path / "nope.onnx"), "--no-browser"]) == 1
    assert "No such model file" in capsys.readouterr().err
