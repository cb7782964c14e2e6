"""A process's reply lines, as the controller reads them: parsed once,
checked against their shape before anything is stored or relayed
(docs/protocol.md). A process is authenticated, not infallible: a reply
of the wrong shape is a refused command, never a 500 for whoever asked
next, and a number that is not finite never reaches an answer."""

import json
import math


class BadReply(ValueError):
    """A reply line that is not one; .req_id: its id if that was read."""

    def __init__(self, why, req_id=None):
        super().__init__(why)
        self.req_id = req_id


def _no_constant(name):
    raise ValueError(f"{name} is not a number JSON has")


def parse(line):
    """The reply object of a line, or BadReply."""
    try:
        reply = json.loads(line, parse_constant=_no_constant)
    except RecursionError:
        raise BadReply("nested too deeply") from None
    except ValueError as e:
        raise BadReply(str(e), _id_anyway(line)) from None
    if not isinstance(reply, dict):
        raise BadReply("not a JSON object")
    req_id = reply.get("id")
    if not isinstance(reply.get("ok"), bool):
        raise BadReply("'ok' is not true or false", req_id)
    if reply["ok"] and not isinstance(reply.get("result", {}), dict):
        raise BadReply("'result' is not an object", req_id)
    if not reply["ok"] and not isinstance(reply.get("error"), str):
        raise BadReply("'error' is not a sentence", req_id)
    return reply


def _id_anyway(line):
    """The id of a line that held Infinity or NaN: its request gets an
    answer at once, not after a time-out."""
    try:
        reply = json.loads(line, parse_constant=lambda name: None)
        return reply.get("id") if isinstance(reply, dict) else None
    except (ValueError, RecursionError):
        return None


NUMBER = "number"
# What a status holds, where it holds it (keys not named here pass as
# they are): a type, [shape] a list of, {"*": shape} a map to, or
# {key: shape} an object whose named keys must fit.
COUNTERS = {"*": NUMBER}
STATUS = {
    "client-id": int, "status": str, "master-lcore": int,
    "lcores": [int], "ports": [str], "port_options": {"*": dict},
    "patches": [{"src": str, "dst": str}], "stats": {"*": COUNTERS},
    "phy_ports": [dict], "ring_ports": [dict], "core": [dict],
    "classifier_table": [dict], "info": dict,
}
STATUS["forwarder"] = STATUS


def _fits(value, shape, where):
    if shape == NUMBER:
        ok = isinstance(value, (int, float)) and \
            not isinstance(value, bool) and math.isfinite(value)
        what = "a number"
    elif isinstance(shape, type):
        ok = isinstance(value, shape) and \
            not (shape is int and isinstance(value, bool))
        what = {int: "an integer", str: "a string", dict: "an object"}[shape]
    elif isinstance(shape, list):
        if not isinstance(value, list):
            raise ValueError(f"{where} is not a list")
        for i, item in enumerate(value):
            _fits(item, shape[0], f"{where}[{i}]")
        return
    else:
        if not isinstance(value, dict):
            raise ValueError(f"{where} is not an object")
        for key, item in value.items():
            sub = shape.get("*", shape.get(key))
            if sub is not None:
                _fits(item, sub, f"{where}.{key}"[:120])
        return
    if not ok:
        raise ValueError(f"{where} is not {what}")


def check_status(status):
    """ValueError saying where a status is not of a status's shape."""
    _fits(status, STATUS, "status")
