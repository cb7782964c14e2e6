"""Lcore ids: every process of a panel runs on ids of its own.

DPDK's mempool keeps a cache per lcore id inside the pool, in shared
memory, without a lock; two live processes on one id lose mbufs
(docs/design.md). EAL's --lcores puts several ids on one CPU ("3@0"), so
processes may outnumber CPUs without sharing an id.
"""

import re

MAX_LCORE = 128      # DPDK's RTE_MAX_LCORE
_RANGE = r"\d+(?:-\d+)?"
_GROUP = rf"(?:{_RANGE}|\({_RANGE}(?:,{_RANGE})*\))"
_ELEMENT = re.compile(rf"({_GROUP})(?:@({_GROUP}))?(,|$)")


def _numbers(group, limit, what):
    out = set()
    for a, b in re.findall(r"(\d+)(?:-(\d+))?", group):
        a, b = int(a), int(b or a)
        if a > b or b >= limit:
            raise ValueError(f"{what} {b} is out of range (0 to {limit - 1})")
        out.update(range(a, b + 1))
    return out


def parse(text):
    """EAL's --lcores ("1", "3@0", "1@0,2@1", "(4-5)@(0,1)") as
    {lcore id: set of CPUs}; ValueError says what is wrong."""
    text, pos, out = str(text), 0, {}
    while pos < len(text) or not out:
        m = _ELEMENT.match(text, pos)
        if m is None or (m.group(3) == "," and m.end() == len(text)):
            raise ValueError(f"'{text}' is not an lcore list EAL reads "
                             "(ID or ID@CPU, comma-separated, e.g. "
                             "\"3@0,4@1\")")
        ids = _numbers(m.group(1), MAX_LCORE, "lcore id")
        for i in ids:
            out[i] = (_numbers(m.group(2), 1024, "CPU") if m.group(2)
                      else {i})
        pos = m.end()
    return out


def on_cpus(cpus, taken):
    """--lcores for CPUs "0,1": a free id (not in taken) for each."""
    cpus = [c.strip() for c in str(cpus).split(",")]
    if not all(c.isdigit() for c in cpus):
        raise ValueError(f"'{','.join(cpus)}' is not a list of CPUs "
                         "(e.g. \"1\" or \"0,1\")")
    ids = [i for i in range(MAX_LCORE) if i not in taken][:len(cpus)]
    if len(ids) < len(cpus):
        raise ValueError(f"no free lcore ids left (0 to {MAX_LCORE - 1})")
    return ",".join(f"{i}@{c}" for i, c in zip(ids, cpus))
