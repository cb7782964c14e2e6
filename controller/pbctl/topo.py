"""The chains as a graph: ports are nodes, each patch an edge labelled
with the process that forwards it. As DOT, as text, and through graphviz
as SVG or PNG."""

import subprocess


def patches(client):
    """[(process name, src, dst)] of every process."""
    out = []
    for proc in client.processes():
        if proc["type"] == "primary":
            fwd = client.ok("GET", "/v1/primary/status").get("forwarder")
            name = "primary"
        else:
            name = f"nfv {proc['client-id']}"
            fwd = client.ok("GET", f"/v1/nfvs/{proc['client-id']}")
        for p in (fwd or {}).get("patches", []):
            out.append((name, p["src"], p["dst"]))
    return out


def _shape(port):
    kind = port.split(":")[0]
    return {"phy": "box3d", "ring": "cylinder", "vhost": "component",
            "virtio": "component"}.get(kind, "box")


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
    """Each chain on a line: phy:0 --nfv 1--> ring:0 --nfv 2--> phy:1"""
    nxt = {src: (proc, dst) for proc, src, dst in edges}
    dsts = {dst for _, _, dst in edges}
    starts = [s for s in nxt if s not in dsts] + sorted(nxt)
    seen, lines = set(), []
    for start in starts:
        if start in seen:
            continue
        text, port = start, start
        seen.add(port)
        while port in nxt:
            proc, port = nxt[port]
            text += f" --{proc}--> {port}"
            if port in seen:
                text += " (loop)"
                break
            seen.add(port)
        lines.append(text)
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
