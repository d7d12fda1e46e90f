/*
 * history.h - the replica's recent transactions in memory, in zxid order
 * (ZooKeeper's committedLog): what a leader sends a lagging follower as a
 * DIFF, and what tells it whether a follower must TRUNCate or needs a SNAP.
 *
 * It holds every txn appended to the log after `base` (the zxid of the
 * state the oldest entry applies to): at start the log's records after the
 * snapshot, then every appended proposal.  Only committed entries are
 * dropped from the front, when the count or byte budget is exceeded, so the
 * uncommitted suffix is always there to be re-proposed.
 */
#ifndef COORD_HISTORY_H
#define COORD_HISTORY_H

#include <stddef.h>
#include <stdint.h>

struct hentry {
	int64_t zxid;
	uint32_t len;
	char *data;
};

struct history {
	struct hentry *e;
	size_t cap, head, n; /* ring */
	size_t bytes;
	int64_t base;        /* entries start right after this zxid */
	size_t max_count, max_bytes;
};

void history_init(struct history *h, int64_t base, size_t max_count, size_t max_bytes);
void history_free(struct history *h);
void history_push(struct history *h, int64_t zxid, const void *data, size_t len);
/* Drop entries from the front while over budget and zxid <= committed. */
void history_trim(struct history *h, int64_t committed);
/* Drop every entry with zxid > z. */
void history_truncate_after(struct history *h, int64_t z);
/* Entry i (0 = oldest). */
const struct hentry *history_at(const struct history *h, size_t i);
int64_t history_last(const struct history *h);
/*
 * Index of the first entry with zxid > z, i.e. where a DIFF after z starts
 * (n if none).  *exact says whether z itself is base or an entry.
 */
size_t history_after(const struct history *h, int64_t z, int *exact);

#endif
