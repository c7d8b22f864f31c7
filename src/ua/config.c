/* SPDX-License-Identifier: MIT */
/*
 * config.c - validation of a trunk's configuration and the UA's global
 * settings (see include/sipreg/ua.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <strings.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sipreg/ua.h"
#include "ua_private.h"

static int fail(struct ua_error *err, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static int fail(struct ua_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* Characters of a user part we write verbatim into a URI (RFC 3261 §25.1
 * unreserved and user-unreserved, '%' escapes), without ';', '@', ':'. */
static bool user_char(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("-_.!~*'()&=+$,?/%", c) != NULL;
}

static bool host_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':';
}

static bool name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

/* Printable, and safe between quotes when quoted is set. */
static bool text_ok(const char *s, bool quoted)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			return false;
		if (quoted && (c == '"' || c == '\\'))
			return false;
	}
	return true;
}

static const char *str(const char *s)
{
	return s ? s : "";
}

/* A host: a name (labels of letters, digits, '-', '.'), IPv4, or IPv6
 * without brackets. */
static int check_host(const char *field, const char *h, bool required,
                      struct ua_error *err)
{
	size_t n = strlen(h);
	struct in6_addr a6;

	if (n == 0)
		return required ? fail(err,
		                       "%s: missing (allowed: a host name or address)",
		                       field)
		                : 0;
	if (n > UA_HOST_MAX)
		return fail(err, "%s: %zu bytes is too long (allowed: 1-%d bytes)", field,
		            n, UA_HOST_MAX);
	for (size_t i = 0; i < n; i++)
		if (!host_char((unsigned char)h[i]))
			return fail(err,
			            "%s: \"%.64s\" has a bad character (allowed: a host "
			            "name, "
			            "IPv4 or IPv6 address without brackets)",
			            field, h);
	if (strchr(h, ':') && inet_pton(AF_INET6, h, &a6) != 1)
		return fail(err,
		            "%s: \"%.64s\" is not an IPv6 address (allowed: a host name, "
		            "IPv4 or IPv6 address without brackets)",
		            field, h);
	if (h[0] == '.' || h[0] == '-' || strstr(h, ".."))
		return fail(err, "%s: \"%.64s\" is not a host name", field, h);
	return 0;
}

static int check_user(const char *field, const char *u, bool required,
                      struct ua_error *err)
{
	size_t n = strlen(u);

	if (n == 0)
		return required ? fail(err, "%s: missing (allowed: 1-%d bytes)", field,
		                       UA_FIELD_MAX)
		                : 0;
	if (n > UA_FIELD_MAX)
		return fail(err, "%s: %zu bytes is too long (allowed: 1-%d bytes)", field,
		            n, UA_FIELD_MAX);
	for (size_t i = 0; i < n; i++)
		if (!user_char((unsigned char)u[i]))
			return fail(err,
			            "%s: \"%.64s\" has a bad character (allowed: "
			            "letters, digits "
			            "and -_.!~*'()&=+$,?/%%)",
			            field, u);
	return 0;
}

static int check_text(const char *field, const char *s, bool quoted, struct ua_error *err)
{
	size_t n = strlen(s);

	if (n > UA_FIELD_MAX)
		return fail(err, "%s: %zu bytes is too long (allowed: 0-%d bytes)", field,
		            n, UA_FIELD_MAX);
	if (!text_ok(s, quoted))
		return fail(err,
		            "%s: has a control character%s (allowed: printable text)",
		            field, quoted ? ", '\"' or '\\'" : "");
	return 0;
}

int ua_trunk_config_validate(const struct ua_trunk_config *c, struct ua_error *err)
{
	const char *name = str(c->name);
	size_t n = strlen(name);
	int r;

	if (n == 0)
		return fail(err,
		            "name: missing (allowed: 1-%d bytes of A-Z a-z 0-9 . _ -)",
		            UA_NAME_MAX);
	if (n > UA_NAME_MAX)
		return fail(err, "name: %zu bytes is too long (allowed: 1-%d bytes)", n,
		            UA_NAME_MAX);
	for (size_t i = 0; i < n; i++)
		if (!name_char((unsigned char)name[i]))
			return fail(err,
			            "name: \"%.64s\" has a bad character (allowed: A-Z "
			            "a-z 0-9 . _ -)",
			            name);
	if ((r = check_host("registrar", str(c->registrar), true, err)) < 0)
		return r;
	if ((r = check_host("proxy", str(c->proxy), false, err)) < 0)
		return r;
	if (c->transport != UA_TRANSPORT_UDP && c->transport != UA_TRANSPORT_TCP)
		return fail(err, "transport: %d is not a transport (allowed: udp, tcp)",
		            (int)c->transport);
	if ((r = check_user("user", str(c->user), true, err)) < 0)
		return r;
	if ((r = check_text("auth_user", str(c->auth_user), true, err)) < 0)
		return r;
	if ((r = check_text("password", str(c->password), false, err)) < 0)
		return r;
	if ((r = check_host("domain", str(c->domain), false, err)) < 0)
		return r;
	if ((r = check_text("realm", str(c->realm), true, err)) < 0)
		return r;
	if ((r = check_user("contact_user", str(c->contact_user), false, err)) < 0)
		return r;
	if (c->expire != UA_EXPIRE_GLOBAL && c->expire != UA_EXPIRE_AUTO &&
	    (c->expire < UA_EXPIRE_MIN || c->expire > UA_EXPIRE_MAX))
		return fail(err, "expire: %d is out of range (allowed: auto or %d-%d)",
		            c->expire, UA_EXPIRE_MIN, UA_EXPIRE_MAX);
	if (c->retry_delay != UA_RETRY_GLOBAL &&
	    (c->retry_delay < UA_RETRY_MIN || c->retry_delay > UA_RETRY_MAX))
		return fail(err, "retry_delay: %d is out of range (allowed: %d-%d)",
		            c->retry_delay, UA_RETRY_MIN, UA_RETRY_MAX);
	return 0;
}

void ua_settings_from_config(struct ua_settings *s, const struct config *cfg)
{
	memset(s, 0, sizeof(*s));
	s->expire = cfg->ua_expire;
	s->retry_delay = cfg->ua_retry_delay;
	s->send_unregister = cfg->ua_send_unregister;
	s->privacy = cfg->ua_privacy;
	s->request_expire = cfg->ua_register_request_expire;
	snprintf(s->user_agent, sizeof(s->user_agent), "%s", cfg->user_agent);
}

int ua_settings_check(const struct ua_settings *s)
{
	if (s->expire != 0 && (s->expire < UA_EXPIRE_MIN || s->expire > UA_EXPIRE_MAX))
		return -EINVAL;
	if (s->retry_delay < UA_RETRY_MIN || s->retry_delay > UA_RETRY_MAX)
		return -EINVAL;
	if (s->request_expire < UA_EXPIRE_MIN || s->request_expire > UA_EXPIRE_MAX)
		return -EINVAL;
	if (s->privacy != CONFIG_PRIVACY_IGNORE && s->privacy != CONFIG_PRIVACY_ID &&
	    s->privacy != CONFIG_PRIVACY_NONE)
		return -EINVAL;
	if (memchr(s->user_agent, '\0', sizeof(s->user_agent)) == NULL ||
	    !text_ok(s->user_agent, false))
		return -EINVAL;
	return 0;
}

int ua_transport_parse(const char *s, enum ua_transport *out)
{
	s = str(s);
	if (strcasecmp(s, "udp") == 0)
		*out = UA_TRANSPORT_UDP;
	else if (strcasecmp(s, "tcp") == 0)
		*out = UA_TRANSPORT_TCP;
	else
		return -EINVAL;
	return 0;
}

const char *ua_transport_name(enum ua_transport t)
{
	return t == UA_TRANSPORT_UDP ? "udp" : t == UA_TRANSPORT_TCP ? "tcp" : "?";
}

/* Decimal digits only, at most 9 of them. */
static int decimal(const char *s, long *out)
{
	char *end;
	size_t n = strlen(s);

	if (n == 0 || n > 9 || strspn(s, "0123456789") != n)
		return -EINVAL;
	*out = strtol(s, &end, 10);
	return 0;
}

int ua_expire_parse(const char *s, int *out)
{
	long v;

	s = str(s);
	if (!*s) {
		*out = UA_EXPIRE_GLOBAL;
		return 0;
	}
	if (strcasecmp(s, "auto") == 0) {
		*out = UA_EXPIRE_AUTO;
		return 0;
	}
	if (decimal(s, &v) < 0)
		return -EINVAL;
	if (v < UA_EXPIRE_MIN || v > UA_EXPIRE_MAX)
		return -ERANGE;
	*out = (int)v;
	return 0;
}

int ua_retry_parse(const char *s, int *out)
{
	long v;

	s = str(s);
	if (!*s) {
		*out = UA_RETRY_GLOBAL;
		return 0;
	}
	if (decimal(s, &v) < 0)
		return -EINVAL;
	if (v < UA_RETRY_MIN || v > UA_RETRY_MAX)
		return -ERANGE;
	*out = (int)v;
	return 0;
}

static int copy_host(const char *h, size_t n, char *host, size_t cap)
{
	if (n > UA_HOST_MAX || n + 1 > cap)
		return -ENAMETOOLONG;
	memcpy(host, h, n);
	host[n] = '\0';
	return 0;
}

static int parse_port(const char *p, uint16_t *port)
{
	long v;

	if (decimal(p, &v) < 0 || v < 1 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int ua_hostport_parse(const char *s, char *host, size_t cap, uint16_t *port)
{
	const char *colon;
	int r;

	s = str(s);
	*port = 0;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || end == s + 1)
			return -EINVAL;
		if (end[1] != '\0' && end[1] != ':')
			return -EINVAL;
		if (end[1] == ':' && (r = parse_port(end + 2, port)) < 0)
			return r;
		return copy_host(s + 1, (size_t)(end - s - 1), host, cap);
	}
	colon = strchr(s, ':');
	if (colon && strchr(colon + 1, ':')) /* a bare IPv6 address */
		return copy_host(s, strlen(s), host, cap);
	if (colon) {
		if (colon == s)
			return -EINVAL;
		if ((r = parse_port(colon + 1, port)) < 0)
			return r;
		return copy_host(s, (size_t)(colon - s), host, cap);
	}
	return copy_host(s, strlen(s), host, cap);
}
