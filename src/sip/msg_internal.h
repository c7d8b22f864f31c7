/* SPDX-License-Identifier: MIT */
/*
 * msg_internal.h - private to src/sip/ and its tests: the general split.
 *
 * sip_msg_parse first tries a fast split for the usual message (msg.c: plain
 * CRLF line ends, no folding, no other control byte in the header block) and
 * falls back to sip_msg_parse_general for everything else. The general code
 * alone gives the same results and errors for every input; the fuzz target
 * checks the two against each other.
 */
#ifndef SIPREG_SIP_MSG_INTERNAL_H
#define SIPREG_SIP_MSG_INTERNAL_H

#include "sipreg/sip.h"

/* sip_msg_parse without the fast split: same contract and results. */
int sip_msg_parse_general(struct sip_msg *m, const char *buf, size_t len,
			  struct sip_hdr *hdrs, size_t cap, unsigned flags, struct sip_err *err);

#endif /* SIPREG_SIP_MSG_INTERNAL_H */
