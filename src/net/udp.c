/* SPDX-License-Identifier: MIT */
/*
 * udp.c - a worker's UDP socket: recvmmsg() batches into preallocated
 * buffers, a send batch flushed with sendmmsg() before the loop sleeps.
 *
 * Receive: rx_batch slots of max_datagram bytes, each with its own source
 * sockaddr_storage, filled by one recvmmsg(); every datagram is handed to the
 * callback in place. Up to rx_rounds batches per readiness, then back to
 * the (level-triggered) loop so other fds get their turn.
 *
 * Send: udp_send_queue() copies into a byte arena + a slot array; the
 * before-sleep hook (or a full queue) flushes it with sendmmsg(). EAGAIN
 * keeps the rest queued and arms EPOLLOUT; a datagram the kernel refuses
 * (EMSGSIZE, EHOSTUNREACH, EPERM...) is dropped and counted, the flush goes
 * on. When the queue is still full the new datagram is dropped and counted.
 *
 * Overload (issue 7 §3): the receive buffer is asked for UDP_RCVBUF_DEFAULT
 * (4 MiB, the kernel clamps it to net.core.rmem_max) unless opts say
 * otherwise: the kernel's default (208 KiB) holds 166 REGISTERs (1280 bytes
 * of truesize each on loopback), 10 ms at 16,000/s, so any longer pause of
 * the worker (a shared CPU, a table resize) lost requests, half of them the
 * authenticated second REGISTER of a registration already challenged.
 * Whenever recvmmsg() fills a whole batch, the socket's receive queue is
 * measured (SO_MEMINFO: bytes queued against the buffer's size, one
 * getsockopt per full batch, none at low load) and sets the socket's level:
 *   UDP_LOAD_OK    queue below UDP_SHED_FILL: serve everything;
 *   UDP_LOAD_SHED  queue at or over UDP_SHED_FILL: new REGISTERs (no
 *                  Authorization) are dropped here, before the callback,
 *                  except UDP_SHED_ANSWER_RATE a second that the worker
 *                  answers 503 with Retry-After (a parse and an answer cost
 *                  about as much as the 401 would: measured, answering them
 *                  all collapsed goodput at 4x to 3 %);
 *   UDP_LOAD_DROP  queue at or over UDP_DROP_FILL: every new REGISTER is
 *                  dropped here (no parse, no answer).
 * Everything else (responses, authenticated REGISTERs, other requests) is
 * always delivered: the work already invested in a registration is
 * completed. Hysteresis: the level goes back to UDP_LOAD_OK as soon as a
 * batch comes back short (the queue is drained) or the queue falls under
 * UDP_OK_FILL.
 *
 * Connected companions (issue 5, CPU per refresh). A destination that takes
 * most of a socket's datagrams (a trunk worker's upstream registrar, an SBC
 * in front of the registrar) gets its own socket, bound to the same local
 * address and port (SO_REUSEPORT) and connect()ed to it: its datagrams then
 * leave without an address (msg_name NULL), so udp_sendmsg() takes the
 * socket's cached route instead of a route lookup per datagram
 * (ip_route_output_flow, fib_table_lookup, __ip_dev_find). The source
 * address and port are those of the listen socket, as before: a Via's
 * sent-by, rport and any NAT binding see no change. The kernel delivers the
 * peer's datagrams to the connected socket (a connected socket's lookup
 * score beats the group's; the group's hash selection skips connected
 * sockets), so the companion is watched like the listen socket and every
 * datagram it receives goes to the same callback with the same udp_sock
 * (between bind() and connect() the group may hash any sender's datagram to
 * it: those are delivered too). The heavy destination is found by a
 * one-counter majority vote (Misra-Gries) over the queued datagrams: it
 * gets a companion after UDP_PEER_PROMOTE net votes, at most UDP_PEERS per
 * socket, never without SO_REUSEPORT; a registrar answering many clients
 * evenly opens none. A connected socket reports ICMP errors (ECONNREFUSED
 * when the peer's port is closed) on its next send, which then fails
 * without sending: that datagram is sent again once (it did nothing
 * wrong). A companion that cannot be opened turns the feature off for the
 * socket.
 *
 * Segmentation offload on send (UDP GSO). A run of queued datagrams for the
 * same socket and destination whose sizes are equal (the last may be
 * shorter) leaves as one message with a UDP_SEGMENT control message: the
 * kernel builds one socket buffer for the run, takes one trip through IP,
 * the device and (on loopback) the receive path, and cuts it into the
 * datagrams only at the end: at the receiving socket on loopback, in the
 * device or at the device's queue otherwise. The receiver sees the same
 * datagrams in the same order. Nothing is reordered to make runs: a run is
 * what the queue holds in order (a registrar behind an SBC or the load
 * generator's windows answer in runs of one kind; clients spread over many
 * addresses make runs of one and get the plain path). Measured on loopback
 * (2-vCPU VM), 64 datagrams of 423 bytes: 3.7-3.9 us of CPU each by
 * sendmmsg() (including their delivery), 0.9 us each as one GSO message.
 * At most UDP_GSO_SEGS datagrams and UDP_GSO_BYTES a message, segments of
 * at most UDP_GSO_SEG (the kernel refuses a segment larger than the route's
 * MTU; 1232 fits any IPv6 path). A kernel or device that refuses it
 * (EINVAL, EIO: no UDP_SEGMENT, no checksum offload, IPsec) turns it off
 * for the socket and the run is sent again datagram by datagram.
 *
 * And on receive (UDP GRO): with UDP_GRO set on the socket (and its
 * companions), a run of equal-size datagrams from one sender that reaches
 * it in one buffer (a sender's GSO message on loopback; a NIC's datagrams
 * of one flow that the kernel's GRO merged) is queued and read whole: one
 * recvmmsg() slot holds the run, a UDP_GRO control message gives its
 * segment size, and the run is cut here and each datagram handed to the
 * callback (and to the overload check) on its own, as if read one by one.
 * Only when a slot holds a whole 64 KiB buffer (max_datagram 65535, the
 * default): otherwise the kernel's segmentation stays, as without it.
 */
#include <errno.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sipreg/clock.h"
#include "sipreg/loop.h"
#include "sipreg/transport.h"

#define UDP_MAX_PAYLOAD 65507u /* IPv4: 65535 - 20 (IP) - 8 (UDP) */
#define UDP_MAX_BATCH 64u
/* The counters (s->st) are written by the loop thread only and read from
 * any thread (udp_sock_stats, udp_sock_shed): a relaxed store of the new
 * value (a plain store on x86-64 and arm64: no lock, no read-modify-write),
 * so that a reader never sees a torn value. */
#define STAT_ADD(f, n) __atomic_store_n(&(f), (f) + (n), __ATOMIC_RELAXED)
#define STAT_BUMP(f) STAT_ADD(f, 1)
#define STAT_SET(f, v) __atomic_store_n(&(f), (v), __ATOMIC_RELAXED)
#define UDP_RCVBUF_DEFAULT (4 << 20)
/* Receive-queue fill (SK_MEMINFO_RMEM_ALLOC / SO_RCVBUF, in 1/1024) of the
 * levels. The kernel releases the memory of datagrams already read in
 * chunks of up to a quarter of the buffer (udp_rmem_release: forward
 * deficit), so the measure overstates the queue by up to 256/1024 while it
 * drains: SHED at 3/8 means at least 1/8 really queued (820 REGISTERs in the
 * 4 MiB buffer, 8 MiB as the kernel counts it), DROP at 5/8 at least 3/8
 * (2,450); back to OK under 1/4 (or at a short batch). */
#define UDP_SHED_FILL 384u
#define UDP_DROP_FILL 640u
#define UDP_OK_FILL 256u
/* At UDP_LOAD_SHED, new REGISTERs delivered for a 503: a token bucket of
 * UDP_SHED_ANSWER_RATE a second, UDP_SHED_ANSWER_BURST at most (about 6 us
 * of parse, answer and send each on the 2-core VM: 0.6 % of a CPU). */
#define UDP_SHED_ANSWER_RATE 1000u
#define UDP_SHED_ANSWER_BURST 32u
/* Connected companions per socket, and the majority votes that open one. */
#define UDP_PEERS 4u
#define UDP_PEER_PROMOTE 256u
/* GSO (see the top): datagrams, bytes and segment size of one message */
#define UDP_GSO_SEGS 64u
#define UDP_GSO_BYTES 65000u
#define UDP_GSO_SEG 1232u

/* A received slot's control buffer: UDP_GRO (an int, the segment size). */
union udp_rx_ctl {
	struct cmsghdr align;
	char buf[CMSG_SPACE(sizeof(int))];
};

/* A message's control buffer: one UDP_SEGMENT (the segment size). */
union udp_gso_ctl {
	struct cmsghdr align;
	char buf[CMSG_SPACE(sizeof(uint16_t))];
};

struct udp_sock;

struct udp_peer {
	struct udp_sock *s; /* the listen socket it serves */
	int fd;
	socklen_t len;
	struct sockaddr_storage addr; /* connected to */
};

struct udp_sock {
	int fd;
	struct loop *loop;
	udp_datagram_cb cb;
	void *arg;
	struct loop_hook flush_hook;
	unsigned rx_rounds;

	/* receive */
	unsigned rx_batch;
	size_t max_datagram;
	struct mmsghdr *rx_msgs;
	struct iovec *rx_iov;
	struct sockaddr_storage *rx_addr;
	char *rx_buf;
	union udp_rx_ctl *rx_ctl; /* per slot: UDP_GRO's segment size */
	unsigned rx_unflushed;    /* datagrams handed over since the last flush */
	bool gro;                 /* UDP_GRO set on the socket(s) */

	/* send: slots [0, tx_n) hold queued datagrams, their bytes packed in
	 * tx_arena [0, tx_used) in the same order */
	unsigned tx_slots, tx_n;
	size_t tx_bytes, tx_used;
	struct mmsghdr *tx_msgs;
	struct iovec *tx_iov;
	struct sockaddr_storage *tx_addr;
	char *tx_arena;
	uint8_t *tx_peer; /* per slot: 0 = the listen socket, i = peers[i - 1] */
	/* the socket whose EPOLLOUT a flush waits for: -1 none, 0 the listen
	 * socket, i peers[i - 1] */
	int blocked;
	/* GSO: the messages of one sendmmsg(), each gso_cnt[m] datagrams
	 * (tx_iov[first..first + gso_cnt[m]) as its iovecs) */
	struct mmsghdr *gso_msgs;
	unsigned *gso_cnt;
	union udp_gso_ctl *gso_ctl;
	bool gso_off; /* refused by the kernel or the device: plain sends */

	/* connected companions (see above) */
	struct udp_peer peers[UDP_PEERS];
	unsigned npeers;
	bool peers_off;                /* no SO_REUSEPORT, or an open failed */
	int rcvbuf;                    /* as udp_opts.rcvbuf */
	struct sockaddr_storage local; /* the bound address */
	socklen_t local_len;
	struct sockaddr_storage cand; /* majority-vote candidate */
	unsigned cand_votes;

	/* overload: the level set by the last full batch (see above) */
	enum udp_load load;
	unsigned shed_tokens; /* 503s still allowed (token bucket) */
	uint64_t shed_refill; /* clock_now_ms() of the last refill */

	struct udp_stats st;
};

/* Receive-queue fill in 1/1024 of the buffer, or -errno. */
static int rx_fill(int fd)
{
	uint32_t mi[SK_MEMINFO_VARS] = {0};
	socklen_t len = sizeof(mi);
	uint64_t f;

	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &len) < 0)
		return -errno;
	if (len <= SK_MEMINFO_RCVBUF * sizeof(mi[0]) || mi[SK_MEMINFO_RCVBUF] == 0)
		return -EINVAL;
	f = (uint64_t)mi[SK_MEMINFO_RMEM_ALLOC] * 1024u / mi[SK_MEMINFO_RCVBUF];
	return f > 1024u ? 1024 : (int)f;
}

static void set_load(struct udp_sock *s, enum udp_load l)
{
	if (l > s->load && s->load == UDP_LOAD_OK)
		STAT_BUMP(s->st.overload_episodes);
	s->load = l;
}

/* The 503 budget: UDP_SHED_ANSWER_RATE tokens a second. */
static void refill(struct udp_sock *s)
{
	uint64_t now = clock_now_ms(), add;

	if (now <= s->shed_refill)
		return;
	add = (now - s->shed_refill) * UDP_SHED_ANSWER_RATE / 1000u;
	if (add == 0)
		return;
	s->shed_refill = now;
	add += s->shed_tokens;
	s->shed_tokens =
	        add > UDP_SHED_ANSWER_BURST ? UDP_SHED_ANSWER_BURST : (unsigned)add;
}

/* After a recvmmsg() that returned n of rx_batch datagrams. */
static void update_load(struct udp_sock *s, int fd, unsigned n)
{
	int f;

	if (n < s->rx_batch) {
		s->load = UDP_LOAD_OK; /* drained: back to normal at once */
		return;
	}
	f = rx_fill(fd);
	if (f < 0)
		return;
	refill(s);
	if ((unsigned)f >= UDP_DROP_FILL)
		set_load(s, UDP_LOAD_DROP);
	else if ((unsigned)f >= UDP_SHED_FILL)
		set_load(s, UDP_LOAD_SHED);
	else if ((unsigned)f < UDP_OK_FILL)
		s->load = UDP_LOAD_OK;
	else if (s->load == UDP_LOAD_DROP)
		s->load = UDP_LOAD_SHED;
}

/* Case-insensitive compare of n bytes against a lower-case literal. */
static bool lower_eq(const char *p, const char *lit, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((p[i] | 0x20) != lit[i])
			return false;
	return true;
}

/*
 * Is this datagram a REGISTER without an Authorization header (a new
 * registration, not the answer to a challenge)? A scan of the header lines
 * only: "REGISTER " at the start, then a line "Authorization" HCOLON up to
 * the empty line. Anything else (a response, another method, a credentialed
 * REGISTER, bytes that are not SIP) is not one.
 */
bool udp_is_new_register(const char *buf, size_t len)
{
	static const char hdr[] = "authorization";
	const size_t hn = sizeof(hdr) - 1;
	const char *p = buf, *end = buf + len;

	if (len < 9 || memcmp(buf, "REGISTER ", 9) != 0)
		return false;
	for (;;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *q;

		if (!nl)
			return true;
		p = nl + 1;
		if (p >= end || *p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n'))
			return true; /* the empty line: headers done */
		if ((size_t)(end - p) <= hn || (*p | 0x20) != 'a' ||
		    !lower_eq(p, hdr, hn))
			continue;
		for (q = p + hn; q < end && (*q == ' ' || *q == '\t'); q++)
			;
		if (q < end && *q == ':')
			return false;
	}
}

/* Overloaded: is this datagram a new REGISTER to drop unread? At
 * UDP_LOAD_SHED some still reach the callback while the token bucket allows
 * (the worker answers them 503 with Retry-After: the parse and the answer
 * cost about as much as a challenge, so they are rationed); at
 * UDP_LOAD_DROP none does. */
static bool shed_unparsed(struct udp_sock *s, const char *b, size_t len)
{
	if (!udp_is_new_register(b, len))
		return false;
	if (s->load == UDP_LOAD_SHED && s->shed_tokens > 0) {
		s->shed_tokens--;
		return false;
	}
	STAT_BUMP(s->st.rx_shed);
	return true;
}

/* The segment size of a slot the kernel filled with a GRO run (its UDP_GRO
 * control message), or 0: one datagram. */
static size_t gro_segment(const struct msghdr *h)
{
	int seg = 0;

	if (h->msg_controllen == 0)
		return 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR((struct msghdr *)h, c))
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(int)))
			memcpy(&seg, CMSG_DATA(c), sizeof(seg));
	return seg > 0 ? (size_t)seg : 0;
}

/* One datagram read: shed (overloaded) or handed to the callback. After
 * every rx_batch datagrams handed over, what the callbacks queued leaves,
 * as the echo server answers each recvmmsg() batch: not only before the
 * loop sleeps, when the whole readiness was handled (up to rx_rounds full
 * batches, or a GRO run of 64 in one slot). The first answers do not wait
 * for the last requests' work and the peer works on them meanwhile (in a
 * closed loop the two sides overlap instead of taking turns); a flush of
 * 32 answers to one destination is still one GSO message. */
static void rx_one(struct udp_sock *s, const char *b, size_t len, const struct msghdr *h)
{
	if (s->load != UDP_LOAD_OK && shed_unparsed(s, b, len))
		return;
	STAT_BUMP(s->st.rx_datagrams);
	s->cb(s->arg, s, b, len, (const struct sockaddr *)h->msg_name, h->msg_namelen);
	if (++s->rx_unflushed >= s->rx_batch) {
		s->rx_unflushed = 0;
		if (s->tx_n && s->blocked < 0)
			udp_flush(s);
	}
}

static void udp_rx(struct udp_sock *s, int fd)
{
	unsigned round, i;
	int n;

	for (round = 0; round < s->rx_rounds; round++) {
		for (i = 0; i < s->rx_batch; i++) {
			s->rx_msgs[i].msg_hdr.msg_namelen = sizeof(s->rx_addr[i]);
			s->rx_msgs[i].msg_hdr.msg_flags = 0;
			if (s->gro)
				s->rx_msgs[i].msg_hdr.msg_controllen = sizeof(s->rx_ctl[i].buf);
		}
		n = recvmmsg(fd, s->rx_msgs, s->rx_batch, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				STAT_BUMP(s->st.rx_errors);
			else
				s->load = UDP_LOAD_OK;
			return;
		}
		if (n == 0) {
			s->load = UDP_LOAD_OK;
			return;
		}
		STAT_BUMP(s->st.rx_batches);
		update_load(s, fd, (unsigned)n);
		for (i = 0; i < (unsigned)n; i++) {
			struct msghdr *h = &s->rx_msgs[i].msg_hdr;
			const char *b = h->msg_iov->iov_base;
			size_t len = s->rx_msgs[i].msg_len, seg;

			if (h->msg_flags & MSG_TRUNC) {
				STAT_BUMP(s->st.rx_truncated);
				continue;
			}
			seg = s->gro ? gro_segment(h) : 0;
			if (seg == 0 || seg >= len) {
				rx_one(s, b, len, h);
				continue;
			}
			/* a GRO run: its datagrams one by one (the last may
			 * be shorter) */
			for (size_t off = 0; off < len; off += seg) {
				STAT_BUMP(s->st.rx_gro);
				rx_one(s, b + off, len - off < seg ? len - off : seg, h);
			}
		}
		if ((unsigned)n < s->rx_batch)
			return;
	}
}

static int slot_fd(const struct udp_sock *s, unsigned peer)
{
	return peer ? s->peers[peer - 1].fd : s->fd;
}

/* Wait for EPOLLOUT on socket `which` (0 the listen socket, i peers[i - 1]),
 * or on none (-1). */
static void want_write(struct udp_sock *s, int which)
{
	if (s->blocked == which)
		return;
	if (s->blocked >= 0)
		(void)loop_mod(s->loop, slot_fd(s, (unsigned)s->blocked), LOOP_READ);
	s->blocked = -1;
	if (which >= 0 &&
	    loop_mod(s->loop, slot_fd(s, (unsigned)which), LOOP_READ | LOOP_WRITE) == 0)
		s->blocked = which;
}

static void udp_io(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct udp_sock *s = arg;

	(void)loop;
	if (events & LOOP_WRITE)
		udp_flush(s);
	if (events & LOOP_READ)
		udp_rx(s, fd);
}

static void peer_io(struct loop *loop, int fd, unsigned events, void *arg)
{
	struct udp_peer *p = arg;

	udp_io(loop, fd, events, p->s);
}

static void udp_before_sleep(struct loop *loop, void *arg)
{
	struct udp_sock *s = arg;

	(void)loop;
	if (s->tx_n && s->blocked < 0)
		udp_flush(s);
}

/* Drop the first k queued datagrams, moving the rest to the front. */
static void tx_consume(struct udp_sock *s, unsigned k)
{
	size_t bytes = 0;
	unsigned i;

	if (k >= s->tx_n) {
		s->tx_n = 0;
		s->tx_used = 0;
		return;
	}
	for (i = 0; i < k; i++)
		bytes += s->tx_iov[i].iov_len;
	memmove(s->tx_arena, s->tx_arena + bytes, s->tx_used - bytes);
	s->tx_used -= bytes;
	s->tx_n -= k;
	memmove(s->tx_iov, s->tx_iov + k, s->tx_n * sizeof(*s->tx_iov));
	memmove(s->tx_addr, s->tx_addr + k, s->tx_n * sizeof(*s->tx_addr));
	memmove(s->tx_msgs, s->tx_msgs + k, s->tx_n * sizeof(*s->tx_msgs));
	memmove(s->tx_peer, s->tx_peer + k, s->tx_n * sizeof(*s->tx_peer));
	for (i = 0; i < s->tx_n; i++) {
		s->tx_iov[i].iov_base = (char *)s->tx_iov[i].iov_base - bytes;
		s->tx_msgs[i].msg_hdr.msg_iov = &s->tx_iov[i];
		s->tx_msgs[i].msg_hdr.msg_name = s->tx_peer[i] ? NULL : &s->tx_addr[i];
	}
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr *b,
		      socklen_t blen);

/* May slot j join the GSO message of slots [i, j) (segment size seg, bytes
 * so far)? Same destination (a companion has one), a size of seg, or
 * smaller as the message's last. */
static bool gso_joins(const struct udp_sock *s, unsigned i, unsigned j, size_t seg,
		      size_t bytes)
{
	const struct msghdr *a = &s->tx_msgs[i].msg_hdr, *b = &s->tx_msgs[j].msg_hdr;
	size_t len = s->tx_iov[j].iov_len;

	if (j - i >= UDP_GSO_SEGS || bytes + len > UDP_GSO_BYTES || len > seg || len == 0)
		return false;
	if (s->tx_iov[j - 1].iov_len != seg)
		return false; /* a shorter one ended the message */
	if (s->tx_peer[i])
		return true;
	return a->msg_namelen == b->msg_namelen &&
	       same_addr(&s->tx_addr[i], (const struct sockaddr *)&s->tx_addr[j],
	                 b->msg_namelen);
}

/* The messages for slots [from, from + run) (one socket): runs that
 * gso_joins() accepts become one GSO message, the rest one message each.
 * Returns the messages' count; gso_cnt[] holds each one's datagrams. */
static unsigned gso_build(struct udp_sock *s, unsigned from, unsigned run)
{
	unsigned nm = 0, i = from, end = from + run;

	while (i < end) {
		struct mmsghdr *m = &s->gso_msgs[nm];
		size_t seg = s->tx_iov[i].iov_len, bytes = seg;
		unsigned j = i + 1;

		if (!s->gso_off && seg <= UDP_GSO_SEG)
			while (j < end && gso_joins(s, i, j, seg, bytes))
				bytes += s->tx_iov[j++].iov_len;
		m->msg_hdr = s->tx_msgs[i].msg_hdr;
		if (j - i > 1) {
			struct cmsghdr *c;
			uint16_t gs = (uint16_t)seg;

			m->msg_hdr.msg_iovlen = j - i;
			m->msg_hdr.msg_control = s->gso_ctl[nm].buf;
			m->msg_hdr.msg_controllen = sizeof(s->gso_ctl[nm].buf);
			c = CMSG_FIRSTHDR(&m->msg_hdr);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(gs));
			memcpy(CMSG_DATA(c), &gs, sizeof(gs));
		}
		s->gso_cnt[nm++] = j - i;
		i = j;
	}
	return nm;
}

int udp_flush(struct udp_sock *s)
{
	unsigned sent = 0, retried = UINT32_MAX;
	int n, r = 0, blocked = -1;

	while (sent < s->tx_n) {
		/* one sendmmsg() per run of datagrams for the same socket */
		unsigned peer = s->tx_peer[sent], run = 1, nm, done;

		while (sent + run < s->tx_n && s->tx_peer[sent + run] == peer)
			run++;
		nm = gso_build(s, sent, run);
		n = sendmmsg(slot_fd(s, peer), s->gso_msgs, nm, MSG_DONTWAIT);
		if (n > 0) {
			done = 0;
			for (unsigned m = 0; m < (unsigned)n; m++) {
				done += s->gso_cnt[m];
				if (s->gso_cnt[m] > 1)
					STAT_ADD(s->st.tx_gso, s->gso_cnt[m]);
			}
			STAT_BUMP(s->st.tx_batches);
			STAT_ADD(s->st.tx_datagrams, done);
			sent += done;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		/* the first message was a GSO one the kernel or the device
		 * refuses: plain sends from now on, this run again */
		if (n < 0 && s->gso_cnt[0] > 1 &&
		    (errno == EINVAL || errno == EIO || errno == EOPNOTSUPP ||
		     errno == ENOPROTOOPT || errno == EMSGSIZE)) {
			s->gso_off = true;
			STAT_BUMP(s->st.tx_gso_off);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
			STAT_BUMP(s->st.tx_eagain);
			r = -EAGAIN;
			blocked = (int)peer;
			break;
		}
		/* a connected companion reports an earlier datagram's ICMP
		 * error on this send, which then sent nothing: once more */
		if (n < 0 && peer && retried != sent &&
		    (errno == ECONNREFUSED || errno == EHOSTUNREACH ||
		     errno == ENETUNREACH || errno == EHOSTDOWN)) {
			STAT_BUMP(s->st.tx_peer_errors);
			retried = sent;
			continue;
		}
		/* the datagram at `sent` is refused: drop it, go on */
		r = n < 0 ? -errno : -EIO;
		STAT_BUMP(s->st.tx_errors);
		sent++;
	}
	tx_consume(s, sent);
	want_write(s, s->tx_n > 0 ? (blocked >= 0 ? blocked : 0) : -1);
	if (r == -EAGAIN)
		return r;
	return (int)sent;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr *b,
		      socklen_t blen)
{
	if (a->ss_family != b->sa_family)
		return false;
	if (b->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return blen >= sizeof(*y) && x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (b->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return blen >= sizeof(*y) && x->sin6_port == y->sin6_port &&
		       x->sin6_scope_id == y->sin6_scope_id &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

/* Open a socket bound to the listen socket's address and connected to dst;
 * returns its number (1..UDP_PEERS), or 0 (and the feature is turned off
 * for this socket) when any step fails. */
static unsigned peer_open(struct udp_sock *s, const struct sockaddr *dst,
			  socklen_t dstlen)
{
	struct udp_peer *p = &s->peers[s->npeers];
	int fd, one = 1;

	fd = socket(s->local.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto off;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    (s->local.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0))
		goto fail;
	if (s->rcvbuf > 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &s->rcvbuf, sizeof(s->rcvbuf));
	else if (s->rcvbuf == 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){UDP_RCVBUF_DEFAULT},
		                 sizeof(int));
	if (s->gro)
		(void)setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&s->local, s->local_len) < 0)
		goto fail;
	/* watched before connect(): what the group hashes to it meanwhile is
	 * read and delivered like the rest */
	p->s = s;
	p->fd = fd;
	if (loop_add(s->loop, fd, LOOP_READ, peer_io, p) < 0)
		goto fail;
	if (connect(fd, dst, dstlen) < 0) {
		loop_del(s->loop, fd);
		goto fail;
	}
	memset(&p->addr, 0, sizeof(p->addr));
	memcpy(&p->addr, dst, dstlen);
	p->len = dstlen;
	STAT_SET(s->st.peers, ++s->npeers);
	return s->npeers;
fail:
	close(fd);
off:
	STAT_BUMP(s->st.peer_open_errors);
	s->peers_off = true;
	return 0;
}

/* The socket a datagram to dst leaves from: 0 the listen socket, i the
 * companion peers[i - 1]; one majority vote (see the top). */
static unsigned peer_for(struct udp_sock *s, const struct sockaddr *dst,
			 socklen_t dstlen)
{
	for (unsigned i = 0; i < s->npeers; i++)
		if (same_addr(&s->peers[i].addr, dst, dstlen))
			return i + 1;
	if (s->peers_off || s->npeers == UDP_PEERS)
		return 0;
	if (s->cand_votes && same_addr(&s->cand, dst, dstlen)) {
		if (++s->cand_votes < UDP_PEER_PROMOTE)
			return 0;
		s->cand_votes = 0;
		return peer_open(s, dst, dstlen);
	}
	if (s->cand_votes) {
		s->cand_votes--;
		return 0;
	}
	if (dst->sa_family != s->local.ss_family)
		return 0;
	memset(&s->cand, 0, sizeof(s->cand));
	memcpy(&s->cand, dst, dstlen);
	s->cand_votes = 1;
	return 0;
}

static int tx_append(struct udp_sock *s, const void *buf, size_t len,
		     const struct sockaddr *dst, socklen_t dstlen, unsigned peer)
{
	unsigned i = s->tx_n;
	struct msghdr *h = &s->tx_msgs[i].msg_hdr;

	memcpy(s->tx_arena + s->tx_used, buf, len);
	memcpy(&s->tx_addr[i], dst, dstlen);
	s->tx_iov[i].iov_base = s->tx_arena + s->tx_used;
	s->tx_iov[i].iov_len = len;
	memset(h, 0, sizeof(*h));
	/* a companion is connected: no address, no route lookup */
	h->msg_name = peer ? NULL : &s->tx_addr[i];
	h->msg_namelen = peer ? 0 : dstlen;
	s->tx_peer[i] = (uint8_t)peer;
	h->msg_iov = &s->tx_iov[i];
	h->msg_iovlen = 1;
	s->tx_used += len;
	s->tx_n++;
	return 0;
}

static bool tx_full(const struct udp_sock *s, size_t len)
{
	return s->tx_n == s->tx_slots || s->tx_bytes - s->tx_used < len;
}

int udp_send_queue(struct udp_sock *s, const void *buf, size_t len,
		   const struct sockaddr *dst, socklen_t dstlen)
{
	if (dstlen > sizeof(struct sockaddr_storage))
		return -EINVAL;
	if (len > UDP_MAX_PAYLOAD || len > s->tx_bytes) {
		STAT_BUMP(s->st.tx_drops);
		return -EMSGSIZE;
	}
	if (tx_full(s, len)) {
		if (s->blocked < 0)
			udp_flush(s);
		if (tx_full(s, len)) {
			STAT_BUMP(s->st.tx_drops);
			return -ENOBUFS;
		}
	}
	return tx_append(s, buf, len, dst, dstlen, peer_for(s, dst, dstlen));
}

int udp_send_now(struct udp_sock *s, const void *buf, size_t len,
		 const struct sockaddr *dst, socklen_t dstlen)
{
	ssize_t n;

	/* keep the order: behind a non-empty queue, queue too */
	if (s->tx_n)
		return udp_send_queue(s, buf, len, dst, dstlen);
	do
		n = sendto(s->fd, buf, len, MSG_DONTWAIT, dst, dstlen);
	while (n < 0 && errno == EINTR);
	if (n >= 0) {
		STAT_BUMP(s->st.tx_datagrams);
		return 0;
	}
	if (errno == EAGAIN || errno == ENOBUFS) {
		STAT_BUMP(s->st.tx_eagain);
		n = udp_send_queue(s, buf, len, dst, dstlen);
		if (n == 0 && s->blocked < 0)
			want_write(s, 0);
		return (int)n;
	}
	STAT_BUMP(s->st.tx_errors);
	return -errno;
}

unsigned udp_queued(const struct udp_sock *s)
{
	return s->tx_n;
}

int udp_sock_fd(const struct udp_sock *s)
{
	return s->fd;
}

int udp_sock_local(const struct udp_sock *s, struct sockaddr *addr, socklen_t *len)
{
	return getsockname(s->fd, addr, len) < 0 ? -errno : 0;
}

void udp_sock_stats(const struct udp_sock *s, struct udp_stats *out)
{
	const uint64_t *in = (const uint64_t *)(const void *)&s->st;
	uint64_t *o = (uint64_t *)(void *)out;

	_Static_assert(sizeof(struct udp_stats) % sizeof(uint64_t) == 0,
	               "struct udp_stats: uint64_t counters only");
	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		o[i] = __atomic_load_n(&in[i], __ATOMIC_RELAXED);
}

enum udp_load udp_sock_load(const struct udp_sock *s)
{
	return s->load;
}

uint64_t udp_sock_shed(const struct udp_sock *s)
{
	return __atomic_load_n(&s->st.rx_shed, __ATOMIC_RELAXED);
}

static int open_socket(const struct sockaddr *addr, socklen_t addrlen,
		       const struct udp_opts *o)
{
	int fd, one = 1, r;

	if ((addr->sa_family != AF_INET || addrlen < sizeof(struct sockaddr_in)) &&
	    (addr->sa_family != AF_INET6 || addrlen < sizeof(struct sockaddr_in6)))
		return -EINVAL;
	fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (!o->no_reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (addr->sa_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		goto fail;
	if (o->rcvbuf > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o->rcvbuf, sizeof(o->rcvbuf)) < 0)
		goto fail;
	/* best effort: the kernel clamps it to net.core.rmem_max */
	if (o->rcvbuf == 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &(int){UDP_RCVBUF_DEFAULT},
		                 sizeof(int));
	if (o->sndbuf > 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &o->sndbuf, sizeof(o->sndbuf)) < 0)
		goto fail;
	if (bind(fd, addr, addrlen) < 0)
		goto fail;
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

int udp_sock_new(struct udp_sock **ret, struct loop *loop, const struct sockaddr *addr,
		 socklen_t addrlen, const struct udp_opts *opts, udp_datagram_cb cb,
		 void *arg)
{
	struct udp_opts o = opts ? *opts : (struct udp_opts){0};
	struct udp_sock *s;
	unsigned i;
	int r;

	if (!cb || o.rx_batch > UDP_MAX_BATCH)
		return -EINVAL;
	o.rx_batch = o.rx_batch ? o.rx_batch : 32;
	o.rx_rounds = o.rx_rounds ? o.rx_rounds : 4;
	o.max_datagram = o.max_datagram ? o.max_datagram : 65535;
	o.tx_slots = o.tx_slots ? o.tx_slots : 256;
	o.tx_bytes = o.tx_bytes ? o.tx_bytes : 256 * 1024;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = -1;
	s->loop = loop;
	s->cb = cb;
	s->arg = arg;
	s->rx_batch = o.rx_batch;
	s->rx_rounds = o.rx_rounds;
	s->max_datagram = o.max_datagram;
	s->tx_slots = o.tx_slots;
	s->tx_bytes = o.tx_bytes;
	s->shed_tokens = UDP_SHED_ANSWER_BURST;
	s->shed_refill = clock_now_ms();
	s->rx_msgs = calloc(s->rx_batch, sizeof(*s->rx_msgs));
	s->rx_iov = calloc(s->rx_batch, sizeof(*s->rx_iov));
	s->rx_addr = calloc(s->rx_batch, sizeof(*s->rx_addr));
	s->rx_buf = malloc(s->rx_batch * s->max_datagram);
	s->rx_ctl = calloc(s->rx_batch, sizeof(*s->rx_ctl));
	s->tx_msgs = calloc(s->tx_slots, sizeof(*s->tx_msgs));
	s->tx_iov = calloc(s->tx_slots, sizeof(*s->tx_iov));
	s->tx_addr = calloc(s->tx_slots, sizeof(*s->tx_addr));
	s->tx_arena = malloc(s->tx_bytes);
	s->tx_peer = calloc(s->tx_slots, sizeof(*s->tx_peer));
	s->gso_msgs = calloc(s->tx_slots, sizeof(*s->gso_msgs));
	s->gso_cnt = calloc(s->tx_slots, sizeof(*s->gso_cnt));
	s->gso_ctl = calloc(s->tx_slots, sizeof(*s->gso_ctl));
	s->blocked = -1;
	s->peers_off = o.no_reuseport;
	s->rcvbuf = o.rcvbuf;
	if (!s->rx_msgs || !s->rx_iov || !s->rx_addr || !s->rx_buf || !s->rx_ctl || !s->tx_msgs ||
	    !s->tx_iov || !s->tx_addr || !s->tx_arena || !s->tx_peer || !s->gso_msgs ||
	    !s->gso_cnt || !s->gso_ctl) {
		r = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < s->rx_batch; i++) {
		struct msghdr *h = &s->rx_msgs[i].msg_hdr;

		s->rx_iov[i].iov_base = s->rx_buf + i * s->max_datagram;
		s->rx_iov[i].iov_len = s->max_datagram;
		h->msg_name = &s->rx_addr[i];
		h->msg_namelen = sizeof(s->rx_addr[i]);
		h->msg_iov = &s->rx_iov[i];
		h->msg_iovlen = 1;
	}
	r = open_socket(addr, addrlen, &o);
	if (r < 0)
		goto fail;
	s->fd = r;
	/* GRO runs only where a slot holds the largest (64 KiB) */
	if (s->max_datagram >= 65535 &&
	    setsockopt(s->fd, SOL_UDP, UDP_GRO, &(int){1}, sizeof(int)) == 0) {
		s->gro = true;
		for (i = 0; i < s->rx_batch; i++) {
			s->rx_msgs[i].msg_hdr.msg_control = s->rx_ctl[i].buf;
			s->rx_msgs[i].msg_hdr.msg_controllen = sizeof(s->rx_ctl[i].buf);
		}
	}
	s->local_len = sizeof(s->local);
	if (getsockname(s->fd, (struct sockaddr *)&s->local, &s->local_len) < 0)
		s->peers_off = true;
	r = loop_add(loop, s->fd, LOOP_READ, udp_io, s);
	if (r < 0)
		goto fail;
	s->flush_hook.cb = udp_before_sleep;
	s->flush_hook.arg = s;
	loop_add_before_sleep(loop, &s->flush_hook);
	*ret = s;
	return 0;
fail:
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	udp_sock_free(s);
	return r;
}

void udp_sock_free(struct udp_sock *s)
{
	if (!s)
		return;
	if (s->fd >= 0) {
		udp_flush(s);
		loop_del_before_sleep(s->loop, &s->flush_hook);
		loop_del(s->loop, s->fd);
		close(s->fd);
	}
	for (unsigned i = 0; i < s->npeers; i++) {
		loop_del(s->loop, s->peers[i].fd);
		close(s->peers[i].fd);
	}
	free(s->rx_msgs);
	free(s->rx_iov);
	free(s->rx_addr);
	free(s->rx_buf);
	free(s->rx_ctl);
	free(s->tx_msgs);
	free(s->tx_iov);
	free(s->tx_addr);
	free(s->tx_arena);
	free(s->tx_peer);
	free(s->gso_msgs);
	free(s->gso_cnt);
	free(s->gso_ctl);
	free(s);
}
