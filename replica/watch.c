/*
 * watch.c - see watch.h.  Semantics follow ZooKeeper's WatchManager and
 * DataTree.addWatch: a PERSISTENT watch sits in both tables (so it sees the
 * node's own changes and its children changing); a RECURSIVE one sits in the
 * data table only and also fires for every descendant.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "coord/zk.h"
#include "watch.h"
#include "xalloc.h"

struct wreg {
	struct wreg *pnext, *pprev; /* registrations on the same path */
	struct wreg *onext, *oprev; /* registrations of the same owner */
	struct wpath *wp;
	struct watch_owner *o;
	uint8_t modes;
	uint8_t table;
};

struct wpath {
	struct wpath *hnext;
	uint32_t hash;
	struct wreg *head;
	char path[];
};

static uint32_t hash_path(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

void watch_init(struct watches *w)
{
	memset(w, 0, sizeof(*w));
	for (int i = 0; i < 2; i++) {
		w->t[i].nb = 256;
		w->t[i].b = xcalloc(w->t[i].nb, sizeof(struct wpath *));
	}
}

static struct wpath *find(struct wtable *t, const char *path, size_t n, uint32_t h)
{
	for (struct wpath *p = t->b[h & (t->nb - 1)]; p; p = p->hnext)
		if (p->hash == h && !strncmp(p->path, path, n) && p->path[n] == 0)
			return p;
	return NULL;
}

static void grow(struct wtable *t)
{
	size_t nb = t->nb * 2;
	struct wpath **b = xcalloc(nb, sizeof(*b));
	for (size_t i = 0; i < t->nb; i++) {
		struct wpath *p = t->b[i], *next;
		for (; p; p = next) {
			next = p->hnext;
			p->hnext = b[p->hash & (nb - 1)];
			b[p->hash & (nb - 1)] = p;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

static void unlink_path(struct wtable *t, struct wpath *wp)
{
	struct wpath **pp = &t->b[wp->hash & (t->nb - 1)];
	while (*pp != wp)
		pp = &(*pp)->hnext;
	*pp = wp->hnext;
	t->npaths--;
	free(wp);
}

static void drop_reg(struct watches *w, struct wreg *r)
{
	struct wtable *t = &w->t[r->table];
	if (r->modes & WM_RECURSIVE)
		w->recursive--;
	if (r->pprev)
		r->pprev->pnext = r->pnext;
	else
		r->wp->head = r->pnext;
	if (r->pnext)
		r->pnext->pprev = r->pprev;
	if (r->oprev)
		r->oprev->onext = r->onext;
	else
		r->o->regs = r->onext;
	if (r->onext)
		r->onext->oprev = r->oprev;
	t->nregs--;
	if (!r->wp->head)
		unlink_path(t, r->wp);
	free(r);
}

void watch_add(struct watches *w, enum watch_table tab, const char *path,
	       struct watch_owner *o, int mode)
{
	struct wtable *t = &w->t[tab];
	size_t n = strlen(path);
	uint32_t h = hash_path(path, n);
	struct wpath *wp = find(t, path, n, h);

	if (!wp) {
		if (t->npaths >= t->nb)
			grow(t);
		wp = xmalloc(sizeof(*wp) + n + 1);
		memcpy(wp->path, path, n + 1);
		wp->hash = h;
		wp->head = NULL;
		wp->hnext = t->b[h & (t->nb - 1)];
		t->b[h & (t->nb - 1)] = wp;
		t->npaths++;
	}
	for (struct wreg *r = wp->head; r; r = r->pnext) {
		if (r->o == o) {
			if ((mode & WM_RECURSIVE) && !(r->modes & WM_RECURSIVE))
				w->recursive++;
			r->modes |= (uint8_t)mode;
			return;
		}
	}
	struct wreg *r = xcalloc(1, sizeof(*r));
	r->wp = wp;
	r->o = o;
	r->modes = (uint8_t)mode;
	r->table = (uint8_t)tab;
	r->pnext = wp->head;
	if (wp->head)
		wp->head->pprev = r;
	wp->head = r;
	r->onext = o->regs;
	if (o->regs)
		o->regs->oprev = r;
	o->regs = r;
	t->nregs++;
	if (mode & WM_RECURSIVE)
		w->recursive++;
}

static void fire_at(struct watches *w, struct wtable *t, const char *path, size_t n,
		    const char *event_path, int type, int64_t zxid, uint64_t gen, bool exact)
{
	struct wpath *wp = find(t, path, n, hash_path(path, n));
	if (!wp)
		return;
	struct wreg *r = wp->head, *next;
	for (; r; r = next) {
		next = r->pnext;
		struct watch_owner *o = r->o;
		if (!exact && !(r->modes & WM_RECURSIVE))
			continue;
		bool deliver = o->fired_gen != gen;
		if (exact && (r->modes & WM_STANDARD)) {
			r->modes &= (uint8_t)~WM_STANDARD;
			if (!r->modes)
				drop_reg(w, r); /* may free wp when it was the last */
		}
		if (deliver) {
			o->fired_gen = gen;
			o->notify(o, type, event_path, zxid);
		}
	}
}

uint64_t watch_trigger(struct watches *w, enum watch_table tab, const char *path,
		       int type, int64_t zxid, uint64_t suppress)
{
	struct wtable *t = &w->t[tab];
	uint64_t gen = suppress ? suppress : ++w->gen;
	size_t n = strlen(path);

	if (!t->nregs)
		return gen;
	fire_at(w, t, path, n, path, type, zxid, gen, true);
	if (tab != WT_DATA || !w->recursive)
		return gen;
	/* Walk the ancestors for recursive watches: /a/b/c -> /a/b, /a, / */
	while (n > 1) {
		while (n > 0 && path[n - 1] != '/')
			n--;
		if (n > 1)
			n--; /* drop the slash, except for the root */
		fire_at(w, t, path, n, path, type, zxid, gen, false);
		if (n == 1)
			break;
	}
	return gen;
}

void watch_owner_drop(struct watches *w, struct watch_owner *o)
{
	while (o->regs)
		drop_reg(w, o->regs);
}

static bool match_type(const struct wreg *r, int wtype)
{
	switch (wtype) {
	case ZWATCHTYPE_CHILDREN: return r->table == WT_CHILD;
	case ZWATCHTYPE_DATA: return r->table == WT_DATA;
	case ZWATCHTYPE_ANY: return true;
	case 4: return (r->modes & WM_PERSISTENT) != 0;
	case 5: return (r->modes & WM_RECURSIVE) != 0;
	default: return false;
	}
}

static bool scan(struct watches *w, struct watch_owner *o, const char *path, int wtype, bool remove)
{
	bool found = false;
	struct wreg *r = o->regs, *next;
	for (; r; r = next) {
		next = r->onext;
		if (strcmp(r->wp->path, path) || !match_type(r, wtype))
			continue;
		found = true;
		if (!remove)
			return true;
		drop_reg(w, r);
	}
	return found;
}

bool watch_remove(struct watches *w, struct watch_owner *o, const char *path, int wtype)
{
	return scan(w, o, path, wtype, true);
}

bool watch_contains(struct watches *w, struct watch_owner *o, const char *path, int wtype)
{
	return scan(w, o, path, wtype, false);
}

size_t watch_total(const struct watches *w) { return w->t[0].nregs + w->t[1].nregs; }

void watch_foreach(const struct watches *w, enum watch_table tab, watch_iter_cb cb, void *arg)
{
	for (int i = tab; i == (int)tab; i++)
		for (size_t j = 0; j < w->t[i].nb; j++)
			for (struct wpath *p = w->t[i].b[j]; p; p = p->hnext)
				for (struct wreg *r = p->head; r; r = r->pnext)
					cb(arg, p->path, r->o);
}

void watch_free(struct watches *w)
{
	for (int i = 0; i < 2; i++) {
		for (size_t j = 0; j < w->t[i].nb; j++) {
			struct wpath *p = w->t[i].b[j], *pn;
			for (; p; p = pn) {
				pn = p->hnext;
				struct wreg *r = p->head, *rn;
				for (; r; r = rn) {
					rn = r->pnext;
					free(r);
				}
				free(p);
			}
		}
		free(w->t[i].b);
	}
	memset(w, 0, sizeof(*w));
}

void watch_summary(struct watches *w, enum watch_table tab, size_t *owners, size_t *paths,
		   size_t *total)
{
	const struct wtable *t = &w->t[tab];
	uint64_t stamp = ++w->gen; /* a generation no trigger uses: marks owners counted */
	*owners = 0;
	*paths = t->npaths;
	*total = t->nregs;
	for (size_t j = 0; j < t->nb; j++)
		for (struct wpath *p = t->b[j]; p; p = p->hnext)
			for (struct wreg *r = p->head; r; r = r->pnext)
				if (r->o->fired_gen != stamp) {
					r->o->fired_gen = stamp;
					(*owners)++;
				}
}
