/*
 * acl.h - access control lists as ZooKeeper defines them: a list of
 * (perms, scheme, id) entries per znode, checked against the ids a connection
 * has authenticated as.  Schemes: world (anyone), ip (address or CIDR),
 * digest (user:base64(sha1(user:password))), auth (expanded at create time to
 * the creator's ids), and super (from superDigest, bypasses every check).
 *
 * ACL lists are interned: equal lists share one refcounted object, so a
 * million znodes with the default world:anyone list cost one ACL (ZooKeeper's
 * ReferenceCountedACLCache does the same).
 */
#ifndef COORD_ACL_H
#define COORD_ACL_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "jute.h"

struct acl_entry {
	int32_t perms;
	char *scheme;
	char *id;
};

struct acl {
	uint32_t refs;
	uint32_t hash;
	int32_t n;
	struct acl *hnext;
	struct acl_entry e[];
};

/* An authenticated identity of a connection. */
struct auth_id {
	char *scheme;
	char *id;
};

struct auth_info {
	struct auth_id *ids;
	int n;
	bool super;
};

struct acl *acl_intern(const struct acl_entry *e, int n);
struct acl *acl_ref(struct acl *a);
void acl_unref(struct acl *a);
/* world:anyone with all permissions, and with READ only. */
struct acl *acl_open_unsafe(void);
struct acl *acl_read_unsafe(void);

void acl_encode(struct buf *b, const struct acl *a);
/* Decodes a vector<ACL> into arena memory; returns the count or sets in->err. */
int acl_decode(struct jute_in *in, struct acl_entry **out);

/*
 * Returns ZOK or ZNOAUTH.  skip_acl mirrors ZooKeeper's zookeeper.skipACL.
 */
int acl_check(const struct acl *a, int perm, const struct auth_info *ai);
extern bool acl_skip;

/*
 * ZooKeeper's fixupACL: removes duplicates, rejects empty or malformed
 * lists (ZINVALIDACL), expands "auth" entries to the caller's ids.  The
 * result lives in the arena.  Returns ZOK or ZINVALIDACL.
 */
int acl_fixup(const struct acl_entry *in, int n, const struct auth_info *ai,
	      struct arena *arena, struct acl_entry **out, int *nout);

/* "user:password" -> "user:base64(sha1(user:password))" into out (>= 128 bytes). */
int acl_digest(const char *user_pass, char *out, size_t outlen);

void auth_add(struct auth_info *ai, const char *scheme, const char *id);
void auth_free(struct auth_info *ai);

#endif
