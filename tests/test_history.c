/*
 * test_history.c - the leader's in-memory history (replica/history.c): where
 * a DIFF starts, whether a follower's zxid is one we share, trimming only
 * committed entries, truncation, growth across the ring's wrap.
 */
#include "config.h"

#include "history.h"
#include "tap.h"

#define Z(e, c) (((int64_t)(e) << 32) | (c))

int main(void)
{
	struct history h;
	int exact;

	plan(27);
	history_init(&h, Z(1, 5), 4, 0);
	ok(history_last(&h) == Z(1, 5), "empty: last is the base");
	ok(history_after(&h, Z(1, 5), &exact) == 0 && exact, "base itself is shared");
	for (int i = 6; i <= 9; i++)
		history_push(&h, Z(1, i), "abc", 3);
	history_push(&h, Z(2, 1), "de", 2);
	history_push(&h, Z(2, 2), "f", 1);
	ok(h.n == 6 && h.bytes == 15, "six entries, 15 bytes");
	ok(history_last(&h) == Z(2, 2), "last is the newest");
	ok(history_after(&h, Z(1, 7), &exact) == 2 && exact, "DIFF after (1,7) starts at index 2");
	ok(history_after(&h, Z(1, 20), &exact) == 4 && !exact,
	   "(1,20) is not ours: its DIFF would start at (2,1), so TRUNC first");
	ok(history_at(&h, 3)->zxid == Z(1, 9), "newest shared below (1,20) is (1,9)");
	ok(history_after(&h, Z(1, 4), &exact) == 0 && !exact, "below the base: not shared (SNAP)");
	ok(history_after(&h, Z(3, 0), &exact) == 6 && !exact, "beyond the end: nothing to send");

	history_trim(&h, Z(1, 6));
	ok(h.n == 5 && h.base == Z(1, 6), "trim drops only committed entries (1 of 2 over budget)");
	history_trim(&h, Z(2, 2));
	ok(h.n == 4 && h.base == Z(1, 7), "trim stops at the count budget");
	ok(history_at(&h, 0)->zxid == Z(1, 8), "oldest is now (1,8)");
	ok(history_after(&h, Z(1, 7), &exact) == 0 && exact, "the new base is shared");

	history_truncate_after(&h, Z(1, 9));
	ok(h.n == 2 && history_last(&h) == Z(1, 9), "truncate after (1,9)");
	ok(h.bytes == 6, "bytes follow truncation");
	history_truncate_after(&h, Z(1, 3));
	ok(h.n == 0 && history_last(&h) == h.base, "truncating below everything empties it");

	/* wrap the ring and grow it while wrapped */
	history_free(&h);
	history_init(&h, 0, 1000000, 0);
	int64_t z = 0;
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 1500; i++)
			history_push(&h, ++z, &i, sizeof(i));
		h.max_count = 700;
		history_trim(&h, z - 100);
		h.max_count = 1000000;
	}
	ok(h.n == 700, "after wrap and trim: 700 entries");
	ok(history_at(&h, 0)->zxid == z - 699 && history_last(&h) == z, "in order after wraps");
	int sorted = 1;
	for (size_t i = 1; i < h.n; i++)
		if (history_at(&h, i)->zxid != history_at(&h, i - 1)->zxid + 1)
			sorted = 0;
	ok(sorted, "contiguous after growth across the wrap");
	ok(history_after(&h, z - 350, &exact) == 350 && exact, "binary search after wraps");
	ok(h.base == z - 700, "base is the last dropped zxid");

	/* byte budget */
	history_free(&h);
	history_init(&h, 0, 1000, 10);
	for (int i = 1; i <= 5; i++)
		history_push(&h, i, "xxxx", 4);
	history_trim(&h, 2);
	ok(h.n == 3 && h.bytes == 12, "byte budget: trims committed only (stays over)");
	history_trim(&h, 5);
	ok(h.n == 2 && h.bytes == 8, "byte budget: under it once committed");
	ok(h.base == 3, "base follows");
	history_free(&h);
	ok(h.n == 0 && h.e == NULL, "freed");
	history_init(&h, 7, 1, 0);
	ok(history_after(&h, 7, &exact) == 0 && exact, "empty at a base of 7");
	ok(history_after(&h, 8, &exact) == 0 && !exact, "8 beyond an empty history");
	history_free(&h);
	return done_testing();
}
