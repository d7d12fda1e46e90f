/*
 * acl.c - see acl.h.  Matching rules copied from ZooKeeper's
 * ZooKeeperServer.checkACL and its providers (IPAuthenticationProvider,
 * DigestAuthenticationProvider).
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "acl.h"
#include "coord/zk.h"
#include "xalloc.h"

bool acl_skip;

#define ACL_BUCKETS 1024
static struct acl *acl_table[ACL_BUCKETS];

static uint32_t hash_entries(const struct acl_entry *e, int n)
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < n; i++) {
		h = (h ^ (uint32_t)e[i].perms) * 16777619u;
		for (const char *s = e[i].scheme; *s; s++)
			h = (h ^ (uint8_t)*s) * 16777619u;
		h = (h ^ ':') * 16777619u;
		for (const char *s = e[i].id; *s; s++)
			h = (h ^ (uint8_t)*s) * 16777619u;
	}
	return h;
}

static bool same(const struct acl *a, const struct acl_entry *e, int n)
{
	if (a->n != n)
		return false;
	for (int i = 0; i < n; i++)
		if (a->e[i].perms != e[i].perms || strcmp(a->e[i].scheme, e[i].scheme) ||
		    strcmp(a->e[i].id, e[i].id))
			return false;
	return true;
}

struct acl *acl_intern(const struct acl_entry *e, int n)
{
	uint32_t h = hash_entries(e, n);
	struct acl **slot = &acl_table[h % ACL_BUCKETS];
	for (struct acl *a = *slot; a; a = a->hnext)
		if (a->hash == h && same(a, e, n))
			return acl_ref(a);
	struct acl *a = xmalloc(sizeof(*a) + (size_t)n * sizeof(a->e[0]));
	a->refs = 1;
	a->hash = h;
	a->n = n;
	for (int i = 0; i < n; i++) {
		a->e[i].perms = e[i].perms;
		a->e[i].scheme = xstrdup(e[i].scheme);
		a->e[i].id = xstrdup(e[i].id);
	}
	a->hnext = *slot;
	*slot = a;
	return a;
}

struct acl *acl_ref(struct acl *a)
{
	a->refs++;
	return a;
}

void acl_unref(struct acl *a)
{
	if (!a || --a->refs)
		return;
	struct acl **p = &acl_table[a->hash % ACL_BUCKETS];
	while (*p != a)
		p = &(*p)->hnext;
	*p = a->hnext;
	for (int i = 0; i < a->n; i++) {
		free(a->e[i].scheme);
		free(a->e[i].id);
	}
	free(a);
}

static struct acl *well_known(struct acl **cache, int perms)
{
	if (!*cache) {
		struct acl_entry e = { perms, "world", "anyone" };
		*cache = acl_intern(&e, 1); /* the cache holds one reference forever */
	}
	return *cache;
}

struct acl *acl_open_unsafe(void)
{
	static struct acl *a;
	return well_known(&a, ZPERM_ALL);
}

struct acl *acl_read_unsafe(void)
{
	static struct acl *a;
	return well_known(&a, ZPERM_READ);
}

void acl_encode(struct buf *b, const struct acl *a)
{
	jute_put_int(b, a->n);
	for (int i = 0; i < a->n; i++) {
		jute_put_int(b, a->e[i].perms);
		jute_put_string(b, a->e[i].scheme);
		jute_put_string(b, a->e[i].id);
	}
}

int acl_decode(struct jute_in *in, struct acl_entry **out)
{
	int n = jute_get_count(in, 12);
	struct acl_entry *e = n ? arena_alloc(in->arena, (size_t)n * sizeof(*e)) : NULL;
	for (int i = 0; i < n && !in->err; i++) {
		e[i].perms = jute_get_int(in);
		e[i].scheme = jute_get_string(in, NULL);
		e[i].id = jute_get_string(in, NULL);
		if (!e[i].scheme)
			e[i].scheme = "";
		if (!e[i].id)
			e[i].id = "";
	}
	*out = e;
	return in->err ? 0 : n;
}

/* ip scheme: "a.b.c.d" or "a.b.c.d/bits" against the client's address. */
static bool ip_parse(const char *s, uint32_t *addr, int *bits)
{
	char tmp[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	struct in_addr ia;

	if (n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	if (inet_pton(AF_INET, tmp, &ia) != 1)
		return false;
	*addr = ntohl(ia.s_addr);
	*bits = 32;
	if (slash) {
		char *end;
		long b = strtol(slash + 1, &end, 10);
		if (*end || b < 0 || b > 32 || end == slash + 1)
			return false;
		*bits = (int)b;
	}
	return true;
}

static bool ip_matches(const char *client, const char *acl_id)
{
	uint32_t c, a;
	int cb, ab;
	if (!ip_parse(client, &c, &cb) || !ip_parse(acl_id, &a, &ab))
		return strcmp(client, acl_id) == 0;
	uint32_t mask = ab ? ~(uint32_t)0 << (32 - ab) : 0;
	return (c & mask) == (a & mask);
}

int acl_check(const struct acl *a, int perm, const struct auth_info *ai)
{
	if (acl_skip || !a || a->n == 0)
		return ZOK;
	if (ai && ai->super)
		return ZOK;
	for (int i = 0; i < a->n; i++) {
		const struct acl_entry *e = &a->e[i];
		if (!(e->perms & perm))
			continue;
		if (!strcmp(e->scheme, "world") && !strcmp(e->id, "anyone"))
			return ZOK;
		if (!ai)
			continue;
		for (int j = 0; j < ai->n; j++) {
			if (strcmp(ai->ids[j].scheme, e->scheme))
				continue;
			if (!strcmp(e->scheme, "ip") ? ip_matches(ai->ids[j].id, e->id)
						     : !strcmp(ai->ids[j].id, e->id))
				return ZOK;
		}
	}
	return ZNOAUTH;
}

static bool valid_id(const char *scheme, const char *id)
{
	if (!strcmp(scheme, "digest")) {
		/* DigestAuthenticationProvider.isValid: exactly one ':' split into two parts. */
		const char *c = strchr(id, ':');
		return c && c != id && c[1] && !strchr(c + 1, ':');
	}
	if (!strcmp(scheme, "ip")) {
		uint32_t a;
		int b;
		return ip_parse(id, &a, &b);
	}
	return false;
}

int acl_fixup(const struct acl_entry *in, int n, const struct auth_info *ai,
	      struct arena *arena, struct acl_entry **out, int *nout)
{
	int cap = n + (ai ? ai->n * n : 0);
	struct acl_entry *r = arena_alloc(arena, (size_t)(cap ? cap : 1) * sizeof(*r));
	int m = 0;

	if (n <= 0)
		return ZINVALIDACL;
	for (int i = 0; i < n; i++) {
		const struct acl_entry *e = &in[i];
		bool dup = false;
		for (int k = 0; k < i; k++)
			if (in[k].perms == e->perms && !strcmp(in[k].scheme, e->scheme) &&
			    !strcmp(in[k].id, e->id))
				dup = true;
		if (dup)
			continue;
		if (!strcmp(e->scheme, "world") && !strcmp(e->id, "anyone")) {
			r[m++] = *e;
		} else if (!strcmp(e->scheme, "auth")) {
			bool any = false;
			for (int j = 0; ai && j < ai->n; j++) {
				/*
				 * Only ids of providers that say isAuthenticated() count:
				 * digest does, ip and super do not (ZooKeeper's fixupACL).
				 */
				if (!strcmp(ai->ids[j].scheme, "super") ||
				    !strcmp(ai->ids[j].scheme, "ip"))
					continue;
				r[m].perms = e->perms;
				r[m].scheme = ai->ids[j].scheme;
				r[m].id = ai->ids[j].id;
				m++;
				any = true;
			}
			if (!any)
				return ZINVALIDACL;
		} else {
			if (!valid_id(e->scheme, e->id))
				return ZINVALIDACL;
			r[m++] = *e;
		}
	}
	*out = r;
	*nout = m;
	return ZOK;
}

int acl_digest(const char *user_pass, char *out, size_t outlen)
{
	unsigned char md[SHA_DIGEST_LENGTH];
	const char *colon = strchr(user_pass, ':');
	size_t ulen = colon ? (size_t)(colon - user_pass) : strlen(user_pass);

	SHA1((const unsigned char *)user_pass, strlen(user_pass), md);
	if (outlen < ulen + 2 + 4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1)
		return -1;
	memcpy(out, user_pass, ulen);
	out[ulen] = ':';
	EVP_EncodeBlock((unsigned char *)out + ulen + 1, md, SHA_DIGEST_LENGTH);
	return 0;
}

void auth_add(struct auth_info *ai, const char *scheme, const char *id)
{
	for (int i = 0; i < ai->n; i++)
		if (!strcmp(ai->ids[i].scheme, scheme) && !strcmp(ai->ids[i].id, id))
			return;
	ai->ids = xrealloc(ai->ids, (size_t)(ai->n + 1) * sizeof(ai->ids[0]));
	ai->ids[ai->n].scheme = xstrdup(scheme);
	ai->ids[ai->n].id = xstrdup(id);
	ai->n++;
	if (!strcmp(scheme, "super"))
		ai->super = true;
}

void auth_free(struct auth_info *ai)
{
	for (int i = 0; i < ai->n; i++) {
		free(ai->ids[i].scheme);
		free(ai->ids[i].id);
	}
	free(ai->ids);
	ai->ids = NULL;
	ai->n = 0;
	ai->super = false;
}
