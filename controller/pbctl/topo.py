"""The chains as a graph: ports are nodes, each patch an edge labelled
with the process that forwards it; a classifier fans out (an edge to each
of its tx ports), a merge fans in, a mirror has an edge to its copy port,
a capture an edge to its files. As DOT, as text, and through graphviz as
SVG or PNG."""

import subprocess


def _component_edges(name, status):
    out = []
    for c in status.get("components", []):
        if "name" not in c:
            continue
        label = f"{name} {c['name']}"
        tx = [p["port"] for p in c["tx_port"]]
        for rx in (p["port"] for p in c["rx_port"]):
            for i, dst in enumerate(tx):
                copy = c["type"] == "mirror" and i == 1
                out.append((label + (" (copy)" if copy else ""), rx, dst))
    return out


def edges(kind, name, status):
    """[(process name, src, dst)] of one process, from its status as the
    REST API answers it."""
    if kind in ("vf", "mirror"):
        return _component_edges(name, status)
    if kind == "pcap":
        cap = status.get("capture", {})
        how = "tap " + cap.get("dir", "") if cap.get("mode") == "tap" \
            else "consumes"
        return [(f"{name} ({how})", cap.get("port", "?"),
                 f"files:{cap.get('out_dir', '?')}")]
    fwd = status.get("forwarder") if kind == "primary" else status
    return [(name, p["src"], p["dst"]) for p in (fwd or {}).get("patches",
                                                              [])]


def patches(client):
    """[(process name, src, dst)] of every process."""
    out = []
    for proc in client.processes():
        kind, cid = proc["type"], proc.get("client-id")
        if kind == "primary":
            name, path = "primary", "/v1/primary/status"
        else:
            name, path = f"{kind} {cid}", f"/v1/{kind}s/{cid}"
        out += edges(kind, name, client.ok("GET", path))
    return out


def _shape(port):
    kind = port.split(":")[0]
    return {"phy": "box3d", "ring": "cylinder", "vhost": "component",
            "virtio": "component", "files": "folder",
            "af_packet": "box3d"}.get(kind, "box")


def to_dot(edges):
    ports = sorted({p for _, s, d in edges for p in (s, d)})
    lines = ["digraph patchbay {", "  rankdir=LR;",
             '  node [fontname="monospace"];']
    for port in ports:
        lines.append(f'  "{port}" [shape={_shape(port)}];')
    for proc, src, dst in edges:
        lines.append(f'  "{src}" -> "{dst}" [label="{proc}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_text(edges):
    """Each path on a line: phy:0 --nfv 1--> ring:0 --nfv 2--> phy:1; a
    fan-out gives a line per branch (after the first, the shared part is
    left blank), a fan-in joins a path already drawn ("(joins)")."""
    nxt = {}
    for proc, src, dst in edges:
        nxt.setdefault(src, []).append((proc, dst))
    dsts = {dst for _, _, dst in edges}
    starts = sorted(s for s in nxt if s not in dsts) + sorted(nxt)
    seen, lines = set(), []

    def walk(port, text, pad):
        seen.add(port)
        branches = nxt.get(port, [])
        if not branches:
            lines.append(text)
        for n, (proc, dst) in enumerate(branches):
            line = (text if n == 0 else " " * pad) + f" --{proc}--> {dst}"
            if dst in seen:
                lines.append(line + (" (loop)" if dst in path else
                                     " (joins)"))
                continue
            path.add(dst)
            walk(dst, line, len(line))
            path.discard(dst)

    for start in starts:
        if start not in seen:
            path = {start}
            walk(start, start, len(start))
    return "\n".join(lines) if lines else "(no patches)"


def render(dot, path):
    """Write DOT to path, or SVG/PNG through graphviz, by its extension."""
    fmt = path.rsplit(".", 1)[-1].lower()
    if fmt == "dot":
        with open(path, "w") as f:
            f.write(dot)
        return
    if fmt not in ("svg", "png"):
        raise ValueError("topo writes .dot, .svg or .png files")
    try:
        subprocess.run(["dot", f"-T{fmt}", "-o", path], input=dot.encode(),
                       check=True, capture_output=True, timeout=60)
    except FileNotFoundError:
        raise ValueError("graphviz's dot is not installed "
                         "(apt-get install graphviz)") from None
    except subprocess.CalledProcessError as e:
        raise ValueError(f"graphviz failed: {e.stderr.decode().strip()}") \
            from None
