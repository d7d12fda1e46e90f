/*
 * jute.c - see jute.h.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jute.h"
#include "xalloc.h"

struct arena_block {
	struct arena_block *next;
	char data[];
};

void arena_reset(struct arena *a)
{
	a->mem.len = 0;
	while (a->blocks) {
		struct arena_block *n = a->blocks->next;
		free(a->blocks);
		a->blocks = n;
	}
}

void arena_free(struct arena *a)
{
	arena_reset(a);
	buf_free(&a->mem);
}

/*
 * The arena is one reusable chunk; requests that need more than it holds get
 * separate blocks for the excess, freed on reset.  Pointers into the chunk
 * stay valid because the chunk is never reallocated while in use.
 */
void *arena_alloc(struct arena *a, size_t n)
{
	n = (n + 7) & ~(size_t)7;
	if (!a->mem.cap) {
		a->mem.data = xmalloc(64 * 1024);
		a->mem.cap = 64 * 1024;
	}
	if (a->mem.len + n <= a->mem.cap) {
		void *p = a->mem.data + a->mem.len;
		a->mem.len += n;
		return p;
	}
	struct arena_block *blk = xmalloc(sizeof(*blk) + n);
	blk->next = a->blocks;
	a->blocks = blk;
	return blk->data;
}

static const uint8_t *take(struct jute_in *in, size_t n)
{
	if (in->err || in->len - in->off < n) {
		in->err = -EBADMSG;
		return NULL;
	}
	const uint8_t *p = in->p + in->off;
	in->off += n;
	return p;
}

int32_t jute_get_int(struct jute_in *in)
{
	const uint8_t *p = take(in, 4);
	return p ? (int32_t)be32_get(p) : 0;
}

int64_t jute_get_long(struct jute_in *in)
{
	const uint8_t *p = take(in, 8);
	return p ? (int64_t)be64_get(p) : 0;
}

bool jute_get_bool(struct jute_in *in)
{
	const uint8_t *p = take(in, 1);
	return p ? *p != 0 : false;
}

const char *jute_get_buffer(struct jute_in *in, int32_t *len)
{
	int32_t n = jute_get_int(in);
	if (n < -1)
		in->err = -EBADMSG; /* only -1 means null */
	if (in->err || n < 0) {
		*len = -1;
		return NULL;
	}
	const uint8_t *p = take(in, (size_t)n);
	*len = p ? n : -1;
	return (const char *)p;
}

char *jute_get_string(struct jute_in *in, int32_t *len)
{
	int32_t n;
	const char *p = jute_get_buffer(in, &n);
	if (len)
		*len = n;
	if (!p)
		return NULL;
	char *s = arena_alloc(in->arena, (size_t)n + 1);
	memcpy(s, p, (size_t)n);
	s[n] = 0;
	return s;
}

int32_t jute_get_count(struct jute_in *in, size_t min_elem_size)
{
	int32_t n = jute_get_int(in);
	if (in->err)
		return 0;
	if (n < 0)
		return 0; /* a null vector reads as empty */
	if (min_elem_size && (size_t)n > jute_remaining(in) / min_elem_size) {
		in->err = -EBADMSG;
		return 0;
	}
	return n;
}

void jute_get_stat(struct jute_in *in, struct zk_stat *st)
{
	st->czxid = jute_get_long(in);
	st->mzxid = jute_get_long(in);
	st->ctime = jute_get_long(in);
	st->mtime = jute_get_long(in);
	st->version = jute_get_int(in);
	st->cversion = jute_get_int(in);
	st->aversion = jute_get_int(in);
	st->ephemeral_owner = jute_get_long(in);
	st->data_length = jute_get_int(in);
	st->num_children = jute_get_int(in);
	st->pzxid = jute_get_long(in);
}

void jute_put_int(struct buf *b, int32_t v) { buf_put_be32(b, (uint32_t)v); }
void jute_put_long(struct buf *b, int64_t v) { buf_put_be64(b, (uint64_t)v); }
void jute_put_bool(struct buf *b, bool v) { buf_put_u8(b, v ? 1 : 0); }

void jute_put_buffer(struct buf *b, const void *p, int32_t len)
{
	if (!p && len <= 0) {
		jute_put_int(b, len < 0 ? -1 : 0);
		return;
	}
	jute_put_int(b, len);
	buf_append(b, p, (size_t)len);
}

void jute_put_string(struct buf *b, const char *s)
{
	if (!s) {
		jute_put_int(b, -1);
		return;
	}
	size_t n = strlen(s);
	jute_put_int(b, (int32_t)n);
	buf_append(b, s, n);
}

void jute_put_stat(struct buf *b, const struct zk_stat *st)
{
	buf_reserve(b, 68);
	jute_put_long(b, st->czxid);
	jute_put_long(b, st->mzxid);
	jute_put_long(b, st->ctime);
	jute_put_long(b, st->mtime);
	jute_put_int(b, st->version);
	jute_put_int(b, st->cversion);
	jute_put_int(b, st->aversion);
	jute_put_long(b, st->ephemeral_owner);
	jute_put_int(b, st->data_length);
	jute_put_int(b, st->num_children);
	jute_put_long(b, st->pzxid);
}
