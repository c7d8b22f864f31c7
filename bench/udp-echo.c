/* SPDX-License-Identifier: MIT */
/*
 * udp-echo - the raw UDP ceiling: sends every datagram back to its source,
 * with the batching a SIP server would use (recvmmsg then sendmmsg, up to
 * --batch datagrams per call), in one thread.
 *
 *   udp-echo --listen HOST:PORT [--batch N] [--sockbuf BYTES] [--offload]
 *
 * --offload gives the echo the kernel's UDP segmentation offloads that sipregd
 * uses (src/net/udp.c): UDP_GRO on the socket, so a sender's run of equal-size
 * datagrams (a UDP_SEGMENT message on loopback) arrives in one buffer, and each
 * such buffer goes back as one UDP_SEGMENT message with the same segment size.
 * It is the ceiling to hold sipregd against when sipregd uses them too.
 *
 * With port 0 the kernel picks the port; the bound port is printed on stdout
 * (one line, flushed) as soon as the socket is ready, whatever the port.
 * SIGINT/SIGTERM stop it; it then prints the datagrams echoed on stderr.
 * Exit status: 0 after a signal, 1 on a socket error, 2 on a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <unistd.h>

#define BATCH_MAX 1024
#define DGRAM_MAX 65536

/* Debian 12's glibc headers have these; the kernel's values, for older ones. */
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* One slot's control buffer: UDP_GRO's segment size on receive (an int),
 * UDP_SEGMENT's on send (a uint16_t). */
union echo_ctl {
	char buf[CMSG_SPACE(sizeof(int))];
	struct cmsghdr align;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static int parse_listen(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256], *port, *end;
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM,
				 .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
	struct addrinfo *res;
	unsigned long p;

	if (strlen(s) >= sizeof(host))
		return -EINVAL;
	strcpy(host, s);
	if (host[0] == '[') {
		char *close = strchr(host, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		*close = '\0';
		port = close + 2;
		memmove(host, host + 1, strlen(host + 1) + 1);
		hints.ai_family = AF_INET6;
	} else {
		port = strrchr(host, ':');
		if (!port)
			return -EINVAL;
		*port++ = '\0';
	}
	errno = 0;
	p = strtoul(port, &end, 10);
	if (!host[0] || !*port || *end || errno || p > 65535 || *port == '-' || *port == '+')
		return -EINVAL;
	if (getaddrinfo(host, port, &hints, &res) != 0)
		return -EINVAL;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/*
 * Turns a received slot's UDP_GRO control message into the UDP_SEGMENT one
 * that sends it back as the same run, or drops the control for a lone datagram.
 * Returns the datagrams the slot holds.
 */
static unsigned long long echo_segment(struct msghdr *h)
{
	size_t len = h->msg_iov[0].iov_len;
	struct cmsghdr *c;
	int seg = 0;

	for (c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(int)))
			memcpy(&seg, CMSG_DATA(c), sizeof(seg));
	if (seg <= 0 || len <= (size_t)seg) {
		h->msg_control = NULL;
		h->msg_controllen = 0;
		return 1;
	}
	c = CMSG_FIRSTHDR(h);
	c->cmsg_level = SOL_UDP;
	c->cmsg_type = UDP_SEGMENT;
	c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
	memcpy(CMSG_DATA(c), &(uint16_t){(uint16_t)seg}, sizeof(uint16_t));
	h->msg_controllen = CMSG_SPACE(sizeof(uint16_t));
	return (len + (size_t)seg - 1) / (size_t)seg;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: udp-echo --listen HOST:PORT [--batch 1-%d (64)] [--sockbuf BYTES]"
		   " [--offload]\n", BATCH_MAX);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"batch", required_argument, NULL, 'b'},
		{"sockbuf", required_argument, NULL, 's'},
		{"offload", no_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct sockaddr_storage addr, *peers;
	struct mmsghdr *msgs;
	struct iovec *iov;
	union echo_ctl *ctl;
	char *bufs, *end;
	bool offload = false;
	socklen_t alen = 0;
	const char *listen_at = NULL;
	unsigned long batch = 64, sockbuf = 0;
	unsigned long long echoed = 0, calls = 0;
	struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: EINTR stops */
	int opt, fd;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			listen_at = optarg;
			break;
		case 'b':
			errno = 0;
			batch = strtoul(optarg, &end, 10);
			if (*optarg == '-' || *end || errno || batch < 1 || batch > BATCH_MAX) {
				fprintf(stderr, "udp-echo: --batch %s: out of range (allowed: 1-%d)\n",
					optarg, BATCH_MAX);
				return 2;
			}
			break;
		case 's':
			errno = 0;
			sockbuf = strtoul(optarg, &end, 10);
			if (*optarg == '-' || *end || errno || sockbuf < 4096 || sockbuf > (1ul << 30)) {
				fprintf(stderr, "udp-echo: --sockbuf %s: out of range "
						"(allowed: 4096-1073741824)\n", optarg);
				return 2;
			}
			break;
		case 'o':
			offload = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc || !listen_at) {
		usage(stderr);
		return 2;
	}
	if (parse_listen(listen_at, &addr, &alen) < 0) {
		fprintf(stderr, "udp-echo: --listen %s: not HOST:PORT (IPv6: [ADDR]:PORT)\n",
			listen_at);
		return 2;
	}

	fd = socket(addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, alen) < 0) {
		fprintf(stderr, "udp-echo: %s: %s\n", listen_at, strerror(errno));
		return 1;
	}
	if (sockbuf) {
		int v = (int)sockbuf;

		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	}
	if (offload && setsockopt(fd, SOL_UDP, UDP_GRO, &(int){1}, sizeof(int)) < 0) {
		fprintf(stderr, "udp-echo: --offload: UDP_GRO: %s\n", strerror(errno));
		return 1;
	}
	alen = sizeof(addr);
	getsockname(fd, (struct sockaddr *)&addr, &alen);
	printf("%u\n", ntohs(addr.ss_family == AF_INET6
				     ? ((struct sockaddr_in6 *)&addr)->sin6_port
				     : ((struct sockaddr_in *)&addr)->sin_port));
	fflush(stdout);

	msgs = calloc(batch, sizeof(*msgs));
	iov = calloc(batch, sizeof(*iov));
	peers = calloc(batch, sizeof(*peers));
	ctl = calloc(batch, sizeof(*ctl));
	bufs = malloc(batch * DGRAM_MAX);
	if (!msgs || !iov || !peers || !ctl || !bufs) {
		fprintf(stderr, "udp-echo: out of memory\n");
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	while (!stop_flag) {
		int n, sent = 0;

		for (unsigned long i = 0; i < batch; i++) {
			iov[i] = (struct iovec){.iov_base = bufs + i * DGRAM_MAX,
						.iov_len = DGRAM_MAX};
			msgs[i].msg_hdr = (struct msghdr){.msg_name = &peers[i],
							  .msg_namelen = sizeof(peers[i]),
							  .msg_iov = &iov[i],
							  .msg_iovlen = 1};
			if (offload) {
				msgs[i].msg_hdr.msg_control = ctl[i].buf;
				msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
			}
		}
		/* Blocks for the first datagram, then takes what is queued. */
		n = recvmmsg(fd, msgs, (unsigned int)batch, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno == EINTR || errno == ECONNREFUSED)
				continue;
			fprintf(stderr, "udp-echo: recvmmsg: %s\n", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n; i++) {
			iov[i].iov_len = msgs[i].msg_len;
			echoed += offload ? echo_segment(&msgs[i].msg_hdr) : 1;
		}
		while (sent < n) {
			int r = sendmmsg(fd, msgs + sent, (unsigned int)(n - sent), 0);

			if (r < 0) {
				if (errno == EINTR)
					continue;
				sent++; /* drop the one that failed (peer gone) */
				continue;
			}
			sent += r;
		}
		calls++;
	}
	fprintf(stderr, "udp-echo: echoed %llu datagrams in %llu batches\n", echoed, calls);
	close(fd);
	free(msgs);
	free(iov);
	free(peers);
	free(ctl);
	free(bufs);
	return 0;
}
