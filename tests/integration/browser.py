"""A real browser for the tests: headless Chromium (Debian's chromium),
driven through the DevTools protocol over its websocket (aiohttp's
client). evaluate() runs JavaScript in the page, screenshot() saves a
PNG. Started with a profile of its own, ended by its PID."""

import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import aiohttp


class Browser:
    def __init__(self, url, width=1400, height=900):
        self.profile = tempfile.mkdtemp(prefix="pb-chromium-")
        self.proc = subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--disable-extensions",
             "--disable-background-networking", "--disable-sync",
             f"--user-data-dir={self.profile}",
             "--remote-debugging-port=0", f"--window-size={width},{height}",
             url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
            # its singleton socket and temporary files go with the profile
            env=dict(os.environ, TMPDIR=self.profile))
        self.loop = asyncio.new_event_loop()
        self.session = self.ws = None
        self.ids = 0
        try:
            self.loop.run_until_complete(self._attach(url))
        except Exception:
            self.close()
            raise

    def _devtools_port(self, timeout=60):
        path = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited ({self.proc.returncode})")
            if os.path.exists(path):
                with open(path) as f:
                    first = f.readline().strip()
                if first:
                    return int(first)
            time.sleep(0.1)
        raise RuntimeError("chromium did not open its DevTools port")

    async def _attach(self, url):
        port = self._devtools_port()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list",
                                    timeout=10) as r:
            pages = [t for t in json.loads(r.read()) if t["type"] == "page"]
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(
            pages[0]["webSocketDebuggerUrl"], max_msg_size=0)

    async def _call(self, method, params):
        self.ids += 1
        await self.ws.send_json({"id": self.ids, "method": method,
                                 "params": params})
        while True:
            msg = json.loads((await self.ws.receive()).data)
            if msg.get("id") == self.ids:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def call(self, method, **params):
        return self.loop.run_until_complete(
            asyncio.wait_for(self._call(method, params), 30))

    def evaluate(self, expression):
        """The JSON value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression,
                           returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        async def hang_up():
            if self.ws is not None:
                await self.ws.close()
            if self.session is not None:
                await self.session.close()
        self.loop.run_until_complete(hang_up())
        self.loop.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)
