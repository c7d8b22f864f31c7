/* SPDX-License-Identifier: MIT */
/* Tests of the location table: RFC 3261 §10.3 rules, expiry, policy, persistence. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <urcu/urcu-qsbr.h>

#include "sipreg/location.h"

static const uint8_t key[SIPHASH_KEY_LEN] = "0123456789abcdef";
static struct location *loc;
static struct sockaddr_in src;
static int expired_calls;
static char expired_uri[128];

static void on_expired(void *arg, struct sip_str aor, const struct loc_view *b)
{
	(void)arg;
	(void)aor;
	expired_calls++;
	snprintf(expired_uri, sizeof(expired_uri), "%.*s", (int)b->uri.len, b->uri.p);
}

static void setup(void)
{
	urcu_qsbr_register_thread();
	expired_calls = 0;
	cr_assert_eq(location_new(&loc, key, on_expired, NULL), 0);
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	src.sin_port = htons(5060);
	inet_pton(AF_INET, "192.0.2.10", &src.sin_addr);
}

static void teardown(void)
{
	location_free(loc);
	urcu_qsbr_unregister_thread();
}

TestSuite(location, .init = setup, .fini = teardown);

#define AOR SIP_STR("alice@carrier.example")
static const struct loc_policy one_replace = {.max_contacts = 1, .replace = true};
static const struct loc_policy one_keep = {.max_contacts = 1, .replace = false};
static const struct loc_policy three = {.max_contacts = 3, .replace = true};

static struct loc_request req(const char *call_id, uint32_t cseq)
{
	return (struct loc_request){.call_id = sip_str_make(call_id, strlen(call_id)),
				    .cseq = cseq,
				    .received = (const struct sockaddr *)&src,
				    .transport = LOC_UDP};
}

static struct loc_contact contact(const char *uri, uint32_t expires)
{
	return (struct loc_contact){.uri = sip_str_make(uri, strlen(uri)), .expires = expires,
				    .q = SIP_Q_DEFAULT};
}

static int update(const struct loc_contact *c, size_t n, bool star, const char *cid,
		  uint32_t cseq, const struct loc_policy *pol, uint64_t now, size_t *nout,
		  struct loc_view *v)
{
	struct loc_request r = req(cid, cseq);
	struct loc_view tmp[8];

	return location_update(loc, AOR, c, n, star, &r, pol, now, v ? v : tmp, 8, nout);
}

Test(location, add_query_refresh_and_expire_on_time)
{
	struct loc_contact c = contact("sip:alice@192.0.2.10:5060", 3600);
	struct loc_view v[8];
	size_t n;

	cr_assert_eq(update(&c, 1, false, "cid-1", 1, &one_replace, 1000, &n, v), 0);
	cr_assert_eq(n, 1);
	cr_assert(sip_str_eq(v[0].uri, c.uri));
	cr_assert_eq(v[0].expires, 1000 + 3600 * 1000);
	/* a query: no Contact */
	cr_assert_eq(update(NULL, 0, false, "cid-9", 1, &one_replace, 2000, &n, v), 0);
	cr_assert_eq(n, 1);
	/* refresh: same Call-ID, higher CSeq */
	c.expires = 60;
	cr_assert_eq(update(&c, 1, false, "cid-1", 2, &one_replace, 5000, &n, v), 0);
	cr_assert_eq(v[0].expires, 65000);
	cr_assert_eq(v[0].cseq, 2);
	uint64_t recs, binds;
	location_counts(loc, &recs, &binds);
	cr_assert_eq(recs, 1);
	cr_assert_eq(binds, 1);
	/* removed on time: not one ms before */
	cr_assert_eq(location_advance(loc, 64999), 65000);
	cr_assert_eq(location_lookup(loc, AOR, 64999, v, 8), 1);
	cr_assert_eq(expired_calls, 0);
	location_advance(loc, 65000);
	cr_assert_eq(expired_calls, 1);
	cr_assert_str_eq(expired_uri, "sip:alice@192.0.2.10:5060");
	cr_assert_eq(location_lookup(loc, AOR, 65000, v, 8), 0);
	location_counts(loc, &recs, &binds);
	cr_assert_eq(recs, 0);
	cr_assert_eq(binds, 0);
}

Test(location, call_id_and_cseq_ordering)
{
	struct loc_contact c = contact("sip:alice@192.0.2.10", 600);
	size_t n;

	cr_assert_eq(update(&c, 1, false, "cid-1", 10, &one_replace, 0, &n, NULL), 0);
	cr_assert_eq(update(&c, 1, false, "cid-1", 10, &one_replace, 1, &n, NULL), -EALREADY,
		     "a repeated CSeq");
	cr_assert_eq(update(&c, 1, false, "cid-1", 9, &one_replace, 1, &n, NULL), -EALREADY,
		     "an older CSeq");
	cr_assert_eq(update(&c, 1, false, "cid-2", 1, &one_replace, 1, &n, NULL), 0,
		     "another Call-ID updates whatever its CSeq (RFC 3261 10.3 step 7)");
	cr_assert_eq(n, 1);
}

Test(location, star_removes_all_and_respects_ordering)
{
	struct loc_contact c[2] = {contact("sip:a@192.0.2.1", 600), contact("sip:b@192.0.2.2", 600)};
	size_t n;

	cr_assert_eq(update(c, 2, false, "cid-1", 5, &three, 0, &n, NULL), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(update(NULL, 0, true, "cid-1", 5, &three, 1, &n, NULL), -EALREADY);
	cr_assert_eq(location_lookup(loc, AOR, 1, (struct loc_view[8]){0}, 8), 2);
	cr_assert_eq(update(NULL, 0, true, "cid-1", 6, &three, 1, &n, NULL), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(location_lookup(loc, AOR, 1, (struct loc_view[8]){0}, 8), 0);
}

Test(location, expires_zero_removes_one_contact)
{
	struct loc_contact c[2] = {contact("sip:a@192.0.2.1", 600), contact("sip:b@192.0.2.2", 600)};
	struct loc_view v[8];
	size_t n;

	cr_assert_eq(update(c, 2, false, "cid-1", 1, &three, 0, &n, v), 0);
	c[0].expires = 0;
	cr_assert_eq(update(c, 1, false, "cid-1", 2, &three, 1, &n, v), 0);
	cr_assert_eq(n, 1);
	cr_assert(sip_str_eq(v[0].uri, SIP_STR("sip:b@192.0.2.2")));
}

Test(location, replace_on_replaces_the_binding_off_refuses_a_new_location)
{
	struct loc_contact home = contact("sip:alice@192.0.2.10", 600);
	struct loc_contact away = contact("sip:alice@198.51.100.9", 600);
	struct loc_view v[8];
	size_t n;

	cr_assert_eq(update(&home, 1, false, "cid-home", 1, &one_keep, 0, &n, v), 0);
	cr_assert_eq(update(&away, 1, false, "cid-away", 1, &one_keep, 10, &n, v), -EPERM);
	cr_assert_eq(location_lookup(loc, AOR, 10, v, 8), 1);
	cr_assert(sip_str_eq(v[0].uri, home.uri), "untouched after a refusal");
	cr_assert_eq(update(&home, 1, false, "cid-home", 2, &one_keep, 20, &n, v), 0,
		     "a refresh from the same contact is always allowed");
	/* once the binding has expired a new location is welcome */
	cr_assert_eq(update(&away, 1, false, "cid-away", 2, &one_keep, 700000, &n, v), 0);
	cr_assert(sip_str_eq(v[0].uri, away.uri));
	/* replace on: the new location takes the place of the current one */
	cr_assert_eq(update(&home, 1, false, "cid-home", 3, &one_replace, 700001, &n, v), 0);
	cr_assert_eq(n, 1);
	cr_assert(sip_str_eq(v[0].uri, home.uri));
}

Test(location, more_contacts_than_the_limit_in_one_request)
{
	struct loc_contact c[2] = {contact("sip:a@192.0.2.1", 600), contact("sip:b@192.0.2.2", 600)};
	size_t n;

	cr_assert_eq(update(c, 2, false, "cid", 1, &one_replace, 0, &n, NULL), -E2BIG);
}

Test(location, instance_identifies_a_contact_across_address_changes)
{
	struct loc_contact c = contact("sip:alice@192.0.2.10;transport=udp", 600);
	struct loc_view v[8];
	size_t n;

	c.instance = SIP_STR("<urn:uuid:00000000-0000-1000-8000-000A95A0E128>");
	c.reg_id = 1;
	cr_assert_eq(update(&c, 1, false, "cid-1", 1, &three, 0, &n, v), 0);
	c.uri = SIP_STR("sip:alice@203.0.113.77;transport=udp");
	cr_assert_eq(update(&c, 1, false, "cid-2", 1, &three, 5, &n, v), 0);
	cr_assert_eq(n, 1, "same instance and reg-id: one binding, updated");
	cr_assert(sip_str_eq(v[0].uri, c.uri));
	c.reg_id = 2;
	cr_assert_eq(update(&c, 1, false, "cid-2", 2, &three, 6, &n, v), 0);
	cr_assert_eq(n, 2, "another reg-id is another flow");
}

Test(location, source_change_rebuilds_and_is_kept)
{
	struct loc_contact c = contact("sip:alice@10.0.0.5:5060", 300);
	struct loc_request r = req("cid", 1);
	struct sockaddr_in *got;
	struct loc_view v[8];
	size_t n;

	r.nat = true;
	cr_assert_eq(location_update(loc, AOR, &c, 1, false, &r, &three, 0, v, 8, &n), 0);
	src.sin_port = htons(40123); /* the NAT moved the mapping */
	r.cseq = 2;
	cr_assert_eq(location_update(loc, AOR, &c, 1, false, &r, &three, 1, v, 8, &n), 0);
	got = (struct sockaddr_in *)&v[0].received;
	cr_assert_eq(ntohs(got->sin_port), 40123);
	cr_assert(v[0].nat);
	cr_assert_eq(n, 1);
}

struct flushed {
	int calls;
	size_t last_n;
	bool last_replace_all;
	char last_contact[STORE_URI_MAX];
	int fail;
};

static int write_cb(void *arg, const char *aor, const struct store_change *c, size_t n,
		bool replace_all)
{
	struct flushed *f = arg;

	cr_assert_str_eq(aor, "alice@carrier.example");
	if (f->fail)
		return -EIO;
	f->calls++;
	f->last_n = n;
	f->last_replace_all = replace_all;
	if (n)
		snprintf(f->last_contact, sizeof(f->last_contact), "%s", c[0].b.contact);
	return 0;
}

Test(location, flush_writes_each_change_once_deletions_too_and_retries_failures)
{
	struct loc_contact c = contact("sip:alice@192.0.2.10", 600);
	struct flushed f = {0};
	size_t n;

	cr_assert_eq(location_flush(loc, 0, 1900000000, NULL, write_cb, &f), 0);
	cr_assert_eq(update(&c, 1, false, "cid", 1, &three, 0, &n, NULL), 0);
	cr_assert_eq(update(&c, 1, false, "cid", 2, &three, 1, &n, NULL), 0); /* in place */
	f.fail = 1;
	cr_assert_eq(location_flush(loc, 2, 1900000000, NULL, write_cb, &f), -EIO);
	f.fail = 0;
	cr_assert_eq(location_flush(loc, 2, 1900000000, NULL, write_cb, &f), 1, "retried");
	cr_assert_eq(f.calls, 1);
	cr_assert_eq(f.last_n, 1);
	cr_assert_str_eq(f.last_contact, "sip:alice@192.0.2.10");
	cr_assert_eq(location_flush(loc, 3, 1900000000, NULL, write_cb, &f), 0, "nothing changed");
	cr_assert_eq(location_remove(loc, AOR), 0);
	cr_assert_eq(location_remove(loc, AOR), -ENOENT);
	cr_assert_eq(location_flush(loc, 4, 1900000000, NULL, write_cb, &f), 1);
	cr_assert_eq(f.last_n, 0, "the deletion is persisted");
	cr_assert(f.last_replace_all);
}

/* room(): the flush writes each record's changes where the writer asks
 * (a place kept before them for its DEL_AOR when replace_all), write() gets
 * that very array; a failed room() writes nothing and keeps the records
 * dirty for the next flush. */
struct roomy {
	struct store_change area[8];
	struct store_change *given;
	size_t cap;
	bool replace_all;
	int rooms, writes, fail;
	size_t n;
};

static int roomy_room(void *arg, size_t cap, bool replace_all, struct store_change **c)
{
	struct roomy *o = arg;

	o->rooms++;
	if (o->fail)
		return -ENOSPC;
	cr_assert_leq(cap + 1, 8);
	o->cap = cap;
	o->given = *c = &o->area[replace_all ? 1 : 0];
	return 0;
}

static int roomy_write(void *arg, const char *aor, const struct store_change *c, size_t n,
		       bool replace_all)
{
	struct roomy *o = arg;

	cr_assert_str_eq(aor, "alice@carrier.example");
	cr_assert_eq(c, o->given, "write() gets room()'s array");
	cr_assert_leq(n, o->cap);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(c[i].kind, STORE_BINDING_PUT);
	o->writes++;
	o->n = n;
	o->replace_all = replace_all;
	return 0;
}

Test(location, flush_into_the_writers_room)
{
	struct loc_contact c[2] = {contact("sip:alice@192.0.2.10", 600),
				   contact("sip:alice@192.0.2.11", 600)};
	struct roomy o = {0};
	size_t n;

	cr_assert_eq(update(c, 2, false, "cid", 1, &three, 0, &n, NULL), 0);
	o.fail = 1;
	cr_assert_eq(location_flush(loc, 1, 1900000000, roomy_room, roomy_write, &o), -ENOSPC);
	cr_assert_eq(o.writes, 0);
	o.fail = 0;
	cr_assert_eq(location_flush(loc, 2, 1900000000, roomy_room, roomy_write, &o), 1,
		     "kept dirty");
	cr_assert_eq(o.writes, 1);
	cr_assert(o.replace_all, "a new AOR");
	cr_assert_eq(o.given, &o.area[1]);
	cr_assert_eq(o.cap, 2);
	cr_assert_eq(o.n, 2);
	cr_assert_str_eq(o.area[1].b.aor, "alice@carrier.example");
	cr_assert_str_eq(o.area[1].b.contact, "sip:alice@192.0.2.10");
	cr_assert_str_eq(o.area[2].b.contact, "sip:alice@192.0.2.11");
	cr_assert_str_eq(o.area[2].b.call_id, "cid");
	cr_assert_eq(o.area[2].b.expires_at, 1900000000 + 600);
	/* a refresh in place: no DEL_AOR, the room from the array's start */
	cr_assert_eq(update(c, 1, false, "cid", 2, &three, 3, &n, NULL), 0);
	cr_assert_eq(location_flush(loc, 3, 1900000000, roomy_room, roomy_write, &o), 1);
	cr_assert_not(o.replace_all);
	cr_assert_eq(o.given, &o.area[0]);
	cr_assert_eq(o.n, 2);
	cr_assert_eq(o.area[0].b.cseq, 2);
	cr_assert_eq(o.rooms, 3);
	/* the removal: room for none, replace_all */
	cr_assert_eq(location_remove(loc, AOR), 0);
	cr_assert_eq(location_flush(loc, 4, 1900000000, roomy_room, roomy_write, &o), 1);
	cr_assert_eq(o.cap, 0);
	cr_assert_eq(o.n, 0);
	cr_assert(o.replace_all);
}

/* replace_all only when the store may hold a contact the record has not: a
 * new AOR, a dropped contact (expires=0, expiry, a replaced location), or
 * such a change not yet written when the record changed again. */
Test(location, flush_replaces_all_only_when_a_contact_was_dropped)
{
	struct loc_contact a = contact("sip:alice@192.0.2.10", 600);
	struct loc_contact two[2] = {contact("sip:alice@192.0.2.10", 600),
				     contact("sip:alice@192.0.2.11", 60)};
	struct loc_contact a0 = contact("sip:alice@192.0.2.10", 0);
	struct flushed f = {0};
	size_t n;

	cr_assert_eq(update(&a, 1, false, "c1", 1, &three, 0, &n, NULL), 0);
	cr_assert_eq(location_flush(loc, 1, 1900000000, NULL, write_cb, &f), 1);
	cr_assert(f.last_replace_all, "a new AOR");
	cr_assert_eq(update(&a, 1, false, "c1", 2, &three, 1, &n, NULL), 0); /* in place */
	cr_assert_eq(location_flush(loc, 2, 1900000000, NULL, write_cb, &f), 1);
	cr_assert_not(f.last_replace_all, "a refresh");
	cr_assert_eq(update(&a, 1, false, "c2", 1, &three, 2, &n, NULL), 0); /* new Call-ID */
	cr_assert_eq(location_flush(loc, 3, 1900000000, NULL, write_cb, &f), 1);
	cr_assert_not(f.last_replace_all, "the same contact under a new Call-ID");
	cr_assert_eq(update(two, 2, false, "c2", 2, &three, 3, &n, NULL), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(location_flush(loc, 4, 1900000000, NULL, write_cb, &f), 1);
	cr_assert_not(f.last_replace_all, "a contact added");
	cr_assert_eq(f.last_n, 2);

	/* one removed, then a refresh before the flush: still replace_all */
	cr_assert_eq(update(&a0, 1, false, "c2", 3, &three, 5, &n, NULL), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(update(&two[1], 1, false, "c3", 1, &three, 6, &n, NULL), 0);
	cr_assert_eq(location_flush(loc, 7, 1900000000, NULL, write_cb, &f), 1);
	cr_assert(f.last_replace_all, "a contact removed since the last write");
	cr_assert_eq(f.last_n, 1);
	cr_assert_str_eq(f.last_contact, "sip:alice@192.0.2.11");

	/* a failed write keeps it; after a written one, a refresh does not */
	cr_assert_eq(update(&a, 1, false, "c3", 2, &three, 8, &n, NULL), 0);
	cr_assert_eq(location_flush(loc, 9, 1900000000, NULL, write_cb, &f), 1);
	cr_assert_not(f.last_replace_all);
	/* the 60 s binding expires: dropped by the wheel */
	location_advance(loc, 61000);
	f.fail = 1;
	cr_assert_eq(location_flush(loc, 61001, 1900000000, NULL, write_cb, &f), -EIO);
	f.fail = 0;
	cr_assert_eq(location_flush(loc, 61002, 1900000000, NULL, write_cb, &f), 1);
	cr_assert(f.last_replace_all, "an expired contact");
	cr_assert_eq(f.last_n, 1);
	cr_assert_eq(update(&a, 1, false, "c3", 3, &three, 61003, &n, NULL), 0);
	cr_assert_eq(location_flush(loc, 61004, 1900000000, NULL, write_cb, &f), 1);
	cr_assert_not(f.last_replace_all);
}

/* The flush writes every changed record once (the store appends: no order
 * is needed across AORs); a removal and a new registration of the same AOR
 * in one flush come in the order they happened (delete, then the new
 * binding); after a failed write every record not written is written by
 * the next flush. */
struct ordered {
	char aor[64][48];
	size_t n_of[64];
	bool all_of[64];
	int calls;
	int fail_at; /* 1-based call that fails, 0 = none */
};

static int order_cb(void *arg, const char *aor, const struct store_change *c, size_t n,
		bool replace_all)
{
	struct ordered *o = arg;

	(void)c;
	if (o->fail_at && o->calls + 1 == o->fail_at) {
		o->fail_at = 0;
		return -EIO;
	}
	cr_assert_lt(o->calls, 64);
	snprintf(o->aor[o->calls], sizeof(o->aor[0]), "%s", aor);
	o->n_of[o->calls] = n;
	o->all_of[o->calls] = replace_all;
	o->calls++;
	return 0;
}

static void add_aor(const char *aor, const char *cid)
{
	struct loc_contact c = contact("sip:x@192.0.2.10", 600);
	struct loc_request r = req(cid, 1);
	struct loc_view v[2];
	size_t n;

	cr_assert_eq(location_update(loc, sip_str_make(aor, strlen(aor)), &c, 1, false, &r,
				     &three, 0, v, 2, &n), 0);
}

/* Which of names o wrote, each exactly once: a bit each. */
static unsigned written_once(const struct ordered *o, const char *const *names, size_t n)
{
	unsigned mask = 0;

	for (int c = 0; c < o->calls; c++) {
		size_t i = 0;
		while (i < n && strcmp(o->aor[c], names[i]) != 0)
			i++;
		cr_assert_lt(i, n, "write %d: %s is not one of them", c, o->aor[c]);
		cr_assert_not(mask & 1u << i, "%s written twice", names[i]);
		mask |= 1u << i;
	}
	return mask;
}

Test(location, flush_writes_each_record_once_and_a_removal_before_its_readd)
{
	static const char *names[] = {"zed@b.example", "u000002@b.example", "alice@b.example",
				      "u000010@b.example", "u00000@b.example", "u000001@b.example",
				      "bob@a.example", "b@a.example"};
	struct ordered o = {0};
	int bob_del = -1, bob_add = -1, alice = -1;

	for (size_t i = 0; i < 8; i++)
		add_aor(names[i], "c1");
	cr_assert_eq(location_flush(loc, 1, 1900000000, NULL, order_cb, &o), 8);
	cr_assert_eq(written_once(&o, names, 8), 0xffu);

	/* removed, then registered again, before the next flush */
	memset(&o, 0, sizeof(o));
	cr_assert_eq(location_remove(loc, SIP_STR("bob@a.example")), 0);
	add_aor("bob@a.example", "c2");
	add_aor("alice@b.example", "c2");
	cr_assert_eq(location_flush(loc, 2, 1900000000, NULL, order_cb, &o), 3);
	for (int c = 0; c < 3; c++) {
		if (strcmp(o.aor[c], "alice@b.example") == 0)
			alice = c;
		else if (strcmp(o.aor[c], "bob@a.example") == 0 && bob_del < 0)
			bob_del = c;
		else if (strcmp(o.aor[c], "bob@a.example") == 0)
			bob_add = c;
	}
	cr_assert(alice >= 0 && bob_del >= 0 && bob_add >= 0);
	cr_assert_eq(o.n_of[bob_del], 0, "the removal first");
	cr_assert_eq(o.n_of[bob_add], 1, "then the new binding");
	cr_assert(o.all_of[bob_del] && o.all_of[bob_add],
		  "a deletion, then a new AOR: replace_all");
	cr_assert_not(o.all_of[alice], "a new Call-ID for the same contact");

	/* the third write fails: the flush stops there, the next one writes
	 * the records not written, in order again */
	memset(&o, 0, sizeof(o));
	for (size_t i = 0; i < 8; i++)
		add_aor(names[i], "c3");
	o.fail_at = 3;
	cr_assert_eq(location_flush(loc, 3, 1900000000, NULL, order_cb, &o), -EIO);
	cr_assert_eq(o.calls, 2);
	cr_assert_eq(location_flush(loc, 3, 1900000000, NULL, order_cb, &o), 6);
	cr_assert_eq(o.calls, 8);
	cr_assert_eq(written_once(&o, names, 8), 0xffu, "every record once over the two");
}

/* The stored form of a binding's source and transport: dotted quads at
 * their extremes, IPv6 in brackets, TCP. */
struct stored_src {
	char received[STORE_ADDR_MAX];
	char transport[8];
};

static int src_cb(void *arg, const char *aor, const struct store_change *c, size_t n,
		  bool replace_all)
{
	struct stored_src *out = arg;

	(void)aor;
	(void)replace_all;
	cr_assert_eq(n, 1);
	snprintf(out->received, sizeof(out->received), "%s", c[0].b.received);
	snprintf(out->transport, sizeof(out->transport), "%s", c[0].b.transport);
	return 0;
}

/* A reserve changes no record and no answer. */
Test(location, reserve_keeps_the_records)
{
	struct loc_view v[2];

	add_aor("alice@b.example", "c1");
	cr_assert_eq(location_reserve(loc, 200000), 0);
	cr_assert_eq(location_reserve(loc, 1), 0);
	cr_assert_eq(location_lookup(loc, SIP_STR("alice@b.example"), 1, v, 2), 1);
	add_aor("bob@b.example", "c1");
	cr_assert_eq(location_lookup(loc, SIP_STR("bob@b.example"), 1, v, 2), 1);
}

Test(location, flush_writes_the_source_address_and_transport)
{
	static const struct {
		const char *ip;
		uint16_t port;
		enum loc_transport tr;
		const char *want, *want_tr;
	} v[] = {
		{"0.0.0.0", 0, LOC_UDP, "0.0.0.0:0", "udp"},
		{"255.255.255.255", 65535, LOC_UDP, "255.255.255.255:65535", "udp"},
		{"10.0.100.9", 5, LOC_TCP, "10.0.100.9:5", "tcp"},
		{"192.0.2.10", 5060, LOC_UDP, "192.0.2.10:5060", "udp"},
		{"2001:db8::1", 5061, LOC_TCP, "[2001:db8::1]:5061", "tcp"},
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct sockaddr_storage ss = {0};
		struct loc_contact c = contact("sip:alice@192.0.2.10", 600);
		struct loc_request r = req("cid-src", (uint32_t)i + 1);
		struct stored_src out = {0};
		struct loc_view view[2];
		size_t n;

		if (strchr(v[i].ip, ':')) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			s6->sin6_family = AF_INET6;
			s6->sin6_port = htons(v[i].port);
			cr_assert_eq(inet_pton(AF_INET6, v[i].ip, &s6->sin6_addr), 1);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			s4->sin_family = AF_INET;
			s4->sin_port = htons(v[i].port);
			cr_assert_eq(inet_pton(AF_INET, v[i].ip, &s4->sin_addr), 1);
		}
		r.received = (const struct sockaddr *)&ss;
		r.transport = v[i].tr;
		cr_assert_eq(location_update(loc, AOR, &c, 1, false, &r, &three, 0, view, 2, &n), 0);
		cr_assert_eq(location_flush(loc, 1, 1900000000, NULL, src_cb, &out), 1);
		cr_assert_str_eq(out.received, v[i].want);
		cr_assert_str_eq(out.transport, v[i].want_tr);
	}
}

static int save_cb(void *arg, const char *aor, const struct store_change *c, size_t n,
		bool replace_all)
{
	(void)replace_all;
	struct store_binding *saved = arg;

	(void)aor;
	if (n)
		*saved = c[0].b;
	return 0;
}

Test(location, restore_keeps_remaining_expiry_and_drops_expired)
{
	struct loc_contact c = contact("sip:alice@192.0.2.10", 600);
	struct store_binding saved = {0};
	struct flushed f = {0};
	struct loc_view v[8];
	size_t n;

	cr_assert_eq(update(&c, 1, false, "cid", 7, &three, 10000, &n, NULL), 0);
	cr_assert_eq(location_flush(loc, 10000, 1900000000, NULL, save_cb, &saved), 1);
	cr_assert_eq(saved.expires_at, 1900000000 + 600);
	cr_assert_str_eq(saved.received, "192.0.2.10:5060");

	/* a restart, 100 s later on the wall clock, monotonic clock anew */
	location_free(loc);
	cr_assert_eq(location_new(&loc, key, on_expired, NULL), 0);
	cr_assert_eq(location_restore(loc, &saved, 5, 1900000100), 0);
	cr_assert_eq(location_lookup(loc, AOR, 5, v, 8), 1);
	cr_assert_eq(v[0].expires, 5 + 500 * 1000);
	cr_assert_eq(v[0].cseq, 7);
	cr_assert_eq(ntohs(((struct sockaddr_in *)&v[0].received)->sin_port), 5060);
	cr_assert_eq(location_flush(loc, 6, 1900000101, NULL, write_cb, &f), 0,
		     "restored bindings are not written back");
	/* expired while we were down */
	cr_assert_eq(location_restore(loc, &saved, 5, 1900000600), -ESTALE);
	snprintf(saved.received, sizeof(saved.received), "not-an-address");
	cr_assert_eq(location_restore(loc, &saved, 5, 1900000100), -EINVAL);
}

static void *hammer(void *arg)
{
	int id = *(int *)arg;
	char cid[32], uri[64];
	struct loc_view v[8];
	size_t n;

	urcu_qsbr_register_thread();
	snprintf(cid, sizeof(cid), "cid-%d", id);
	for (uint32_t i = 1; i <= 20000; i++) {
		snprintf(uri, sizeof(uri), "sip:t%d-%u@192.0.2.1", id, i % 3);
		struct loc_contact c = contact(uri, 600);
		struct loc_request r = req(cid, i);
		location_update(loc, AOR, &c, 1, false, &r, &three, i, v, 8, &n);
		urcu_qsbr_quiescent_state();
	}
	urcu_qsbr_unregister_thread();
	return NULL;
}

Test(location, workers_updating_one_aor_concurrently)
{
	pthread_t th[3];
	int ids[3] = {0, 1, 2};
	struct loc_view v[8];
	uint64_t recs, binds;

	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, hammer, &ids[i]);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	cr_assert_eq(location_lookup(loc, AOR, 20001, v, 8), 3, "the limit holds");
	location_counts(loc, &recs, &binds);
	cr_assert_eq(recs, 1);
	cr_assert_eq(binds, 3);
}

/* Workers change records while the flusher holds them (its write goes to the
 * database offline): a refresh, a replacement and a removal of records
 * further down the list the flusher is writing. Nothing may be freed under
 * it, nothing written twice in one pass, nothing lost for the next. */
struct race {
	char aor[4][32];
	int calls;
	int seen[4];
	size_t n[4];
};

static void change_others(struct race *rc)
{
	struct loc_contact c = contact("sip:b@192.0.2.2", 600);
	struct loc_contact c2 = contact("sip:c-new@192.0.2.3", 600);
	struct loc_request r = req("cid", 2);
	struct loc_view v[4];
	size_t n;

	/* B refreshed in place, C replaced by a new record, D removed */
	cr_assert_eq(location_update(loc, sip_str_make(rc->aor[1], strlen(rc->aor[1])), &c, 1,
				     false, &r, &three, 10, v, 4, &n),
		     0);
	cr_assert_eq(location_update(loc, sip_str_make(rc->aor[2], strlen(rc->aor[2])), &c2, 1,
				     false, &r, &three, 10, v, 4, &n),
		     0);
	cr_assert_eq(location_remove(loc, sip_str_make(rc->aor[3], strlen(rc->aor[3]))), 0);
	/* what the flusher's write does while it is offline */
	urcu_qsbr_quiescent_state();
	urcu_qsbr_barrier();
}

static int racing_write(void *arg, const char *aor, const struct store_change *c, size_t n,
		bool replace_all)
{
	(void)replace_all;
	struct race *rc = arg;

	(void)c;
	for (int i = 0; i < 4; i++)
		if (strcmp(aor, rc->aor[i]) == 0) {
			rc->seen[i]++;
			rc->n[i] = n;
		}
	if (rc->calls++ == 0)
		change_others(rc);
	return 0;
}

Test(location, records_changed_while_the_flusher_holds_them)
{
	struct race rc = {0};
	uint64_t want = UINT64_MAX;
	int found = 0;
	size_t n;

	/* four AORs of one stripe, so one pass holds them all */
	for (int i = 0; found < 4 && i < 100000; i++) {
		char a[32];
		int len = snprintf(a, sizeof(a), "u%d@carrier.example", i);
		uint64_t s = siphash24(key, a, (size_t)len) % LOCATION_STRIPES;
		if (want == UINT64_MAX)
			want = s;
		if (s == want)
			memcpy(rc.aor[found++], a, sizeof(a));
	}
	cr_assert_eq(found, 4);
	for (int i = 0; i < 4; i++) {
		struct loc_contact c = contact("sip:x@192.0.2.1", 600);
		struct loc_request r = req("cid", 1);
		struct loc_view v[4];
		cr_assert_eq(location_update(loc, sip_str_make(rc.aor[i], strlen(rc.aor[i])), &c, 1,
					     false, &r, &three, 0, v, 4, &n),
			     0);
	}
	/* this pass: A; B and C were replaced under it (their successors come
	 * next pass); D's deletion */
	cr_assert_eq(location_flush(loc, 1, 1900000000, NULL, racing_write, &rc), 2);
	cr_assert_eq(rc.seen[0], 1);
	cr_assert_eq(rc.seen[1], 0, "a replaced record is not written");
	cr_assert_eq(rc.seen[2], 0);
	cr_assert_eq(rc.seen[3], 1);
	cr_assert_eq(rc.n[3], 0, "D: deleted");
	/* the next pass has the changes: B and C's new records. D was removed
	 * before the flusher reached it: the pass wrote its deletion, and it
	 * is not listed again */
	memset(rc.seen, 0, sizeof(rc.seen));
	cr_assert_eq(location_flush(loc, 20, 1900000000, NULL, racing_write, &rc), 2);
	cr_assert_eq(rc.seen[0], 0);
	cr_assert_eq(rc.seen[1], 1);
	cr_assert_eq(rc.n[1], 2, "B: its two bindings (x and b)");
	cr_assert_eq(rc.seen[2], 1);
	cr_assert_eq(rc.seen[3], 0);
	cr_assert_eq(location_flush(loc, 30, 1900000000, NULL, racing_write, &rc), 0);
}
