/*
 * zk.h - constants of the ZooKeeper client wire protocol, as defined by
 * Apache ZooKeeper's zookeeper.jute, ZooDefs.OpCode, KeeperException.Code and
 * Watcher.Event.  These numbers are the protocol; they never change.
 */
#ifndef COORD_ZK_H
#define COORD_ZK_H

#include <stdint.h>

/* Opcodes (ZooDefs.OpCode). */
enum zk_op {
	ZOP_NOTIFICATION = 0,
	ZOP_CREATE = 1,
	ZOP_DELETE = 2,
	ZOP_EXISTS = 3,
	ZOP_GETDATA = 4,
	ZOP_SETDATA = 5,
	ZOP_GETACL = 6,
	ZOP_SETACL = 7,
	ZOP_GETCHILDREN = 8,
	ZOP_SYNC = 9,
	ZOP_PING = 11,
	ZOP_GETCHILDREN2 = 12,
	ZOP_CHECK = 13,
	ZOP_MULTI = 14,
	ZOP_CREATE2 = 15,
	ZOP_RECONFIG = 16,
	ZOP_CHECKWATCHES = 17,
	ZOP_REMOVEWATCHES = 18,
	ZOP_CREATECONTAINER = 19,
	ZOP_DELETECONTAINER = 20,
	ZOP_CREATETTL = 21,
	ZOP_MULTIREAD = 22,
	ZOP_AUTH = 100,
	ZOP_SETWATCHES = 101,
	ZOP_SASL = 102,
	ZOP_GETEPHEMERALS = 103,
	ZOP_GETALLCHILDRENNUMBER = 104,
	ZOP_SETWATCHES2 = 105,
	ZOP_ADDWATCH = 106,
	ZOP_WHOAMI = 107,
	ZOP_CREATESESSION = -10,
	ZOP_CLOSESESSION = -11,
	ZOP_ERROR = -1,
};

/* Special xids (ClientCnxn). */
enum {
	ZXID_NOTIFICATION = -1,
	ZXID_PING = -2,
	ZXID_AUTH = -4,
	ZXID_SETWATCHES = -8,
};

/* Error codes (KeeperException.Code). */
enum zk_err {
	ZOK = 0,
	ZSYSTEMERROR = -1,
	ZRUNTIMEINCONSISTENCY = -2,
	ZDATAINCONSISTENCY = -3,
	ZCONNECTIONLOSS = -4,
	ZMARSHALLINGERROR = -5,
	ZUNIMPLEMENTED = -6,
	ZOPERATIONTIMEOUT = -7,
	ZBADARGUMENTS = -8,
	ZNEWCONFIGNOQUORUM = -13,
	ZRECONFIGINPROGRESS = -14,
	ZAPIERROR = -100,
	ZNONODE = -101,
	ZNOAUTH = -102,
	ZBADVERSION = -103,
	ZNOCHILDRENFOREPHEMERALS = -108,
	ZNODEEXISTS = -110,
	ZNOTEMPTY = -111,
	ZSESSIONEXPIRED = -112,
	ZINVALIDCALLBACK = -113,
	ZINVALIDACL = -114,
	ZAUTHFAILED = -115,
	ZCLOSING = -116,
	ZNOTHING = -117,
	ZSESSIONMOVED = -118,
	ZNOTREADONLY = -119,
	ZEPHEMERALONLOCALSESSION = -120,
	ZNOWATCHER = -121,
	ZRECONFIGDISABLED = -123,
	ZSESSIONCLOSEDREQUIRESASLAUTH = -124,
	ZQUOTAEXCEEDED = -125,
	ZTHROTTLEDOP = -127,
};

/* Watcher event types and states (Watcher.Event). */
enum zk_event {
	ZEV_NONE = -1,
	ZEV_CREATED = 1,
	ZEV_DELETED = 2,
	ZEV_CHANGED = 3,
	ZEV_CHILD = 4,
	ZEV_DATA_WATCH_REMOVED = 5,
	ZEV_CHILD_WATCH_REMOVED = 6,
	ZEV_PERSISTENT_WATCH_REMOVED = 7,
};
enum { ZSTATE_SYNC_CONNECTED = 3 };

/* Create flags (CreateMode.toFlag). */
enum {
	ZCM_PERSISTENT = 0,
	ZCM_EPHEMERAL = 1,
	ZCM_PERSISTENT_SEQUENTIAL = 2,
	ZCM_EPHEMERAL_SEQUENTIAL = 3,
	ZCM_CONTAINER = 4,
	ZCM_PERSISTENT_WITH_TTL = 5,
	ZCM_PERSISTENT_SEQUENTIAL_WITH_TTL = 6,
};

/* ACL permissions (ZooDefs.Perms). */
enum {
	ZPERM_READ = 1,
	ZPERM_WRITE = 2,
	ZPERM_CREATE = 4,
	ZPERM_DELETE = 8,
	ZPERM_ADMIN = 16,
	ZPERM_ALL = 31,
};

/* addWatch modes and watcher types for checkWatches/removeWatches. */
enum { ZADDWATCH_PERSISTENT = 0, ZADDWATCH_PERSISTENT_RECURSIVE = 1 };
enum { ZWATCHTYPE_CHILDREN = 1, ZWATCHTYPE_DATA = 2, ZWATCHTYPE_ANY = 3 };

/*
 * ephemeralOwner encodings (EphemeralType): containers use Long.MIN_VALUE;
 * TTL nodes set the top byte to 0xff and keep the ttl in the low 40 bits.
 */
#define ZK_CONTAINER_OWNER ((int64_t)INT64_MIN)
#define ZK_TTL_MAX ((int64_t)0x000000ffffffffffLL)
#define ZK_EXTENDED_MASK ((uint64_t)0xff00000000000000ULL)

/* Stat as sent on the wire. */
struct zk_stat {
	int64_t czxid;
	int64_t mzxid;
	int64_t ctime;
	int64_t mtime;
	int32_t version;
	int32_t cversion;
	int32_t aversion;
	int64_t ephemeral_owner;
	int32_t data_length;
	int32_t num_children;
	int64_t pzxid;
};

#define ZK_DEFAULT_MAXBUFFER (1024 * 1024 - 1) /* jute.maxbuffer: 0xfffff */

const char *zk_strerror(int err);
/* KeeperException.Code's name of err ("NONODE"), or NULL if unknown. */
const char *zk_errname(int err);
const char *zk_opname(int op);

#endif
