"""conf.yml with vf, mirror and pcap secondaries: apply starts them and
makes their components, ports (with VLAN ops) and classifier tables; a
changed classifier entry changes only that entry; diff and topo show
them; mistakes name their line."""

import textwrap

import pytest

from pbctl import config
from test_config import Declared, declared  # noqa: F401  (fixture)

VF = """\
  - id: 3
    type: vf
    lcores: "3@1,4@1"
    components:
      cls1: {core: 4, type: classifier, rx: [ring:0],
             tx: [ring:1, {port: ring:2, vlan: {operation: add, id: 10,
                                                  pcp: 3}}]}
      merge1: {core: 4, type: merge, rx: [ring:1, ring:2], tx: [ring:3]}
    classifier_table:
      - {mac: "52:54:00:00:00:01", port: ring:1}
      - {mac: "52:54:00:00:00:02", port: ring:1}
      - {vlan: 10, mac: default, port: ring:2}
  - id: 4
    type: mirror
    lcores: "5@0,6@0"
    components:
      mr1: {core: 6, type: mirror, rx: [phy:0], tx: [phy:1, null:5],
            copy: deep}
  - id: 5
    type: pcap
    lcores: "7@1,8@1"
    capture: {port: ring:3, out_dir: OUT, fsize: 1048576, tap: rx}
"""


def conf(d, tmp_path, vf=VF, primary=""):
    """d's panel (nfvs 1 and 2 as Declared has them) plus vf; primary:
    more of the primary's keys."""
    text = textwrap.dedent(f"""\
        controller:
          pri_port: {d.pri}
          sec_port: {d.sec}
          api_port: {d.api}
        primary:
          lcores: "0"
          vdevs: [net_null0, net_null1]
          rings: 4
          file_prefix: {d.prefix}
        """) + primary + textwrap.dedent("""\
        secondaries:
          - id: 1
            lcores: "1@0"
        """) + vf.replace("OUT", str(tmp_path)) + "chains: {}\n"
    path = d.dir / "conf.yml"
    path.write_text(text)
    return str(path)


def test_apply_makes_components_tables_and_captures(declared, tmp_path):
    d = declared
    path = conf(d, tmp_path, VF.replace("\n  - id: 4", "\nX").split("\nX")[0]
                + "\n")
    out = d.shell("apply", path)
    assert out.returncode == 0, out.stdout + out.stderr
    vf = d.client.ok("GET", "/v1/vfs/3")
    comps = {c["name"]: c for c in vf["components"] if "name" in c}
    assert [p["port"] for p in comps["merge1"]["rx_port"]] == \
        ["ring:1", "ring:2"]
    assert comps["cls1"]["tx_port"][1]["vlan"] == \
        {"operation": "add", "id": 10, "pcp": 3}
    assert len(vf["classifier_table"]) == 3
    again = d.shell("apply", path)
    assert "nothing to do" in again.stdout, again.stdout


def test_a_changed_entry_changes_only_that_entry(declared, tmp_path):
    d = declared
    full = VF.split("\n  - id: 4")[0] + "\n"
    path = conf(d, tmp_path, full)
    assert d.shell("apply", path).returncode == 0
    changed = full.replace('"52:54:00:00:00:02", port: ring:1',
                           '"52:54:00:00:00:03", port: ring:1')
    path = conf(d, tmp_path, changed)
    plan = d.shell("diff", path)
    lines = [x for x in plan.stdout.splitlines() if x.startswith("vf ")]
    assert lines == ["vf 3; classifier_table del mac 52:54:00:00:00:02 "
                     "ring:1",
                     "vf 3; classifier_table add mac 52:54:00:00:00:03 "
                     "ring:1"], plan.stdout
    assert d.shell("apply", path).returncode == 0
    values = {e["value"] for e in
              d.client.ok("GET", "/v1/vfs/3")["classifier_table"]}
    assert values == {"52:54:00:00:00:01", "52:54:00:00:00:03",
                      "10/default"}


def test_mirror_and_pcap_from_the_file(declared, tmp_path):
    d = declared
    path = conf(d, tmp_path)
    out = d.shell("apply", path)
    assert out.returncode == 0, out.stdout + out.stderr
    mirror = d.client.ok("GET", "/v1/mirrors/4")
    assert mirror["components"][0]["copy"] == "deep"
    pcap = d.client.ok("GET", "/v1/pcaps/5")
    assert pcap["status"] == "running"
    assert pcap["capture"]["mode"] == "tap"
    assert pcap["capture"]["fsize"] == 1048576
    # capture options change: the pcap is started again with them
    path = conf(d, tmp_path, VF.replace("fsize: 1048576", "fsize: 2097152"))
    out = d.shell("apply", path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "pcap 5; exit (its capture options change)" in out.stdout
    assert d.client.ok("GET", "/v1/pcaps/5")["capture"]["fsize"] == 2097152


QUEUES = "  queues: {0: 2, 1: {rx: 1, tx: 3}}\n"
QUEUE_VF = """\
  - id: 3
    type: vf
    lcores: "3@1,4@1"
    components:
      f1: {core: 4, type: forward, rx: [phy:0nq1], tx: [phy:1nq2]}
"""


def test_phy_queues_from_the_file(declared, tmp_path):
    """primary.queues starts the primary with --port-num N rxq R txq T;
    a component reads and writes single queues (phy:NnqQ)."""
    d = declared
    out = d.shell("apply", conf(d, tmp_path, QUEUE_VF, QUEUES))
    assert out.returncode == 0, out.stdout + out.stderr
    rows = d.client.ok("GET", "/v1/primary/status")["phy_ports"]
    assert [r["nof_queues"] for r in rows] == [{"rx": 2, "tx": 2},
                                              {"rx": 1, "tx": 3}]
    f1 = d.client.ok("GET", "/v1/vfs/3")["components"][0]
    assert [f1["rx_port"][0]["port"], f1["tx_port"][0]["port"]] == \
        ["phy:0nq1", "phy:1nq2"]
    with pytest.raises(Exception, match="phy:1nq1 cannot be read: phy:1 "
                       "has 1 rx queue"):
        d.client.ok("PUT", "/v1/nfvs/1/patches",
                    {"src": "phy:1nq1", "dst": "phy:0"})


@pytest.mark.parametrize("bad,primary,says", [
    (QUEUE_VF.replace("phy:0nq1", "phy:0nq2"), QUEUES,
     "phy:0nq2 does not exist: phy:0 has 2 rx and 2 tx queues"),
    (QUEUE_VF, QUEUES.replace("1: {rx", "2: {rx"),
     "phy:2 is not in primary.portmask"),
    (QUEUE_VF, QUEUES.replace("0: 2", "0: 65"),
     "must be a whole number from 1 to 64"),
    (QUEUE_VF.replace("phy:0nq1", "ring:0nq1"), QUEUES, "is not a port"),
])
def test_queue_mistakes_name_their_line(tmp_path, bad, primary, says):
    d = Declared(tmp_path)
    path = conf(d, tmp_path, bad, primary)
    with pytest.raises(config.ConfigError) as e:
        config.load(path)
    assert says in str(e.value), str(e.value)
    assert str(e.value).startswith(f"{path}:")


@pytest.mark.parametrize("bad,says", [
    (VF.replace("core: 4, type: classifier", "core: 3, type: classifier"),
     "lcore 3 is not a worker lcore of vf 3"),
    (VF.replace("type: classifier", "type: classifier_mac"),
     "must be forward or merge or classifier"),
    (VF.replace('"52:54:00:00:00:02"', '"fa-16-3e-00-00-02"'),
     "is not a MAC address"),
    (VF.replace("{vlan: 10, mac: default, port: ring:2}",
                "{vlan: 4096, mac: default, port: ring:2}"),
     "must be a whole number from 0 to 4095"),
    (VF.replace("{vlan: 10, mac: default, port: ring:2}",
                "{mac: \"52:54:00:00:00:01\", port: ring:2}"),
     "already goes to ring:1"),
    (VF.replace("id: 10,\n", "id: 10, pcp: 9}}]}\nX").split("X")[0] +
     "      merge1: {core: 4, type: merge, rx: [ring:1], tx: [ring:3]}\n",
     "must be a whole number from 0 to 7"),
    (VF.replace("rx: [ring:1, ring:2], tx: [ring:3]",
                "rx: [ring:1], tx: [ring:3, ring:0]"),
     "a merge component has at most 1 tx port"),
    (VF.replace("rx: [ring:1, ring:2], tx: [ring:3]",
                "rx: [ring:0], tx: [ring:3]"),
     "ring:0 is already an rx port of cls1"),
    (VF.replace("tx: [phy:1, null:5],", "tx: [phy:1, null:5], "
                "rx2: [ring:1],"), "unknown key"),
    (VF.replace("tx: [phy:1, null:5]", "tx: [phy:1, ring:2]"),
     "ring:2 is already written by vf 3 cls1"),
    (VF.replace("capture: {port: ring:3,", "capture: {"),
     "'port' is missing"),
    (VF.replace("type: pcap", "type: router"),
     "must be nfv, vf, mirror or pcap"),
])
def test_mistakes_name_their_line(tmp_path, bad, says):
    d = Declared(tmp_path)
    path = conf(d, tmp_path, bad)
    with pytest.raises(config.ConfigError) as e:
        config.load(path)
    assert says in str(e.value), str(e.value)
    assert str(e.value).startswith(f"{path}:")
