"""Write and read classic pcap files, so tests can send known packets and
check what comes out byte for byte."""

import struct

MAGIC = 0xa1b2c3d4


def make_packets(count, min_size=60, max_size=1514):
    """Ethernet frames of varying size carrying their sequence number."""
    span = max_size - min_size + 1
    packets = []
    for seq in range(count):
        size = min_size + (seq * 37) % span
        head = bytes.fromhex("020000000002" "020000000001" "88b5")
        body = struct.pack(">I", seq)
        body += bytes((seq + i) & 0xff for i in range(size - len(head) - 4))
        packets.append(head + body)
    return packets


def write(path, packets):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", MAGIC, 2, 4, 0, 0, 65535, 1))
        for i, p in enumerate(packets):
            f.write(struct.pack("<IIII", i // 1000000, i % 1000000,
                                len(p), len(p)))
            f.write(p)


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return []
    assert struct.unpack("<I", data[:4])[0] == MAGIC, "not a pcap file"
    off, packets = 24, []
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack("<IIII", data[off:off + 16])
        off += 16
        packets.append(data[off:off + incl])
        off += incl
    return packets


def seq(packet):
    return struct.unpack(">I", packet[14:18])[0]
