/*
 * history.c - see history.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "history.h"
#include "xalloc.h"

void history_init(struct history *h, int64_t base, size_t max_count, size_t max_bytes)
{
	memset(h, 0, sizeof(*h));
	h->base = base;
	h->max_count = max_count ? max_count : 1;
	h->max_bytes = max_bytes;
}

void history_free(struct history *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->e[(h->head + i) % h->cap].data);
	free(h->e);
	memset(h, 0, sizeof(*h));
}

const struct hentry *history_at(const struct history *h, size_t i)
{
	return &h->e[(h->head + i) % h->cap];
}

int64_t history_last(const struct history *h)
{
	return h->n ? history_at(h, h->n - 1)->zxid : h->base;
}

static void drop_front(struct history *h)
{
	struct hentry *e = &h->e[h->head];
	h->base = e->zxid;
	h->bytes -= e->len;
	free(e->data);
	e->data = NULL;
	h->head = (h->head + 1) % h->cap;
	h->n--;
}

void history_push(struct history *h, int64_t zxid, const void *data, size_t len)
{
	if (h->n == h->cap) {
		size_t ncap = h->cap ? h->cap * 2 : 1024;
		struct hentry *ne = xcalloc(ncap, sizeof(*ne));
		for (size_t i = 0; i < h->n; i++)
			ne[i] = h->e[(h->head + i) % h->cap];
		free(h->e);
		h->e = ne;
		h->cap = ncap;
		h->head = 0;
	}
	struct hentry *e = &h->e[(h->head + h->n) % h->cap];
	e->zxid = zxid;
	e->len = (uint32_t)len;
	e->data = xmemdup(data, len);
	h->bytes += len;
	h->n++;
}

void history_trim(struct history *h, int64_t committed)
{
	while (h->n && (h->n > h->max_count || (h->max_bytes && h->bytes > h->max_bytes)) &&
	       history_at(h, 0)->zxid <= committed)
		drop_front(h);
}

void history_truncate_after(struct history *h, int64_t z)
{
	while (h->n) {
		struct hentry *e = &h->e[(h->head + h->n - 1) % h->cap];
		if (e->zxid <= z)
			break;
		h->bytes -= e->len;
		free(e->data);
		e->data = NULL;
		h->n--;
	}
}

size_t history_after(const struct history *h, int64_t z, int *exact)
{
	size_t lo = 0, hi = h->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (history_at(h, mid)->zxid <= z)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (exact)
		*exact = z == h->base || (lo > 0 && history_at(h, lo - 1)->zxid == z);
	return lo;
}
