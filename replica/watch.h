/*
 * watch.h - the watch manager (ZooKeeper's WatchManager, twice: one table
 * for data/exists watches, one for child watches).
 *
 * A watch belongs to a connection (a watch_owner embedded in it), not to a
 * session: when the connection goes, its watches go, and the client
 * re-registers them with setWatches on its next connection.
 *
 * Invariants:
 * (1) An owner appears at most once per (table, path); its modes are a
 *     bitmask of STANDARD (one-shot), PERSISTENT and RECURSIVE.
 * (2) One trigger delivers at most one event to an owner, even if it matches
 *     at several levels (recursive watches on ancestors) - the generation
 *     stamp in the owner dedupes.
 * (3) Firing removes STANDARD mode only; persistent modes stay until removed.
 */
#ifndef COORD_WATCH_H
#define COORD_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum watch_table { WT_DATA = 0, WT_CHILD = 1 };
enum watch_mode { WM_STANDARD = 1, WM_PERSISTENT = 2, WM_RECURSIVE = 4 };

struct wreg;
struct watch_owner;

typedef void (*watch_notify_cb)(struct watch_owner *o, int type, const char *path, int64_t zxid);

struct watch_owner {
	struct wreg *regs;
	uint64_t fired_gen;
	watch_notify_cb notify;
};

struct wpath;
struct wtable {
	struct wpath **b;
	size_t nb;
	size_t npaths;
	size_t nregs;
};

struct watches {
	struct wtable t[2];
	uint64_t gen;
	size_t recursive; /* registrations with WM_RECURSIVE; 0 skips the ancestor walk */
};

void watch_init(struct watches *w);
void watch_free(struct watches *w);
void watch_add(struct watches *w, enum watch_table t, const char *path,
	       struct watch_owner *o, int mode);
/*
 * Fires the watches on path in table t with event type.  Pass suppress = 0
 * for a fresh trigger; pass the value a previous call returned to skip owners
 * that already got an event from it (delete fires data then child watches).
 */
uint64_t watch_trigger(struct watches *w, enum watch_table t, const char *path,
		       int type, int64_t zxid, uint64_t suppress);
void watch_owner_drop(struct watches *w, struct watch_owner *o);
/* wtype: ZWATCHTYPE_* (1 children, 2 data, 3 any; 4 persistent, 5 recursive). */
bool watch_remove(struct watches *w, struct watch_owner *o, const char *path, int wtype);
bool watch_contains(struct watches *w, struct watch_owner *o, const char *path, int wtype);

/* For the wchs/wchc/wchp four-letter words. */
size_t watch_total(const struct watches *w);
typedef void (*watch_iter_cb)(void *arg, const char *path, struct watch_owner *o);
void watch_foreach(const struct watches *w, enum watch_table t, watch_iter_cb cb, void *arg);
/* Distinct owners, paths and registrations of one table. */
void watch_summary(struct watches *w, enum watch_table t, size_t *owners, size_t *paths,
		   size_t *total);

#endif
