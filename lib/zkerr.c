/*
 * zkerr.c - names of ZooKeeper error codes and opcodes, for logs, 4lw output
 * and the command line tools.  The one table of its kind in the tree.
 */
#include "config.h"

#include <stddef.h>

#include "coord/zk.h"

const char *zk_strerror(int err)
{
	switch (err) {
	case ZOK: return "ok";
	case ZSYSTEMERROR: return "system error";
	case ZRUNTIMEINCONSISTENCY: return "run time inconsistency";
	case ZDATAINCONSISTENCY: return "data inconsistency";
	case ZCONNECTIONLOSS: return "connection loss";
	case ZMARSHALLINGERROR: return "marshalling error";
	case ZUNIMPLEMENTED: return "unimplemented";
	case ZOPERATIONTIMEOUT: return "operation timeout";
	case ZBADARGUMENTS: return "bad arguments";
	case ZNEWCONFIGNOQUORUM: return "no quorum of new config";
	case ZRECONFIGINPROGRESS: return "reconfig in progress";
	case ZAPIERROR: return "api error";
	case ZNONODE: return "no node";
	case ZNOAUTH: return "not authenticated";
	case ZBADVERSION: return "bad version";
	case ZNOCHILDRENFOREPHEMERALS: return "no children for ephemerals";
	case ZNODEEXISTS: return "node exists";
	case ZNOTEMPTY: return "not empty";
	case ZSESSIONEXPIRED: return "session expired";
	case ZINVALIDCALLBACK: return "invalid callback";
	case ZINVALIDACL: return "invalid acl";
	case ZAUTHFAILED: return "authentication failed";
	case ZCLOSING: return "zookeeper is closing";
	case ZNOTHING: return "(not error) no server responses to process";
	case ZSESSIONMOVED: return "session moved to another server, so operation is ignored";
	case ZNOTREADONLY: return "state-changing request is passed to read-only server";
	case ZEPHEMERALONLOCALSESSION: return "attempts to create ephemeral node on a local session";
	case ZNOWATCHER: return "the watcher couldn't be found";
	case ZRECONFIGDISABLED: return "attempts to perform a reconfiguration operation when reconfiguration feature is disable";
	case ZQUOTAEXCEEDED: return "quota exceeded";
	case ZTHROTTLEDOP: return "operation throttled";
	default: return "unknown error";
	}
}

/* The same codes by their KeeperException.Code names, for coordctl's messages. */
const char *zk_errname(int err)
{
	switch (err) {
	case ZOK: return "OK";
	case ZSYSTEMERROR: return "SYSTEMERROR";
	case ZRUNTIMEINCONSISTENCY: return "RUNTIMEINCONSISTENCY";
	case ZDATAINCONSISTENCY: return "DATAINCONSISTENCY";
	case ZCONNECTIONLOSS: return "CONNECTIONLOSS";
	case ZMARSHALLINGERROR: return "MARSHALLINGERROR";
	case ZUNIMPLEMENTED: return "UNIMPLEMENTED";
	case ZOPERATIONTIMEOUT: return "OPERATIONTIMEOUT";
	case ZBADARGUMENTS: return "BADARGUMENTS";
	case ZNEWCONFIGNOQUORUM: return "NEWCONFIGNOQUORUM";
	case ZRECONFIGINPROGRESS: return "RECONFIGINPROGRESS";
	case ZAPIERROR: return "APIERROR";
	case ZNONODE: return "NONODE";
	case ZNOAUTH: return "NOAUTH";
	case ZBADVERSION: return "BADVERSION";
	case ZNOCHILDRENFOREPHEMERALS: return "NOCHILDRENFOREPHEMERALS";
	case ZNODEEXISTS: return "NODEEXISTS";
	case ZNOTEMPTY: return "NOTEMPTY";
	case ZSESSIONEXPIRED: return "SESSIONEXPIRED";
	case ZINVALIDCALLBACK: return "INVALIDCALLBACK";
	case ZINVALIDACL: return "INVALIDACL";
	case ZAUTHFAILED: return "AUTHFAILED";
	case ZCLOSING: return "CLOSING";
	case ZNOTHING: return "NOTHING";
	case ZSESSIONMOVED: return "SESSIONMOVED";
	case ZNOTREADONLY: return "NOTREADONLY";
	case ZEPHEMERALONLOCALSESSION: return "EPHEMERALONLOCALSESSION";
	case ZNOWATCHER: return "NOWATCHER";
	case ZRECONFIGDISABLED: return "RECONFIGDISABLED";
	case ZSESSIONCLOSEDREQUIRESASLAUTH: return "SESSIONCLOSEDREQUIRESASLAUTH";
	case ZQUOTAEXCEEDED: return "QUOTAEXCEEDED";
	case ZTHROTTLEDOP: return "THROTTLEDOP";
	default: return NULL;
	}
}

const char *zk_opname(int op)
{
	switch (op) {
	case ZOP_NOTIFICATION: return "notification";
	case ZOP_CREATE: return "create";
	case ZOP_DELETE: return "delete";
	case ZOP_EXISTS: return "exists";
	case ZOP_GETDATA: return "getData";
	case ZOP_SETDATA: return "setData";
	case ZOP_GETACL: return "getACL";
	case ZOP_SETACL: return "setACL";
	case ZOP_GETCHILDREN: return "getChildren";
	case ZOP_SYNC: return "sync";
	case ZOP_PING: return "ping";
	case ZOP_GETCHILDREN2: return "getChildren2";
	case ZOP_CHECK: return "check";
	case ZOP_MULTI: return "multi";
	case ZOP_CREATE2: return "create2";
	case ZOP_RECONFIG: return "reconfig";
	case ZOP_CHECKWATCHES: return "checkWatches";
	case ZOP_REMOVEWATCHES: return "removeWatches";
	case ZOP_CREATECONTAINER: return "createContainer";
	case ZOP_DELETECONTAINER: return "deleteContainer";
	case ZOP_CREATETTL: return "createTTL";
	case ZOP_MULTIREAD: return "multiRead";
	case ZOP_AUTH: return "auth";
	case ZOP_SETWATCHES: return "setWatches";
	case ZOP_SASL: return "sasl";
	case ZOP_GETEPHEMERALS: return "getEphemerals";
	case ZOP_GETALLCHILDRENNUMBER: return "getAllChildrenNumber";
	case ZOP_SETWATCHES2: return "setWatches2";
	case ZOP_ADDWATCH: return "addWatch";
	case ZOP_WHOAMI: return "whoAmI";
	case ZOP_CREATESESSION: return "createSession";
	case ZOP_CLOSESESSION: return "closeSession";
	case ZOP_ERROR: return "error";
	default: return "unknown";
	}
}
