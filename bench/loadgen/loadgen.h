/* SPDX-License-Identifier: MIT */
/*
 * loadgen.h - the pieces of sipreg-bench, the SIP load generator (private to
 * bench/; nothing here depends on the daemon's internals).
 *
 *   hist.c      log-linear latency histogram (no sort, O(1) add, mergeable)
 *   scenario.c  request templates with fixed-width per-request fields and the
 *               cheap response scan; the OPTIONS and echo scenarios
 *   engine.c    one thread: its sockets, its window of slots, batched
 *               sendmmsg/recvmmsg, pacing, timeouts, counters
 *
 * Matching a response to its request needs no lookup: every request carries a
 * 64-bit key (thread, slot, generation) written as 16 hex digits in its Via
 * branch and in its Call-ID, and the generation tells a late answer for a slot
 * that timed out and was reused from the answer the slot waits for.
 *
 * A scenario is a request builder plus a response handler behind struct
 * lg_scenario_ops: OPTIONS (and the echo ceiling, which is OPTIONS with the
 * echoed request accepted as its answer) now; REGISTER with digest answers
 * plugs in the same way (its handler builds the authenticated request from
 * the 401 and returns its length, and the engine sends it in the same slot).
 *
 * Transports: UDP, or TCP with the same engine: a struct sockq is then one
 * connection, a batch goes out with one writev, and what arrives is cut into
 * messages by Content-Length before on_datagram(); slots, keys, timeouts and
 * scenarios do not change. A connection the server closes ends the offering
 * (what was in flight on it times out).
 */
#ifndef SIPREG_BENCH_LOADGEN_H
#define SIPREG_BENCH_LOADGEN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define LG_BATCH 64           /* datagrams per sendmmsg/recvmmsg */
#define LG_MSG_MAX 2048       /* largest request a scenario may build */
#define LG_RECV_MAX 4096      /* receive buffer per datagram (longer: truncated) */
#define LG_MAX_THREADS 64
#define LG_MAX_SOCKETS 16     /* per thread */
#define LG_MAX_SLOTS (1u << 22)

/* Latency histogram: values in ns, 2^LG_HIST_SUB sub-buckets per power of two
 * (relative error below 1/2^LG_HIST_SUB = 1.6 %), up to 2^LG_HIST_MAXEXP ns. */
#define LG_HIST_SUB 6
#define LG_HIST_MAXEXP 40 /* 2^40 ns = 18 min; larger values land in the last bucket */
#define LG_HIST_BUCKETS ((LG_HIST_MAXEXP - LG_HIST_SUB + 1) << LG_HIST_SUB)

struct lg_hist {
	uint64_t n;
	uint64_t min;
	uint64_t max;
	uint64_t sum;
	uint64_t count[LG_HIST_BUCKETS];
};

void lg_hist_init(struct lg_hist *h);
void lg_hist_add(struct lg_hist *h, uint64_t ns);
void lg_hist_merge(struct lg_hist *dst, const struct lg_hist *src);
/* The value at quantile q (0..1): the midpoint of the bucket holding it,
 * clamped to [min, max]; 0 for an empty histogram. */
uint64_t lg_hist_quantile(const struct lg_hist *h, double q);
/* Bucket index of a value and the lowest value of a bucket (for tests). */
unsigned int lg_hist_index(uint64_t ns);
uint64_t lg_hist_bucket_low(unsigned int idx);

/* Key: thread (8 bits) | slot (24 bits) | generation (32 bits). */
static inline uint64_t lg_key(unsigned int tid, uint32_t slot, uint32_t gen)
{
	return ((uint64_t)tid << 56) | ((uint64_t)(slot & 0xffffffu) << 32) | gen;
}

enum lg_mode {
	LG_CLOSED, /* --window N requests in flight */
	LG_OPEN,   /* --rate R requests per second, offered whatever the answers */
};

struct lg_config {
	struct sockaddr_storage target;
	socklen_t target_len;
	struct sockaddr_storage local; /* address to bind (port 0) */
	socklen_t local_len;
	const char *method;     /* "OPTIONS" */
	const char *template_text; /* NULL: the built-in template of the method */
	bool expect_echo;       /* the echoed request counts as the answer */
	enum lg_mode mode;
	unsigned int threads;
	unsigned int sockets;   /* per thread */
	uint32_t window;        /* slots per thread */
	double rate;            /* total, requests per second (open loop) */
	uint64_t count;         /* total requests to offer; 0: no bound */
	uint64_t duration_ns;   /* 0: no bound */
	uint64_t timeout_ns;
	uint32_t run_nonce;     /* random per run, in every branch and Call-ID */
	int rcvbuf;             /* SO_RCVBUF/SO_SNDBUF, 0: the kernel's */
	/* REGISTER: users (thread t takes the users i with i % threads == t) */
	char **users;
	char **passwords;       /* per user; NULL entries: password */
	uint32_t nusers;
	const char *password;
	const char *domain;     /* Request-URI and AOR host */
	uint32_t expires;
	bool tcp;               /* one TCP connection per socket instead of UDP */
	bool gso;               /* send batches of equal-size requests with UDP_SEGMENT */
};

/* The request being built: what a scenario needs to write it. */
struct lg_req {
	uint64_t key;     /* lg_key(tid, slot, gen) */
	uint64_t next_key; /* set before a response handler runs: the key a
			    * follow-up request must carry in its branch */
	uint64_t seq;     /* the thread's request counter (CSeq is derived) */
	unsigned int sock; /* index of the thread socket it goes out on */
	uint32_t step;    /* 0 for the first request of a slot's chain */
	uint32_t user;    /* the scenario's: which user the chain is for */
};

/* A received datagram, after the engine's scan. */
struct lg_resp {
	const char *buf;
	size_t len;
	int status; /* 100-699, or 0 for an echoed request (expect_echo) */
};

/* What a response handler decides: the transaction is over (its status is
 * counted and its latency recorded), it was provisional (keep waiting), or a
 * positive length: the handler wrote the next request of the chain into the
 * buffer (e.g. REGISTER with credentials after 401), sent in the same slot. */
#define LG_FINAL 0
#define LG_PROVISIONAL (-1)

struct lg_local {
	struct sockaddr_storage addr;
	socklen_t len;
};

struct lg_scenario_ops {
	const char *name;
	/* Per thread tid; locals: the thread's bound sockets. Returns 0 or -errno. */
	int (*create)(void **ret, const struct lg_config *cfg, unsigned int tid,
		      const struct lg_local *locals, unsigned int nlocal);
	void (*destroy)(void *sc);
	/* Writes the first request of a chain into buf (req->step is 0; the
	 * scenario may set req->user); returns its length or -errno (fatal:
	 * the thread offers no more). */
	int (*build)(void *sc, struct lg_req *req, char *buf, size_t cap);
	/* Called when a chain ends (final answer or timeout), may be NULL. */
	void (*done)(void *sc, struct lg_req *req, int status);
	/* See LG_FINAL above; a negative errno other than LG_PROVISIONAL
	 * counts the answer as bad and ends the transaction. */
	int (*response)(void *sc, struct lg_req *req, const struct lg_resp *resp, char *buf,
			size_t cap);
};

extern const struct lg_scenario_ops lg_scenario_options;
extern const struct lg_scenario_ops lg_scenario_register;

/* Scans a datagram: the status code (or 0 for an echoed request of method
 * `method` when echo is set), and the key from the branch marker or, failing
 * that, the Call-ID marker. Returns 0, -EBADMSG (neither a response nor an
 * accepted echo) or -ENOENT (no key of this run). */
int lg_scan(const char *buf, size_t len, uint32_t run_nonce, const char *method, bool echo,
	    int *status, uint64_t *key);

/* The request template: text with [keyword] fields, sipp's names where they
 * exist: [branch] [call_id] [tag] [cseq] (per request, fixed width), and
 * [local_ip] [local_port] [remote_ip] [remote_port] [transport] [method]
 * [len] (per socket). Bare LF line ends become CRLF. */
struct lg_template;
int lg_template_new(struct lg_template **ret, const char *text, const struct lg_config *cfg,
		    const struct lg_local *local);
void lg_template_free(struct lg_template *t);
int lg_template_fill(const struct lg_template *t, const struct lg_req *req, char *buf,
		     size_t cap);
size_t lg_template_len(const struct lg_template *t);

/* Counters of one thread (summed over threads for the report). */
struct lg_stats {
	uint64_t offered;    /* new transactions started (or skipped, open loop) */
	uint64_t sent;       /* datagrams sent (follow-ups included) */
	uint64_t skipped;    /* open loop: due but no free slot */
	uint64_t completed;  /* final answers */
	uint64_t ok;         /* 2xx, or echoes */
	uint64_t timeouts;
	uint64_t provisional;
	uint64_t stray;      /* answer for no request in flight (late, duplicate) */
	uint64_t bad;        /* unparsable datagrams */
	uint64_t truncated;
	uint64_t send_errors;
	uint64_t recv_errors; /* ICMP errors (ECONNREFUSED ...) reported by the socket */
	uint64_t echoes;
	uint64_t codes[700];
	uint64_t first_send_ns;
	uint64_t last_done_ns;
	struct lg_hist lat;
};

struct lg_thread_args {
	const struct lg_config *cfg;
	const struct lg_scenario_ops *ops;
	unsigned int tid;
	uint64_t quota;      /* this thread's share of --count, UINT64_MAX: none */
	double rate;         /* this thread's share of --rate */
	uint64_t start_ns;
	volatile int *stop;  /* set by SIGINT/SIGTERM */
	struct lg_stats *stats;
	int err;             /* 0 or -errno when the thread could not run */
	char errmsg[160];
};

void *lg_thread_main(void *arg);

uint64_t lg_now_ns(void);

#endif
