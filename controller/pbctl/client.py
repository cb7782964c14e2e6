"""A client of patchbay-ctl's REST API."""

import http.client
import json
import os


class ClientError(Exception):
    """The controller answered with an error; str(e) is its reason."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class NotRest(OSError):
    """What answered is not patchbay-ctl's REST API (not HTTP, or not
    JSON): an OSError, so every caller that handles an unreachable
    controller handles this too."""


class Client:
    def __init__(self, host="127.0.0.1", port=7777, timeout=60, token=None):
        self.host, self.port, self.timeout = host, port, timeout
        self.token = token or os.environ.get("PATCHBAY_TOKEN") or None

    @classmethod
    def parse(cls, hostport):
        """From "HOST:PORT"; ValueError if malformed."""
        host, _, port = hostport.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"'{hostport}' is not HOST:PORT")
        return cls(host.strip("[]"), int(port))

    def __str__(self):
        return f"{self.host}:{self.port}"

    def call(self, method, path, body=None):
        """(status, payload) of one request; OSError if unreachable."""
        conn = http.client.HTTPConnection(self.host, self.port,
                                          timeout=self.timeout)
        try:
            data = None if body is None else json.dumps(body)
            headers = {"Content-Type": "application/json"} if data else {}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None)
        except (http.client.HTTPException, ValueError) as e:
            if isinstance(e, ConnectionError):    # closed mid-answer
                raise
            raise NotRest(f"{self} does not answer as patchbay-ctl's REST "
                          f"API ({type(e).__name__}): is it the REST port "
                          "(patchbay-ctl -a, 7777 by default)?") from None
        finally:
            conn.close()

    def ok(self, method, path, body=None):
        """The payload of a successful request, or ClientError."""
        status, payload = self.call(method, path, body)
        if status >= 400:
            why = payload.get("error") if isinstance(payload, dict) else None
            raise ClientError(status, why or f"HTTP {status}")
        return payload

    def reachable(self):
        try:
            self.call("GET", "/v1/processes")
            return True
        except OSError:
            return False

    def processes(self):
        return self.ok("GET", "/v1/processes")
