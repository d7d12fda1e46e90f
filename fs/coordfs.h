/*
 * coordfs.h - the FUSE mount: the state shared by the files in fs/.
 *
 * Threads:
 *  - the loop thread runs libuv: the ZooKeeper session (lib/zkclient.c)
 *    and every FUSE request (the FUSE fd is polled by the loop).  Handlers
 *    never block: a request that needs the server sends an async ZooKeeper
 *    request and replies to the kernel from its callback;
 *  - the notify thread (notify.c) makes the kernel notification calls
 *    (invalidations), because those may wait on locks held by syscalls that
 *    are themselves waiting for the loop thread.
 *
 * The mapping (see coordfs(1)):
 *  - a znode with children or with null data is a directory; any other znode
 *    is a regular file whose content is the znode's data;
 *  - a directory znode with non-null data shows it as the file ".data"
 *    inside the directory (a real child of that name wins);
 *  - st_ino is derived from (czxid, path): stable and identical on every
 *    mount; nodeids given to the kernel are local.
 */
#ifndef COORD_COORDFS_H
#define COORD_COORDFS_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>
#include <fuse_lowlevel.h>

#include "coord/zk.h"
#include "zkclient.h"

#define CFS_DATA_NAME ".data"

struct cfs_waiter;
struct fence_waiter;

/*
 * One version of a file's content as the kernel was given it for its page
 * cache (inode.c, "the kernel view").  Shared by the page-cache handles
 * that read it; never changed once made.
 */
struct kview {
	int refs;
	char *data;
	int32_t len;
	struct zk_stat st;
};

struct cfs_inode {
	fuse_ino_t nodeid;
	char *path;            /* znode path; for a ".data" file, the directory's path */
	bool data_file;        /* the ".data" view of a directory node */
	uint64_t nlookup;
	struct cfs_inode *id_next, *path_next;
	uint32_t path_hash;
	bool detached;         /* out of the path table: replaced by a rename */
	/* cached node: data + stat, valid while have_node */
	bool have_node;
	bool exists;
	struct zk_stat st;
	char *data;
	int32_t datalen;       /* -1 null */
	/* cached children names */
	bool have_kids;
	char **kids;
	int32_t nkids;
	/* requests waiting for a fetch */
	bool fetching_node, fetching_kids;
	struct cfs_waiter *waiters;
	int open_handles;
	int replay_handles;     /* ...of which the notify thread's (replays, holds) */
	int pins;              /* in-flight operations holding the inode */
	/*
	 * A file created on this mount exists only here until its first
	 * publish creates the znode with its content (ops_file.c), so no reader
	 * anywhere sees it empty.
	 */
	bool pending_create;
	bool create_inflight;
	int create_flags;
	uint32_t create_gen, cancelled_gen;
	struct cfs_inode *pend_next;
	struct open_waiter *open_waiters; /* opens waiting for a closing writer (ops_file.c) */
	int closing_writers;   /* handles closed after writing, RELEASE not yet here */
	bool closing_expired;  /* ...and one of them timed out: stop waiting for them */
	/*
	 * Publishes of this mount in flight.  A getData reply that arrives
	 * meanwhile may have been asked before the publish: it must not replace
	 * the newer content this mount already shows (read-your-writes).
	 */
	int commits_inflight;
	uint64_t epoch;        /* cache generation this entry was filled in */
	/*
	 * The kernel's copy of this nodeid (inode.c, "the kernel view").
	 * pc_open, kreaders and kwriters count handles opened on this nodeid, so after
	 * a retirement they stay with the retired entry.
	 */
	bool retired;          /* an old nodeid of live's path, frozen at kv */
	bool kcopy;            /* retired: kv was frozen late (kview_freeze), its pages are not */
	struct cfs_inode *live;/* retired: the inode that went on in its place (pinned) */
	bool kknown;           /* this nodeid was given to the kernel */
	struct kview *kv;      /* what page-cache handles of this nodeid read */
	int pc_open;           /* open page-cache handles on this nodeid */
	int kreaders;          /* open read-only handles on it, page cache or not */
	int kwriters;          /* open handles whose writes the kernel sizes itself */
	uint64_t kchg;         /* changes of what the kernel may hold... */
	uint64_t kclean;       /* ...and the last one a completed invalidation covers */
	int kfences;           /* invalidations queued, not completed */
	bool kdrain;           /* changed under page-cache handles: waiting for them to close */
	uint32_t kdrain_gen;   /* which drain the drain timer is for */
	bool held;             /* retired: the notify thread holds it (notify.c, struct hold) */
	int held_by_notify;    /* live: how many of its retired nodeids are held so */
	int kwait_writers;     /* writers waiting for readers to close */
	uint64_t ksig;         /* signature of the content last seen (kview_sync) */
	uint64_t kexpect_until;/* a writer told ESTALE is coming back: no page cache */
	struct fence_waiter *fence_waiters; /* opens waiting for an invalidation */
};

struct cfs_options {
	uid_t uid;
	gid_t gid;
	mode_t umask;
	double timeout;        /* kernel entry/attr cache timeout, seconds */
	int32_t session_timeout_ms;
	int32_t commit_delay_ms; /* open handles publish writes after this idle time */
};

struct cfs {
	uv_loop_t *loop;
	struct zkclient *zk;
	struct fuse_session *se;
	uv_poll_t fuse_poll;
	struct fuse_buf fbuf;
	struct cfs_options opt;
	const char *servers;
	const char *mountpoint;
	struct cfs_inode **by_id;
	struct cfs_inode **by_path;
	size_t nb, count;
	fuse_ino_t next_id;
	uint64_t epoch;        /* bumped when the whole cache must be distrusted */
	bool connected;
	bool ever_connected;
	bool exiting;
	bool watch_ok;         /* the recursive watch on / is registered */
	bool watch_pending;
	struct notifier *notifier;
	struct cfs_inode *pending; /* inodes with pending_create */
};

extern struct cfs *cfs;

/* inode.c */
void inode_init(struct cfs *fs);
/* The inode of a nodeid: for a retired nodeid, its path's current inode. */
struct cfs_inode *inode_get(struct cfs *fs, fuse_ino_t id);
/* The entry that owns a nodeid, retired or not (for the kernel view). */
struct cfs_inode *inode_get_raw(struct cfs *fs, fuse_ino_t id);
struct cfs_inode *inode_find_path(struct cfs *fs, const char *path, bool data_file);
/* The path of in's file in the mount: a directory's data is its ".data" (malloc'd). */
char *inode_file_path(const struct cfs_inode *in);
/* Finds or makes the inode of path and takes one lookup reference. */
struct cfs_inode *inode_ref_path(struct cfs *fs, const char *path, bool data_file);
void inode_forget(struct cfs *fs, struct cfs_inode *in, uint64_t n);
/* Keeps an inode alive across callbacks without a kernel reference. */
void inode_pin(struct cfs_inode *in);
void inode_unpin(struct cfs *fs, struct cfs_inode *in);
void inode_invalidate(struct cfs_inode *in, bool node, bool kids);
/*
 * After a rename: in (and its ".data" inode) now lives at newpath, which is
 * what the kernel's moved dentry says; the inode that had newpath is left
 * reachable by its nodeid only.
 */
void inode_move(struct cfs *fs, struct cfs_inode *in, const char *newpath);
bool inode_is_dir(const struct cfs_inode *in);
void inode_fill_attr(const struct cfs *fs, const struct cfs_inode *in, struct stat *st);
uint64_t inode_stable_ino(const struct cfs_inode *in);
/* Child path: parent + "/" + name (malloc'd). */
char *path_join(const char *parent, const char *name);
void inode_set_node(struct cfs_inode *in, const struct zkc_result *res);
void inode_set_kids(struct cfs_inode *in, const struct zkc_result *res);
typedef void (*inode_iter_cb)(struct cfs_inode *in, void *arg);
/* Every current (not retired) inode. */
void inode_foreach(struct cfs *fs, inode_iter_cb cb, void *arg);

/* inode.c: the kernel view (see there) */
/* After in's data/Stat were set: a different content is a change. */
void kview_sync(struct cfs_inode *in);
/* The kernel may hold something other than in's content now. */
void kview_changed(struct cfs_inode *in);
/*
 * An invalidation of nodeid id queued at change count stamp has completed;
 * found: the kernel had the inode (not ENOENT).
 */
void kview_fenced(struct cfs *fs, fuse_ino_t id, uint64_t stamp, bool found);
/*
 * Whether page-cache handles may be opened on in's nodeid: now (KV_OK),
 * once an invalidation or a writer is through (KV_WAIT), or not (KV_NO).
 */
enum { KV_OK, KV_WAIT, KV_NO };
/* An open waits for a fence: queue one if none is on its way (kview_fenced). */
void kview_need_fence(struct cfs_inode *in);
/* The last handle of a kind on nodeid-owner k closed (ops_file.c). */
void kview_closed(struct cfs_inode *k);
/* K5: the last handle of a retired nodeid closed: the path may take it back. */
void kview_unretire_later(struct cfs_inode *r);
int kview_can_cache(const struct cfs_inode *in);
struct kview *kview_get(struct cfs_inode *in);
void kview_put(struct kview *kv);
/* Moves in's nodeid (and its kernel view) to a frozen entry; in gets a new one. */
struct cfs_inode *inode_retire(struct cfs *fs, struct cfs_inode *in);
/* A retired nodeid without a view takes from's content as its frozen view. */
void kview_freeze(struct cfs_inode *r, const struct cfs_inode *from);
/* The attributes of nodeid-owner k as the kernel must see them. */
void kview_fill_attr(const struct cfs *fs, struct cfs_inode *k, struct stat *st);

/* fetch.c: get the node (data+stat) and/or children, then call back. */
typedef void (*fetch_cb)(struct cfs_inode *in, int err, void *arg);
void fetch_node(struct cfs *fs, struct cfs_inode *in, bool kids, fetch_cb cb, void *arg);
int zk_to_errno(int rc);

/* ops_*.c */
extern const struct fuse_lowlevel_ops cfs_ops;
void ops_entry_fill(struct fuse_lowlevel_ops *ops);
void ops_dir_fill(struct fuse_lowlevel_ops *ops);
void ops_file_fill(struct fuse_lowlevel_ops *ops);
void ops_xattr_fill(struct fuse_lowlevel_ops *ops);
void fill_entry(struct cfs *fs, struct cfs_inode *in, struct fuse_entry_param *e);

/* ops_entry.c: a file name that can be a znode name, as an errno */
int name_check(const char *name);
/* ops_file.c */
void pending_drop(struct cfs *fs, struct cfs_inode *in);
void file_setattr_size(fuse_req_t req, fuse_ino_t ino, struct cfs_inode *in,
		       struct fuse_file_info *fi, off_t size);
/* Opens that waited for an invalidation of in may go on (ops_file.c). */
void file_fence_done(struct cfs_inode *in);
/* ops_xattr.c: ZCM_EPHEMERAL inside directories marked user.coord.ephemeral */
typedef void (*create_flags_cb)(int err, int flags, void *arg);
void create_flags_for(struct cfs_inode *parent, create_flags_cb cb, void *arg);

/* notify.c */
int notify_start(struct cfs *fs);
/* Shutdown: begin, serve FUSE until notify_stopped (bounded), then stop. */
void notify_stop_begin(struct cfs *fs);
bool notify_stopped(struct cfs *fs);
void notify_stop(struct cfs *fs);
void notify_watch_event(struct cfs *fs, int type, const char *path);
void notify_resync(struct cfs *fs);
/* Queue a kernel invalidation of in's attributes and pages. */
void notify_inval(struct cfs *fs, struct cfs_inode *in);
/* The same, reported to kview_fenced when done (stamp: in->kchg). */
void notify_fence(struct cfs *fs, struct cfs_inode *in);
/* A GETATTR: if from a fence's statx (notify.c), note that it came. */
void notify_fence_getattr(fuse_req_t req, fuse_ino_t ino);
/* Queue the kernel's forgetting of the name of in (its nodeid changed). */
void notify_inval_name(struct cfs *fs, struct cfs_inode *in);
/*
 * A retired nodeid with handles open: the notify thread holds its kernel
 * inode so that changes of the path reach inotify watches on it; unheld when
 * its handles are closed (struct hold in notify.c).
 */
void notify_hold(struct cfs *fs, struct cfs_inode *r);
void notify_unhold(struct cfs *fs, struct cfs_inode *r);
/* op_open: the notify thread opened nodeid ino. */
void notify_replay_opened(fuse_ino_t ino);
/* Records a change this mount makes, so its watch event is not replayed. */
void notify_own_change(struct cfs *fs, int type, const char *path);
/* The same for a change the kernel made itself (unlink, rmdir, rename). */
void notify_own_vfs_change(struct cfs *fs, int type, const char *path);
/* inotify replay (notify.c): what the notify thread is doing through the mount. */
enum { RP_NONE, RP_CREATE_FILE, RP_CREATE_DIR, RP_MODIFY, RP_DELETE, RP_DELETE_DIR, RP_HOLD };
/* True if req comes from the replaying thread; kind and path say what it replays. */
bool notify_replaying(fuse_req_t req, int *kind, char *path, size_t n);

/*
 * locks.c: cluster-wide flock(2)/fcntl(2) locks (the ZooKeeper lock recipe,
 * state under /.coordfs/locks/).  All on the loop thread.
 */
/* Registers .flock, .getlk and .setlk. */
void ops_locks_fill(struct fuse_lowlevel_ops *ops);
/* A watch event (called first by notify_watch_event): wakes lock waiters. */
void locks_on_event(struct cfs *fs, int type, const char *path);
/* A session state change (called first by main.c on_state). */
void locks_on_state(struct cfs *fs, enum zkc_state state);
/* FLUSH: drops the POSIX locks of owner on ino (a close drops them). */
void locks_flush(fuse_ino_t ino, uint64_t owner);
/* Whether an fcntl lock was ever asked for on in's file here (its read-only opens keep FLUSH). */
bool locks_posix_used(const struct cfs_inode *in);
/* RELEASE: drops the flock locks of the handle and anything else taken through it. */
void locks_release(fuse_ino_t ino, const struct fuse_file_info *fi);

#endif
