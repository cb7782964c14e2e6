"""conf.yml: apply starts what it declares and wires its chains, changing
only the difference; diff shows the plan; mistakes are reported with their
line; a step that fails mid-apply is rolled back."""

import os
import subprocess
import sys
import tempfile
import textwrap

import pytest

from pbctl import config
from pbctl.client import Client
from pbctl.launcher import free_port, stop_panel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHELL = os.path.join(ROOT, "controller", "patchbay")


class Declared:
    """A conf.yml of the test's own: unique ports and file prefix."""

    def __init__(self, tmp_path):
        self.dir = tmp_path
        self.prefix = f"pbconf{os.getpid()}"
        self.pri, self.sec, self.api = free_port(), free_port(), free_port()
        self.client = Client("127.0.0.1", self.api)
        self.sock = tmp_path / "vhost0.sock"

    def write(self, chains, name="conf.yml", extra=""):
        text = textwrap.dedent(f"""\
            controller:
              pri_port: {self.pri}
              sec_port: {self.sec}
              api_port: {self.api}
            primary:
              lcores: "0"
              vdevs: [net_null0, net_null1]
              rings: 4
              file_prefix: {self.prefix}
            secondaries:
              - id: 1
                lcores: "1@0"
              - id: 2
                lcores: "2@1"
            {extra}chains:
            """) + textwrap.indent(textwrap.dedent(chains), "  ")
        path = self.dir / name
        path.write_text(text)
        return str(path)

    def shell(self, *args):
        return subprocess.run([sys.executable, SHELL, "-b",
                               f"127.0.0.1:{self.api}", *args],
                              capture_output=True, text=True, timeout=120)

    def nfv(self, nid):
        return self.client.ok("GET", f"/v1/nfvs/{nid}")


CHAIN_A = """\
a:
  hops: [phy:0, nfv 1, ring:0, nfv 2, phy:1]
"""
CHAIN_B = f"""\
b:
  hops: [ring:2, nfv 1, ring:3]
"""


@pytest.fixture
def declared(tmp_path):
    d = Declared(tmp_path)
    yield d
    stop_panel(d.client, d.prefix,
             os.path.join(tempfile.gettempdir(), f"patchbay-{d.prefix}"))


def test_apply_starts_the_panel_and_wires_it_once(declared):
    d = declared
    conf = d.write(CHAIN_A + CHAIN_B)
    r = d.shell("diff", conf)
    assert r.returncode == 0
    assert "start patchbay-ctl" in r.stdout and "nfv 1; patch phy:0 ring:0" \
        in r.stdout
    r = d.shell("apply", conf)
    assert r.returncode == 0, r.stderr
    assert d.nfv(1)["patches"] == [{"src": "phy:0", "dst": "ring:0"},
                                   {"src": "ring:2", "dst": "ring:3"}]
    assert d.nfv(2)["patches"] == [{"src": "ring:0", "dst": "phy:1"}]
    assert d.nfv(1)["status"] == d.nfv(2)["status"] == "running"
    # applying again changes nothing
    r = d.shell("apply", conf)
    assert r.returncode == 0
    assert "nothing to do" in r.stdout
    r = d.shell("--diff", conf)
    assert r.stdout.strip() == "nothing to do: the panel is as the file says"

    # removing a chain from the file tears down just that chain
    conf = d.write(CHAIN_A)
    r = d.shell("diff", conf)
    assert r.stdout.split("\n")[:3] == ["nfv 1; unpatch ring:2",
                                        "nfv 1; del ring:2",
                                        "nfv 1; del ring:3"]
    r = d.shell("apply", conf)
    assert r.returncode == 0, r.stderr
    assert d.nfv(1)["patches"] == [{"src": "phy:0", "dst": "ring:0"}]
    assert d.nfv(1)["ports"] == ["phy:0", "phy:1", "ring:0"]
    assert d.nfv(2)["patches"] == [{"src": "ring:0", "dst": "phy:1"}]


def test_apply_moves_a_ring_between_secondaries(declared):
    d = declared
    d.shell("apply", d.write(CHAIN_A))
    # the same ports, now forwarded the other way round
    conf = d.write("a:\n  hops: [phy:1, nfv 2, ring:0, nfv 1, phy:0]\n")
    r = d.shell("apply", conf)
    assert r.returncode == 0, r.stderr
    assert d.nfv(2)["patches"] == [{"src": "phy:1", "dst": "ring:0"}]
    assert d.nfv(1)["patches"] == [{"src": "ring:0", "dst": "phy:0"}]


def test_failure_mid_apply_is_rolled_back(declared):
    d = declared
    d.shell("apply", d.write(CHAIN_A))
    before = (d.nfv(1), d.nfv(2))
    # a pcap file that cannot be read: its add fails after other steps ran
    conf = d.write(CHAIN_B + """\
c:
  hops: [pcap:0, nfv 2, ring:1]
  options:
    pcap:0: {rx: /nonexistent/in.pcap}
""")
    r = d.shell("apply", conf)
    assert r.returncode == 1
    assert "'nfv 2; add pcap:0 rx=/nonexistent/in.pcap' failed" in r.stderr
    assert "Rolled back" in r.stderr and "nothing changed" in r.stderr
    after = (d.nfv(1), d.nfv(2))
    for b, a in zip(before, after):
        assert (a["ports"], a["patches"], a["status"]) == \
            (b["ports"], b["patches"], b["status"])


MISTAKES = [
    ("a:\n  hops: [phy:0, nfv 1, eth:0]\n", 17,
     "chains.a.hops[2]: 'eth:0' is not a port"),
    ("a:\n  hops: [phy:0, nfv 7, ring:0]\n", 17,
     "chains.a.hops[1]: nfv 7 is not declared under secondaries"),
    ("a:\n  patches:\n    - {nfv: 1, src: phy:0, dst: ring:0}\n"
     "    - {nfv: 2, src: phy:1, dst: ring:0}\n", 19,
     "chains.a.patches[1]: ring:0 already has a writer, nfv 1"),
    ("a:\n  hops: [phy:0, nfv 1, ring:0]\nb:\n  hops: [ring:0, nfv 2, phy:1]\n",
     19, "chains.b.hops[1]: ring:0 is already in chain 'a'"),
    ("a:\n  hops: [phy:0, nfv 1, ring:9]\n", 17,
     "ring:9 does not exist: primary.rings is 4"),
    ("a:\n  hops: [phy:0, nfv 1\n", 18, "not valid YAML"),
    ("a:\n  hops: [phy:0, nfv 1, ring:0]\n  color: red\n", 18,
     "chains.a.color: unknown key"),
    ("a:\n  hops: [phy:0, nfv 1, ring:0]\na:\n  hops: [ring:1, nfv 2]\n", 18,
     "chains.a: given twice (first on line 16)"),
    ("a:\n  hops: " + "[" * 40 + "]" * 40 + "\n", 17,
     "nested more than 32 deep"),
    ("a: &x\n  hops: *x\n", 17,
     "chains.a.hops: an alias inside its own anchor"),
]


def test_files_nothing_could_read_are_refused_by_line(tmp_path):
    """Not UTF-8, aliases that expand a billion-fold, a missing file:
    each refused with the file and line, quickly, without a traceback."""
    laughs = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n"
        for i in range(1, 10))
    cases = [(b"primary:\n  rings: 4\n# caf\xe9\n", "conf.yml:3: not UTF-8"),
             (laughs.encode(), "aliases expand to more than 100000 values"),
             (None, "conf.yml: No such file or directory")]
    for data, words in cases:
        path = tmp_path / "conf.yml"
        if data is None:
            path.unlink()
        else:
            path.write_bytes(data)
        with pytest.raises(config.ConfigError) as e:
            config.load(str(path))
        assert words in str(e.value), e.value


@pytest.mark.parametrize("chains,line,words", MISTAKES)
def test_mistakes_name_the_line_and_change_nothing(declared, chains, line,
                                                   words):
    d = declared
    path = d.write(chains)
    with pytest.raises(config.ConfigError) as e:
        config.load(path)
    assert f"{path}:{line}: " in str(e.value)
    assert words in str(e.value)
    r = d.shell("apply", path)
    assert r.returncode == 1 and words in r.stderr
    assert not d.client.reachable(), "a bad file started something"


def test_repository_conf_yml_is_valid():
    conf = config.load(os.path.join(ROOT, "conf.yml"))
    assert conf["chains"]
    kinds = {p.split(":")[0] for c in conf["chains"].values()
             for _, s, t in c["patches"] for p in (s, t)}
    assert {"phy", "ring", "vhost"} <= kinds


def test_bess_queues_feed_each_port_with_many_flows():
    """BESS_QUEUES > 1: every guest port's null source makes 64 flows, for
    the vhost port to spread over the queues; with one queue, one flow as
    before. Both are valid conf (config.check)."""
    from pbctl import topology
    for queues, want in (("1", {"size": 60}),
                         ("2", {"size": 60, "flows": 64})):
        raw = topology.bess({"secondaries": [{"id": 1}]}, {
            "BESS_VMS": "1", "BESS_PORTS": "2",
            "BESS_QUEUES": queues})
        conf = config.check(raw)
        opts = [c["options"] for c in conf["chains"].values()]
        assert opts and all(o == {f"null:{i}": want}
                            for i, o in enumerate(opts)), opts
        assert all(vm["queues"] == int(queues) for vm in conf["vms"])
