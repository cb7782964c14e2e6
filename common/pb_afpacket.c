/* SPDX-License-Identifier: BSD-3-Clause */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "pb_afpacket.h"

#define RX_BATCH 8                  /* messages a recvmmsg */
#define TX_BATCH 32
#define MAX_FRAME (64 * 1024 + 256) /* a GSO super-frame and its headers */
#define MAX_SEGMENTS 64             /* of one super-frame */
#define PENDING (RX_BATCH * MAX_SEGMENTS)
#define RCVBUF (4 << 20)
#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5
#endif
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

struct pb_afpacket {
	int fd;
	char iface[IF_NAMESIZE];
	struct rte_mempool *pool;
	uint8_t *frames;               /* RX_BATCH x MAX_FRAME */
	struct virtio_net_hdr vnet[RX_BATCH];
	struct rte_mbuf *pending[PENDING];  /* frames cut, not yet taken */
	unsigned int pending_head, pending_count;
	uint64_t dropped;              /* frames we could not make mbufs of */
};

struct pb_afpacket *
pb_afpacket_open(const char *iface, struct rte_mempool *pool,
		 const char **err)
{
	struct pb_afpacket *a = calloc(1, sizeof(*a));
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL) };
	struct packet_mreq mreq = { .mr_type = PACKET_MR_PROMISC };
	int one = 1, rcvbuf = RCVBUF;

	if (a == NULL || (a->frames = malloc(RX_BATCH * MAX_FRAME)) == NULL) {
		*err = "out of memory";
		goto fail_free;
	}
	a->pool = pool;
	a->fd = -1;
	if (strlen(iface) >= IF_NAMESIZE ||
	    (sll.sll_ifindex = (int)if_nametoindex(iface)) == 0) {
		*err = "no such network interface";
		goto fail_free;
	}
	snprintf(a->iface, sizeof(a->iface), "%s", iface);
	a->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       htons(ETH_P_ALL));
	if (a->fd < 0) {
		*err = errno == EPERM ? "an AF_PACKET socket needs "
			"CAP_NET_RAW (run as root)" : "cannot make a socket";
		goto fail_free;
	}
	mreq.mr_ifindex = sll.sll_ifindex;
	if (setsockopt(a->fd, SOL_PACKET, PACKET_VNET_HDR, &one,
		       sizeof(one)) < 0 ||
	    bind(a->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0 ||
	    setsockopt(a->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq,
		       sizeof(mreq)) < 0) {
		*err = "cannot bind a socket to the interface";
		goto fail_free;
	}
	/* best effort: what we send must not come back to us (Linux 4.20),
	 * and bursts need room */
	setsockopt(a->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one,
		   sizeof(one));
	if (setsockopt(a->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)) < 0)
		setsockopt(a->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
			   sizeof(rcvbuf));
	return a;
fail_free:
	pb_afpacket_close(a);
	return NULL;
}

void
pb_afpacket_close(struct pb_afpacket *a)
{
	if (a == NULL)
		return;
	if (a->fd >= 0)
		close(a->fd);
	while (a->pending_count > 0) {
		rte_pktmbuf_free(a->pending[a->pending_head]);
		a->pending_head = (a->pending_head + 1) % PENDING;
		a->pending_count--;
	}
	free(a->frames);
	free(a);
}

bool
pb_afpacket_link_up(const struct pb_afpacket *a)
{
	struct ifreq ifr = { 0 };

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", a->iface);
	return ioctl(a->fd, SIOCGIFFLAGS, &ifr) == 0 &&
	       (ifr.ifr_flags & IFF_RUNNING);
}

static void
push_pending(struct pb_afpacket *a, struct rte_mbuf *m)
{
	if (a->pending_count == PENDING) {
		rte_pktmbuf_free(m);
		a->dropped++;
		return;
	}
	a->pending[(a->pending_head + a->pending_count) % PENDING] = m;
	a->pending_count++;
}

/* One mbuf holding len bytes of data, or NULL. */
static struct rte_mbuf *
mbuf_of(struct pb_afpacket *a, const uint8_t *data, uint32_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(a->pool);

	if (m == NULL || rte_pktmbuf_tailroom(m) < len) {
		rte_pktmbuf_free(m);
		a->dropped++;
		return NULL;
	}
	memcpy(rte_pktmbuf_mtod(m, void *), data, len);
	m->data_len = (uint16_t)len;
	m->pkt_len = len;
	return m;
}

/* What the sender left to "hardware": the checksum at csum_start +
 * csum_offset over the rest of the frame (the field holds the pseudo
 * header's sum already, as the kernel's skb_checksum_help sees it). */
static void
complete_checksum(uint8_t *frame, uint32_t len, const struct virtio_net_hdr *h)
{
	uint32_t start = h->csum_start, at = start + h->csum_offset;
	uint16_t sum;

	if (at + 2 > len || start >= len)
		return;
	sum = (uint16_t)~rte_raw_cksum(frame + start, len - start);
	if (sum == 0)
		sum = 0xffff;
	memcpy(frame + at, &sum, 2);
}

struct l3l4 {
	uint32_t l2, l3, l4;   /* header lengths */
	bool ipv4;
	uint8_t proto;
};

static bool
parse_headers(const uint8_t *f, uint32_t len, struct l3l4 *h)
{
	uint16_t type;

	if (len < 14)
		return false;
	memcpy(&type, f + 12, 2);
	h->l2 = 14;
	if (type == htons(RTE_ETHER_TYPE_VLAN)) {
		if (len < 18)
			return false;
		memcpy(&type, f + 16, 2);
		h->l2 = 18;
	}
	h->ipv4 = type == htons(RTE_ETHER_TYPE_IPV4);
	if (h->ipv4 && len >= h->l2 + 20) {
		h->l3 = (f[h->l2] & 0xf) * 4u;
		h->proto = f[h->l2 + 9];
	} else if (type == htons(RTE_ETHER_TYPE_IPV6) && len >= h->l2 + 40) {
		h->l3 = 40;            /* extension headers: not cut */
		h->proto = f[h->l2 + 6];
	} else {
		return false;
	}
	if (h->proto == IPPROTO_TCP && len >= h->l2 + h->l3 + 20)
		h->l4 = (f[h->l2 + h->l3 + 12] >> 4) * 4u;
	else if (h->proto == IPPROTO_UDP)
		h->l4 = 8;
	else
		return false;
	return len >= h->l2 + h->l3 + h->l4;
}

/* Headers of segment i (payload bytes at payload_off, size n, last?). */
static void
fix_segment(uint8_t *s, const struct l3l4 *h, unsigned int i,
	    uint32_t payload_off, uint32_t n, bool last)
{
	uint8_t *l3 = s + h->l2, *l4 = l3 + h->l3;

	if (h->ipv4) {
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)l3;

		ip->total_length = htons((uint16_t)(h->l3 + h->l4 + n));
		ip->packet_id = htons((uint16_t)(ntohs(ip->packet_id) + i));
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
	} else {
		struct rte_ipv6_hdr *ip = (struct rte_ipv6_hdr *)l3;

		ip->payload_len = htons((uint16_t)(h->l4 + n));
	}
	if (h->proto == IPPROTO_TCP) {
		struct rte_tcp_hdr *tcp = (struct rte_tcp_hdr *)l4;

		tcp->sent_seq = htonl(ntohl(tcp->sent_seq) + payload_off);
		if (!last)
			tcp->tcp_flags &= (uint8_t)~(RTE_TCP_FIN_FLAG |
						     RTE_TCP_PSH_FLAG);
		if (i > 0)
			tcp->tcp_flags &= (uint8_t)~RTE_TCP_CWR_FLAG;
		tcp->cksum = 0;
		tcp->cksum = h->ipv4 ?
			rte_ipv4_udptcp_cksum((struct rte_ipv4_hdr *)l3, l4) :
			rte_ipv6_udptcp_cksum((struct rte_ipv6_hdr *)l3, l4);
	} else {
		struct rte_udp_hdr *udp = (struct rte_udp_hdr *)l4;

		udp->dgram_len = htons((uint16_t)(8 + n));
		udp->dgram_cksum = 0;
		udp->dgram_cksum = h->ipv4 ?
			rte_ipv4_udptcp_cksum((struct rte_ipv4_hdr *)l3, l4) :
			rte_ipv6_udptcp_cksum((struct rte_ipv6_hdr *)l3, l4);
	}
}

/* A super-frame cut into frames of gso_size payload bytes each. */
static void
cut(struct pb_afpacket *a, const uint8_t *f, uint32_t len,
    const struct virtio_net_hdr *vh)
{
	struct l3l4 h;
	uint32_t hdrs, payload, mss = vh->gso_size;

	if (!parse_headers(f, len, &h) || mss == 0 ||
	    (len - (h.l2 + h.l3 + h.l4) + mss - 1) / mss > MAX_SEGMENTS) {
		a->dropped++;
		return;
	}
	hdrs = h.l2 + h.l3 + h.l4;
	payload = len - hdrs;
	for (uint32_t off = 0, i = 0; off < payload; off += mss, i++) {
		uint32_t n = RTE_MIN(mss, payload - off);
		struct rte_mbuf *m = rte_pktmbuf_alloc(a->pool);
		uint8_t *s;

		if (m == NULL || rte_pktmbuf_tailroom(m) < hdrs + n) {
			rte_pktmbuf_free(m);
			a->dropped++;
			return;
		}
		s = rte_pktmbuf_mtod(m, uint8_t *);
		memcpy(s, f, hdrs);
		memcpy(s + hdrs, f + hdrs + off, n);
		m->data_len = (uint16_t)(hdrs + n);
		m->pkt_len = hdrs + n;
		fix_segment(s, &h, i, off, n, off + n == payload);
		push_pending(a, m);
	}
}

static void
receive(struct pb_afpacket *a)
{
	struct mmsghdr msgs[RX_BATCH];
	struct iovec iov[RX_BATCH][2];
	int got;

	for (int i = 0; i < RX_BATCH; i++) {
		iov[i][0] = (struct iovec){ &a->vnet[i], sizeof(a->vnet[i]) };
		iov[i][1] = (struct iovec){ a->frames + (size_t)i * MAX_FRAME,
					    MAX_FRAME };
		msgs[i].msg_hdr = (struct msghdr){ .msg_iov = iov[i],
						   .msg_iovlen = 2 };
	}
	got = recvmmsg(a->fd, msgs, RX_BATCH, MSG_DONTWAIT, NULL);
	for (int i = 0; i < got; i++) {
		const struct virtio_net_hdr *vh = &a->vnet[i];
		uint8_t *f = a->frames + (size_t)i * MAX_FRAME;
		uint32_t len = msgs[i].msg_len;
		struct rte_mbuf *m;

		if (len <= sizeof(*vh) || (msgs[i].msg_hdr.msg_flags &
					   MSG_TRUNC)) {
			a->dropped++;
			continue;
		}
		len -= sizeof(*vh);
		if ((vh->gso_type & ~VIRTIO_NET_HDR_GSO_ECN) !=
		    VIRTIO_NET_HDR_GSO_NONE) {
			cut(a, f, len, vh);   /* checksums made for each */
			continue;
		}
		if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			complete_checksum(f, len, vh);
		m = mbuf_of(a, f, len);
		if (m != NULL)
			push_pending(a, m);
	}
}

uint16_t
pb_afpacket_rx(struct pb_afpacket *a, struct rte_mbuf **pkts, uint16_t n)
{
	uint16_t k = 0;

	if (a->pending_count == 0)
		receive(a);
	while (k < n && a->pending_count > 0) {
		pkts[k++] = a->pending[a->pending_head];
		a->pending_head = (a->pending_head + 1) % PENDING;
		a->pending_count--;
	}
	return k;
}

uint16_t
pb_afpacket_tx(struct pb_afpacket *a, struct rte_mbuf **pkts, uint16_t n)
{
	static const struct virtio_net_hdr none;   /* complete frames */
	struct mmsghdr msgs[TX_BATCH];
	struct iovec iov[TX_BATCH][8];
	uint16_t k = 0;
	int sent;

	for (; k < n && k < TX_BATCH; k++) {
		struct rte_mbuf *seg = pkts[k];
		unsigned int v = 1;

		iov[k][0] = (struct iovec){ (void *)&none, sizeof(none) };
		for (; seg != NULL && v < RTE_DIM(iov[k]); seg = seg->next)
			iov[k][v++] = (struct iovec){
				rte_pktmbuf_mtod(seg, void *), seg->data_len };
		if (seg != NULL)
			break;           /* too many segments: leave it */
		msgs[k].msg_hdr = (struct msghdr){ .msg_iov = iov[k],
						   .msg_iovlen = v };
	}
	sent = sendmmsg(a->fd, msgs, k, MSG_DONTWAIT);
	if (sent <= 0)
		return 0;
	rte_pktmbuf_free_bulk(pkts, (unsigned int)sent);
	return (uint16_t)sent;
}
