# tests/integration/lib.sh -- shell harness for the coordfs client-conformance
# tests (sourced by tests/integration/*.sh; bash only).  The Python twin is
# coordtest.py; both start servers the same way.
#
# Server selection:
#   COORD_SERVER unset or "coordd": $top_builddir/replica/coordd -c CFG
#       (missing binary -> "1..0 # SKIP coordd not built", exit 0)
#   COORD_SERVER=zookeeper: Apache ZooKeeper 3.8 standalone (Debian
#       packages zookeeper / libzookeeper-java) via ZooKeeperServerMain.
#
# One zoo.cfg-syntax file serves both servers.  Settings ZooKeeper only takes
# as Java system properties (znode.container.checkIntervalMs,
# znode.container.maxPerMinute, zookeeper.extendedTypesEnabled,
# zookeeper.DigestAuthenticationProvider.superDigest, ...) are written to the
# cfg under exactly the system-property name -- coordd reads them from there
# -- and are also passed to ZooKeeper's JVM as -Dname=value.  (ZooKeeper
# itself turns an unknown cfg key K into the property "zookeeper.K", which is
# why the -D is needed.)
#
# Usage:
#   . "$top_srcdir/tests/integration/lib.sh"
#   require_server                       # or skip the whole file
#   server_init [TICK_MS]                # temp dir, free port, defaults
#   server_cfg 4lw.commands.whitelist=ruok,srvr   # override/add a cfg key
#   server_cfg_unset KEY                          # drop a default cfg key
#   server_prop some.java.property=value          # cfg key AND -D for ZK
#   server_start                         # waits until a session can be made
#   ... server_stop | server_kill9 | server_restart | fourlw CMD ...
#   done_testing
#
# TAP: plan N | ok NAME CMD... | is GOT WANT NAME | like GOT ERE NAME |
#      unlike GOT ERE NAME | pass NAME | fail NAME [DIAG] | skip NAME REASON |
#      diag MSG | skip_all REASON | done_testing
# Polling: wait_for SECS CMD...  (never sleep-then-assert)

: "${top_srcdir:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir
COORD_SERVER=${COORD_SERVER:-coordd}
# shellcheck disable=SC2034  # used by the test scripts
COORDTEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
COORDTEST_PY=/usr/bin/python3
ZK_CLASSPATH=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar
# zkCli without log noise
ZK_CLI_CLASSPATH=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-nop.jar
JAVA_FAST_OPTS="-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"

# ---------------------------------------------------------------- TAP ----
tap_n=0
tap_failed=0
tap_planned=

plan() { tap_planned=$1; echo "1..$1"; }

diag() {
    local line
    while IFS= read -r line; do echo "# $line"; done <<<"$*"
}

_tap_emit() {   # _tap_emit ok|not NAME [DIRECTIVE]
    tap_n=$((tap_n + 1))
    local name=${2//#/\\#}
    local line
    if [ "$1" = ok ]; then line="ok $tap_n - $name"; else
        line="not ok $tap_n - $name"; tap_failed=$((tap_failed + 1)); fi
    [ -n "${3-}" ] && line="$line # $3"
    echo "$line"
}

pass() { _tap_emit ok "$1"; }
fail() { _tap_emit not "$1"; [ -n "${2-}" ] && diag "$2"; return 0; }
skip() { _tap_emit ok "$1" "SKIP $2"; }

# ok NAME CMD [ARGS...] -- passes iff CMD exits 0
ok() {
    local name=$1; shift
    if "$@"; then pass "$name"; else fail "$name" "command failed: $*"; fi
}

# is GOT WANT NAME -- string equality
is() {
    if [ "$1" = "$2" ]; then pass "$3"; else
        fail "$3" "     got: '$1'
expected: '$2'"; fi
}

# like GOT ERE NAME -- GOT (may be multi-line) has a line matching ERE
like() {
    if printf '%s\n' "$1" | grep -Eq -- "$2"; then pass "$3"; else
        fail "$3" "no line matches /$2/ in:
$1"; fi
}

unlike() {
    if printf '%s\n' "$1" | grep -Eq -- "$2"; then
        fail "$3" "a line matches /$2/ in:
$1"; else pass "$3"; fi
}

skip_all() { echo "1..0 # SKIP $1"; exit 0; }

done_testing() {
    if [ -z "$tap_planned" ]; then echo "1..$tap_n";
    elif [ "$tap_planned" != "$tap_n" ]; then
        diag "planned $tap_planned tests but ran $tap_n"
        tap_failed=$((tap_failed + 1))
    fi
    [ "$tap_failed" -eq 0 ]
    exit $?
}

# ------------------------------------------------------------ polling ----
# wait_for SECS CMD [ARGS...] -- run CMD every 50 ms until it succeeds or
# SECS seconds have passed; returns CMD's last status.
wait_for() {
    local secs=$1; shift
    local deadline=$(( $(date +%s%N) + secs * 1000000000 ))
    while :; do
        "$@" && return 0
        [ "$(date +%s%N)" -ge "$deadline" ] && return 1
        sleep 0.05
    done
}

# ------------------------------------------------------------ servers ----
COORDTEST_TMP=
SERVER_PID=
SERVER_PORT=
SERVER_DIR=
SERVER_CFG=
SERVER_LOG=
declare -A SERVER_CFGKEYS=()
declare -A SERVER_PROPS=()
declare -a SERVER_CFGORDER=()

_coordtest_cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -9 "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    SERVER_PID=
    [ -n "$COORDTEST_TMP" ] && rm -rf "$COORDTEST_TMP"
    COORDTEST_TMP=
}
trap '_coordtest_cleanup' EXIT
trap '_coordtest_cleanup; exit 130' INT
trap '_coordtest_cleanup; exit 143' TERM

coordd_path() { echo "$top_builddir/replica/coordd"; }

require_server() {
    case $COORD_SERVER in
    coordd)
        [ -x "$(coordd_path)" ] || skip_all "coordd not built" ;;
    zookeeper)
        { [ -r /usr/share/java/zookeeper.jar ] && command -v java >/dev/null; } ||
            skip_all "Apache ZooKeeper (Debian zookeeper package) not installed" ;;
    *)
        echo "Bail out! COORD_SERVER must be coordd or zookeeper"; exit 1 ;;
    esac
    [ -x "$COORDTEST_PY" ] || skip_all "$COORDTEST_PY not found"
}

free_port() {
    "$COORDTEST_PY" -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# server_cfg KEY=VALUE -- set a cfg key (before server_start)
server_cfg() {
    local k=${1%%=*} v=${1#*=}
    [ -z "${SERVER_CFGKEYS[$k]+x}" ] && SERVER_CFGORDER+=("$k")
    SERVER_CFGKEYS[$k]=$v
}

# server_cfg_unset KEY -- drop a cfg key (e.g. to get a server default)
server_cfg_unset() {
    local k keep=()
    unset "SERVER_CFGKEYS[$1]"
    for k in "${SERVER_CFGORDER[@]}"; do [ "$k" = "$1" ] || keep+=("$k"); done
    SERVER_CFGORDER=("${keep[@]}")
}

# server_prop NAME=VALUE -- cfg key for coordd and -D property for ZooKeeper
server_prop() { local k=${1%%=*}; SERVER_PROPS[$k]=${1#*=}; }

# server_init [TICK_MS] -- fresh temp data dir and free port, default config
# shellcheck disable=SC2120
server_init() {
    local tick=${1:-250}
    [ -n "$COORDTEST_TMP" ] || COORDTEST_TMP=$(mktemp -d /tmp/coordtest.XXXXXX)
    SERVER_DIR=$(mktemp -d "$COORDTEST_TMP/server.XXXXXX")
    mkdir "$SERVER_DIR/data"
    SERVER_PORT=$(free_port)
    SERVER_CFG=$SERVER_DIR/zoo.cfg
    SERVER_LOG=$SERVER_DIR/server.log
    SERVER_CFGKEYS=() SERVER_PROPS=() SERVER_CFGORDER=()
    server_cfg "tickTime=$tick"
    server_cfg "dataDir=$SERVER_DIR/data"
    server_cfg "clientPort=$SERVER_PORT"
    server_cfg "clientPortAddress=127.0.0.1"
    server_cfg "4lw.commands.whitelist=*"
    server_cfg "extendedTypesEnabled=true"
    server_cfg "maxClientCnxns=100"
    server_cfg "admin.enableServer=false"
    server_prop "zookeeper.extendedTypesEnabled=true"
    server_prop "znode.container.checkIntervalMs=100"
    server_prop "znode.container.maxPerMinute=100000"
}

_server_write_cfg() {
    local k
    : >"$SERVER_CFG"
    for k in "${SERVER_CFGORDER[@]}"; do
        printf '%s=%s\n' "$k" "${SERVER_CFGKEYS[$k]}" >>"$SERVER_CFG"
    done
    for k in "${!SERVER_PROPS[@]}"; do
        printf '%s=%s\n' "$k" "${SERVER_PROPS[$k]}" >>"$SERVER_CFG"
    done
}

# server_ready -- a ZooKeeper session can be created (and is closed again).
# Pure bash: ConnectRequest {protocolVersion 0, lastZxidSeen 0, timeOut
# 30000, sessionId 0, passwd 16 x NUL, readOnly false} must be answered by a
# 41-byte ConnectResponse frame with timeOut > 0; then closeSession.
server_ready() {
    local fd hex
    { exec {fd}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"; } 2>/dev/null || return 1
    printf '\x00\x00\x00\x2d\x00\x00\x00\x00''\x00\x00\x00\x00\x00\x00\x00\x00''\x00\x00\x75\x30''\x00\x00\x00\x00\x00\x00\x00\x00''\x00\x00\x00\x10''\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00''\x00' 1>&"$fd" 2>/dev/null
    hex=$(timeout 1 head -c 41 <&"$fd" | od -An -v -tx1 | tr -d ' \n')
    if [ "${#hex}" -eq 82 ] && [ "${hex:16:8}" != 00000000 ]; then
        # closeSession: xid 1, type -11; wait for its reply (20 bytes)
        printf '\x00\x00\x00\x08\x00\x00\x00\x01\xff\xff\xff\xf5' 1>&"$fd" 2>/dev/null
        timeout 2 head -c 20 <&"$fd" >/dev/null
        exec {fd}>&-
        return 0
    fi
    exec {fd}>&-
    return 1
}

server_alive() { [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; }

server_start() {
    [ -n "$SERVER_DIR" ] || server_init
    _server_write_cfg
    if [ "$COORD_SERVER" = zookeeper ]; then
        local k; local -a d=(-Dzookeeper.admin.enableServer=false)
        for k in "${!SERVER_PROPS[@]}"; do d+=("-D$k=${SERVER_PROPS[$k]}"); done
        # shellcheck disable=SC2086
        (cd "$SERVER_DIR" && exec java $JAVA_FAST_OPTS "${d[@]}" -cp "$ZK_CLASSPATH" \
            org.apache.zookeeper.server.ZooKeeperServerMain "$SERVER_CFG") \
            >>"$SERVER_LOG" 2>&1 </dev/null &
    else
        (cd "$SERVER_DIR" && exec "$(coordd_path)" -c "$SERVER_CFG") \
            >>"$SERVER_LOG" 2>&1 </dev/null &
    fi
    SERVER_PID=$!
    if ! wait_for 30 _server_up; then
        echo "Bail out! server did not start on port $SERVER_PORT"
        tail -n 40 "$SERVER_LOG" | sed 's/^/# /'
        exit 1
    fi
}
_server_up() { server_alive && server_ready; }

_port_closed() { ! (exec 3<>"/dev/tcp/127.0.0.1/$SERVER_PORT") 2>/dev/null; }

# server_stop [SIGNAL] -- stop and wait for the port to be free again
server_stop() {
    local sig=${1:-TERM}
    if server_alive; then
        kill -"$sig" "$SERVER_PID" 2>/dev/null
        local _
        for _ in $(seq 200); do server_alive || break; sleep 0.05; done
        server_alive && kill -9 "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    SERVER_PID=
    wait_for 10 _port_closed
}
server_kill9() { server_stop KILL; }
server_restart() { server_stop; server_start; }

# fourlw CMD -- send a four-letter word, print the answer (until EOF)
fourlw() {
    local fd
    { exec {fd}<>"/dev/tcp/127.0.0.1/$SERVER_PORT"; } 2>/dev/null || return 1
    printf '%s' "$1" >&"$fd"
    timeout 5 cat <&"$fd"
    exec {fd}>&-
}

# zkcli [ARGS...] -- Apache ZooKeeper's CLI (ZooKeeperMain) against the
# server; commands are read from stdin, one per line (one JVM for a batch).
zkcli() {
    # shellcheck disable=SC2086
    timeout "${ZKCLI_TIMEOUT:-60}" java $JAVA_FAST_OPTS -cp "$ZK_CLI_CLASSPATH" \
        org.apache.zookeeper.ZooKeeperMain \
        -server "127.0.0.1:$SERVER_PORT" "$@"
}
