#!/bin/bash
# zkcli.sh -- Apache ZooKeeper's own Java CLI (org.apache.zookeeper.
# ZooKeeperMain, what /usr/share/zookeeper/bin/zkCli.sh runs) against the
# server: create (-e -s -c -t), get -s, set, stat, ls -s/-R, delete,
# deleteall, getAcl, setAcl, addauth, whoami, getEphemerals,
# getAllChildrenNumber, addWatch, removewatches, sync, get/ls/stat -w.
#
# One JVM runs a whole batch of commands read from stdin (about 1 s instead
# of 1 s per command).  Between commands the batch runs "ls /__markN", whose
# answer "Node does not exist: /__markN" splits the combined output into one
# block per command.  Watch notifications are printed asynchronously by the
# CLI's event thread, so they are removed from the blocks and checked as a
# whole.  Needs: java, Debian packages zookeeper/libzookeeper-java
# (zookeeper.jar) and libslf4j-java (slf4j-nop.jar).
. "$(dirname "$0")/lib.sh"
require_server
if ! [ -r /usr/share/java/zookeeper.jar ] || ! command -v java >/dev/null; then
    skip_all "java / zookeeper.jar (the CLI) not installed"
fi
server_init
server_start

# ---- batch runner ----------------------------------------------------------
declare -a CMDS=() BLOCK=()
EVENTS=
add() { CMDS+=("$1"); }       # add CMD -- one command = one block

run_batch() {
    local in=$COORDTEST_TMP/cli.in out=$COORDTEST_TMP/cli.out i line n
    : >"$in"
    for i in "${!CMDS[@]}"; do
        printf '%s\nls /__mark%d\n' "${CMDS[$i]}" "$i" >>"$in"
    done
    echo quit >>"$in"
    zkcli <"$in" >"$out" 2>&1
    BLOCK=() EVENTS=
    n=-1 cur=
    while IFS= read -r line; do
        case $line in
        "Node does not exist: /__mark"*)
            n=${line#Node does not exist: /__mark}
            BLOCK[n]=${cur%$'\n'}; cur= ;;
        WatchedEvent*) EVENTS+="$line"$'\n' ;;
        WATCHER::|"") ;;
        *) [ "$n" -ge -1 ] && cur+="$line"$'\n' ;;
        esac
    done <"$out"
    if [ "${#BLOCK[@]}" -ne "${#CMDS[@]}" ]; then
        diag "CLI output (expected ${#CMDS[@]} blocks, got ${#BLOCK[@]}):"
        diag "$(cat "$out")"
    fi
    CMDS=()
}
# block I -- output of command I with the connection banner removed
block() { printf '%s' "${BLOCK[$1]-<missing>}" | grep -Ev '^(Connecting to|Welcome to ZooKeeper|JLine support)'; }

# ---- batch 1 ---------------------------------------------------------------
add "create /a hello"                                        # 0
add "create -e /e"                                           # 1
add "create -s /s- x"                                        # 2
add "create -c /c"                                           # 3
add "create -t 100000 /t tt"                                 # 4
add "create /a again"                                        # 5
add "create /x/y"                                            # 6
add "get -s /a"                                              # 7
add "set /a world"                                           # 8
add "get /a"                                                 # 9
add "set -v 7 /a zz"                                         # 10
add "set -s /a w2"                                           # 11
add "stat /e"                                                # 12
add "stat /nonexist"                                         # 13
add "ls /"                                                   # 14
add "ls -s /"                                                # 15
add "create /d"; add "create /d/e1"; add "create /d/e1/f"; add "create /d/e2"  # 16-19
add "ls -R /d"                                               # 20
add "getAllChildrenNumber /d"                                # 21
add "delete /d"                                              # 22
add "deleteall /d"                                           # 23
add "ls /d"                                                  # 24
add "delete -v 9 /a"                                         # 25
add "getAcl /a"                                              # 26
add "setAcl /a world:anyone:r"                               # 27
add "getAcl -s /a"                                           # 28
add "set /a denied"                                          # 29
add "addauth digest user1:pw1"                               # 30
add "create /p data auth:user1:pw1:cdrwa"                    # 31
add "getAcl /p"                                              # 32
add "create /q data digest:user1:GMJqCvSAmNfv41XqBotWHO0HsNc=:cdr"  # 33
add "getAcl /q"                                              # 34
add "whoami"                                                 # 35
add "getEphemerals"                                          # 36
add "getEphemerals /e"                                       # 37
add "addWatch /w"                                            # 38
add "create /w"                                              # 39
add "set /w 1"                                               # 40
add "addWatch -m PERSISTENT_RECURSIVE /r"                    # 41
add "create /r"                                              # 42
add "create /r/k"                                            # 43
add "removewatches /w"                                       # 44
add "removewatches /nowatch"                                 # 45
add "set /w 2"                                               # 46
add "sync /"                                                 # 47
add "create /g gdata"                                        # 48
add "get -w /g"                                              # 49
add "set /g changed"                                         # 50
add "ls -w /g"                                               # 51
add "create /g/k"                                            # 52
add "stat -w /g/k"                                           # 53
add "delete /g/k"                                            # 54
add "stat /t"                                                # 55
add "stat /c"                                                # 56
add "delete /a"                                              # 57
add "stat /a"                                                # 58
add "create -e -s /es-"                                      # 59
add "getAllChildrenNumber /"                                 # 60
add "config"                                                 # 61
run_batch

is "$(block 0)" "Created /a" "create"
is "$(block 1)" "Created /e" "create -e"
is "$(block 2)" "Created /s-0000000002" "create -s: suffix = creates under / so far"
is "$(block 3)" "Created /c" "create -c (container)"
is "$(block 4)" "Created /t" "create -t (TTL)"
is "$(block 5)" "Node already exists: /a" "create existing"
is "$(block 6)" "Node does not exist: /x/y" "create under missing parent"
b=$(block 7)
is "$(printf '%s\n' "$b" | head -n1)" "hello" "get -s: data first"
like "$b" '^cZxid = 0x[0-9a-f]+$' "get -s: cZxid line"
like "$b" '^ctime = [A-Z][a-z]{2} [A-Z][a-z]{2} [0-9]{2} [0-9:]{8} [A-Z]+ [0-9]{4}$' "get -s: ctime is a date"
is "$(printf '%s\n' "$b" | sed 1d | cut -d' ' -f1 | tr '\n' ' ')" \
   "cZxid ctime mZxid mtime pZxid cversion dataVersion aclVersion ephemeralOwner dataLength numChildren " \
   "get -s: the 11 Stat lines in order"
like "$b" '^dataVersion = 0$' "get -s: dataVersion = 0"
like "$b" '^dataLength = 5$' "get -s: dataLength = 5"
like "$b" '^ephemeralOwner = 0x0$' "get -s: ephemeralOwner = 0x0"
czxid=$(printf '%s\n' "$b" | sed -n 's/^cZxid = //p')
like "$b" "^mZxid = $czxid\$" "get -s: new node mZxid = cZxid"
like "$b" "^pZxid = $czxid\$" "get -s: new node pZxid = cZxid"
is "$(block 8)" "" "set prints nothing"
is "$(block 9)" "world" "get after set"
is "$(block 10)" "version No is not valid : /a" "set -v with a wrong version"
like "$(block 11)" '^dataVersion = 2$' "set -s prints the new Stat"
like "$(block 12)" '^ephemeralOwner = 0x[1-9a-f][0-9a-f]*$' "stat of an ephemeral: owner = session id"
is "$(block 13)" "Node does not exist: /nonexist" "stat missing"
is "$(block 14)" "[a, c, e, s-0000000002, t, zookeeper]" "ls /"
b=$(block 15)
is "$(printf '%s\n' "$b" | head -n1)" "[a, c, e, s-0000000002, t, zookeeper]" "ls -s: children"
like "$b" '^numChildren = 6$' "ls -s: numChildren = 6"
like "$b" '^cversion = 4$' "ls -s: root cversion = 2*5 creates - 6 children = 4"
is "$(block 16)$(block 19)" "Created /dCreated /d/e2" "create tree"
is "$(block 20 | sort | tr '\n' ' ')" "/d /d/e1 /d/e1/f /d/e2 " "ls -R lists the subtree"
is "$(block 20 | head -n1)" "/d" "ls -R starts at the node"
is "$(block 21)" "3" "getAllChildrenNumber"
is "$(block 22)" "Node not empty: /d" "delete non-empty"
is "$(block 23)" "" "deleteall"
is "$(block 24)" "Node does not exist: /d" "deleteall removed the tree"
is "$(block 25)" "version No is not valid : /a" "delete -v with a wrong version"
is "$(block 26)" "'world,'anyone
: cdrwa" "getAcl (default world:anyone:cdrwa)"
is "$(block 27)" "" "setAcl"
b=$(block 28)
is "$(printf '%s\n' "$b" | head -n2)" "'world,'anyone
: r" "getAcl -s: new ACL"
like "$b" '^aclVersion = 1$' "getAcl -s: aclVersion = 1"
is "$(block 29)" "Insufficient permission : /a" "set without WRITE permission"
is "$(block 30)" "" "addauth digest"
is "$(block 31)" "Created /p" "create with an auth ACL"
is "$(block 32)" "'digest,'user1:GMJqCvSAmNfv41XqBotWHO0HsNc=
: cdrwa" "auth ACL stored as the digest of user1:pw1"
is "$(block 33)" "Created /q" "create with a digest ACL"
# ZooKeeper masks digest hashes ("user:x") in getACL replies to callers that
# lack ADMIN on the node -- here the owner itself (cdr, no a).
is "$(block 34)" "'digest,'user1:x
: cdr" "getAcl without ADMIN: digest hash masked as user1:x"
b=$(block 35)
is "$(printf '%s\n' "$b" | head -n1)" "Auth scheme: User" "whoami header"
is "$(printf '%s\n' "$b" | sed 1d | sort | tr '\n' ' ')" "digest: user1 ip: 127.0.0.1 " "whoami: ip and digest ids"
is "$(block 36)" "[/e]" "getEphemerals"
is "$(block 37)" "[/e]" "getEphemerals with a prefix"
is "$(block 38)" "" "addWatch (persistent)"
is "$(block 45)" "KeeperErrorCode = No such watcher for /nowatch" "removewatches without a watch"
is "$(block 47)" "Sync is OK" "sync"
is "$(block 49)" "gdata" "get -w"
is "$(block 51)" "[]" "ls -w"
like "$(block 55)" '^ephemeralOwner = 0x0$' "TTL node: ephemeralOwner shows 0x0"
like "$(block 56)" '^ephemeralOwner = 0x0$' "container: ephemeralOwner shows 0x0"
is "$(block 57)" "" "delete needs DELETE on the parent only (node is read-only)"
is "$(block 58)" "Node does not exist: /a" "deleted"
like "$(block 59)" '^Created /es-[0-9]{10}$' "create -e -s"
like "$(block 60)" '^[0-9]+$' "getAllChildrenNumber /"
is "$(block 61)" "" "config: empty in standalone mode"

count() { printf '%s' "$EVENTS" | grep -cxF "WatchedEvent state:SyncConnected type:$1 path:$2"; }
is "$(count NodeCreated /w)" 1 "persistent watch: NodeCreated /w"
is "$(count NodeDataChanged /w)" 1 "persistent watch: NodeDataChanged /w once (removed before the 2nd set)"
is "$(count PersistentWatchRemoved /w)" 1 "removewatches: PersistentWatchRemoved (client-generated)"
is "$(count NodeCreated /r)$(count NodeCreated /r/k)" 11 "recursive watch: NodeCreated /r and /r/k"
is "$(count NodeChildrenChanged /r)" 0 "recursive watch: no NodeChildrenChanged"
is "$(count NodeDataChanged /g)" 1 "get -w fires NodeDataChanged"
is "$(count NodeChildrenChanged /g)" 1 "ls -w fires NodeChildrenChanged"
is "$(count NodeDeleted /g/k)" 1 "stat -w fires NodeDeleted"

# ---- batch 2: a new session --------------------------------------------------
add "ls /"                                                   # 0
add "get /p"                                                 # 1
add "get /q"                                                 # 2
add "getEphemerals"                                          # 3
add "whoami"                                                 # 4
run_batch
is "$(block 0)" "[c, g, p, q, r, s-0000000002, t, w, zookeeper]" "ephemerals of the closed session are gone"
is "$(block 1)" "Insufficient permission : /p" "another session cannot read the auth-ACL node"
is "$(block 2)" "Insufficient permission : /q" "... nor the digest-ACL node"
is "$(block 3)" "[]" "new session has no ephemerals"
is "$(block 4)" "Auth scheme: User
ip: 127.0.0.1" "whoami without addauth"

# ---- one command on the command line (script mode) -------------------------
out=$(zkcli get /g 2>&1 | grep -Ev '^(Connecting to|Welcome|JLine|WATCHER::|WatchedEvent|$)')
is "$out" "changed" "non-interactive: zkCli -server HOST:PORT get /g"

done_testing
