#!/bin/bash
# fourlw.sh -- four-letter-word commands on the client port: ruok, srvr,
# stat, mntr, conf, cons, envi, wchs, wchc, wchp, dump, isro, dirs, crst,
# srst, an unknown word, and the 4lw.commands.whitelist restriction.
#
# Uses bash's /dev/tcp (no netcat needed).  A helper session (Python, raw
# protocol) holds one ephemeral node and three watches while the words are
# sent, so the listings have known content.
. "$(dirname "$0")/lib.sh"
require_server
server_init
server_start

STATE=$COORDTEST_TMP/state
STOP=$COORDTEST_TMP/stop
"$COORDTEST_PY" - "$SERVER_PORT" "$STATE" "$STOP" "$COORDTEST_DIR" <<'PY' &
import os, sys, time
port, state, stop, libdir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
sys.path.insert(0, libdir)
import coordtest as ct
r = ct.Raw(port, timeout_ms=5000)
r.create("/w", b"12345")
r.create("/e", b"", flags=ct.EPHEMERAL)
r.get("/w", watch=True)                 # data watch
r.exists("/nx", watch=True)             # exists watch (a data watch)
r.children("/", watch=True)             # child watch
with open(state + ".tmp", "w") as f:
    f.write("%#x %#x\n" % (r.session_id, r.last_zxid))
os.rename(state + ".tmp", state)
deadline = time.monotonic() + 60
while not os.path.exists(stop) and time.monotonic() < deadline:
    r.wait_event(lambda e: False, 0.2)  # keeps pinging
r.close()
PY
HELPER=$!
wait_for 20 test -s "$STATE" || { echo "Bail out! helper session did not start"; exit 1; }
read -r SID ZXID <"$STATE"
diag "helper session $SID, last zxid $ZXID"

# --- ruok / isro ---------------------------------------------------------
is "$(fourlw ruok)" "imok" "ruok -> imok (no newline)"
is "$(fourlw isro | od -An -c | tr -s ' ')" " r w" "isro -> rw (no newline)"
is "$(fourlw ruokEXTRA)" "imok" "only the first four bytes count"
is "$(fourlw xxxx)" "" "unknown word: connection closed without output"

# --- srvr / stat -----------------------------------------------------------
out=$(fourlw srvr)
like "$out" '^Zookeeper version: 3\.8\.[0-9]+' "srvr: Zookeeper version: 3.8.x"
like "$out" '^Latency min/avg/max: [0-9]+/[0-9.]+/[0-9]+$' "srvr: latency line"
like "$out" '^Received: [0-9]+$' "srvr: Received"
like "$out" '^Sent: [0-9]+$' "srvr: Sent"
like "$out" '^Connections: 2$' "srvr: Connections: 2 (helper + this one)"
like "$out" '^Outstanding: 0$' "srvr: Outstanding: 0"
is "$(printf '%s\n' "$out" | sed -n 's/^Zxid: //p')" "$ZXID" "srvr: Zxid = last zxid, in hex"
like "$out" '^Mode: standalone$' "srvr: Mode: standalone"
# ZooKeeper's node count includes the root twice ("" and "/"): a fresh
# server reports 5 for /, /zookeeper, /zookeeper/quota, /zookeeper/config;
# the helper added /w and /e.
like "$out" '^Node count: 7$' "srvr: Node count: 7"
is "$(printf '%s\n' "$out" | cut -d: -f1 | tr '\n' ,)" \
   "Zookeeper version,Latency min/avg/max,Received,Sent,Connections,Outstanding,Zxid,Mode,Node count," \
   "srvr: lines in order"
out=$(fourlw stat)
like "$out" '^Zookeeper version: 3\.8\.' "stat: version"
like "$out" '^Clients:$' "stat: Clients:"
like "$out" '^ /127\.0\.0\.1:[0-9]+\[1\]\(queued=0,recved=[0-9]+,sent=[0-9]+\)$' \
     "stat: the helper's connection"
like "$out" '^ /127\.0\.0\.1:[0-9]+\[0\]\(queued=0,recved=1,sent=0\)$' \
     "stat: this 4lw connection"
like "$out" '^Mode: standalone$' "stat: Mode"
like "$out" '^Node count: 7$' "stat: Node count"

# --- mntr ------------------------------------------------------------------
out=$(fourlw mntr)
mntr() { printf '%s\n' "$out" | awk -F'\t' -v k="$1" '$1 == k { print $2 }'; }
unlike "$out" '^[^	]+$' "mntr: every line is key<TAB>value"
like "$(mntr zk_version)" '^3\.8\.' "mntr: zk_version 3.8"
is "$(mntr zk_server_state)" "standalone" "mntr: zk_server_state"
is "$(mntr zk_znode_count)" "7" "mntr: zk_znode_count"
is "$(mntr zk_ephemerals_count)" "1" "mntr: zk_ephemerals_count"
is "$(mntr zk_watch_count)" "3" "mntr: zk_watch_count (data + exists + child)"
is "$(mntr zk_num_alive_connections)" "2" "mntr: zk_num_alive_connections"
is "$(mntr zk_outstanding_requests)" "0" "mntr: zk_outstanding_requests"
is "$(mntr zk_global_sessions)" "1" "mntr: zk_global_sessions"
for k in zk_avg_latency zk_max_latency zk_min_latency zk_packets_received \
         zk_packets_sent zk_approximate_data_size \
         zk_open_file_descriptor_count zk_max_file_descriptor_count; do
    like "$(mntr $k)" '^[0-9]+(\.[0-9]+)?$' "mntr: $k is a number"
done

# --- conf / envi / dirs ---------------------------------------------------
out=$(fourlw conf)
like "$out" "^clientPort=$SERVER_PORT\$" "conf: clientPort"
like "$out" "^dataDir=$SERVER_DIR/data(/version-2)?\$" "conf: dataDir (ZooKeeper appends /version-2)"
like "$out" '^tickTime=250$' "conf: tickTime"
like "$out" '^maxClientCnxns=100$' "conf: maxClientCnxns"
like "$out" '^minSessionTimeout=500$' "conf: minSessionTimeout = 2*tickTime"
like "$out" '^maxSessionTimeout=5000$' "conf: maxSessionTimeout = 20*tickTime"
like "$out" '^serverId=0$' "conf: serverId=0 (standalone)"
out=$(fourlw envi)
is "$(printf '%s\n' "$out" | head -n1)" "Environment:" "envi: header"
like "$out" '^zookeeper\.version=3\.8\.' "envi: zookeeper.version=3.8..."
like "$out" '^host\.name=.+' "envi: host.name"
like "$out" '^os\.name=Linux$' "envi: os.name"
like "$out" '^user\.dir=/' "envi: user.dir"
out=$(fourlw dirs)
like "$out" '^datadir_size: [0-9]+$' "dirs: datadir_size"
like "$out" '^logdir_size: [0-9]+$' "dirs: logdir_size"

# --- connections and watches ---------------------------------------------
out=$(fourlw cons)
like "$out" "^ /127\.0\.0\.1:[0-9]+\[1\]\(queued=0,recved=[0-9]+,sent=[0-9]+,sid=$SID,lop=[A-Z]+,est=[0-9]+,to=5000,lcxid=0x[0-9a-f]+,lzxid=0x[0-9a-f]+,lresp=[0-9]+,llat=[0-9]+,minlat=[0-9]+,avglat=[0-9]+,maxlat=[0-9]+\)\$" \
     "cons: helper connection with sid and to=5000"
# NB: ZooKeeper 3.8's wchs/wchc/wchp cover data and exists watches only;
# the child watch on / shows up in mntr zk_watch_count but not here.
is "$(fourlw wchs)" "1 connections watching 2 paths
Total watches:2" "wchs"
out=$(fourlw wchc)
is "$(printf '%s\n' "$out" | head -n1)" "$SID" "wchc: session id"
is "$(printf '%s\n' "$out" | sed -n 's/^\t//p' | sort | tr '\n' ' ')" "/nx /w " "wchc: watched paths"
out=$(fourlw wchp)
is "$(printf '%s\n' "$out" | grep '^/' | sort | tr '\n' ' ')" "/nx /w " "wchp: paths"
is "$(printf '%s\n' "$out" | sed -n 's/^\t//p' | sort -u)" "$SID" "wchp: watched by the session"
out=$(fourlw dump)
like "$out" '^SessionTracker dump:$' "dump: SessionTracker dump"
like "$out" '^ephemeral nodes dump:$' "dump: ephemeral nodes dump"
like "$out" '^Sessions with Ephemerals \(1\):$' "dump: Sessions with Ephemerals (1)"
is "$(printf '%s\n' "$out" | grep -A1 -x "$SID:" | tail -n1)" "	/e" "dump: the session's ephemeral"

# --- resets ----------------------------------------------------------------
received() { fourlw srvr | sed -n 's/^Received: //p'; }
before=$(received)
is "$(fourlw crst)" "Connection stats reset." "crst"
is "$(fourlw srst)" "Server stats reset." "srst"
after=$(received)
ok "srvr after srst: Received counter reset ($before -> $after)" test "$after" -lt "$before"

touch "$STOP"
wait "$HELPER"
is "$?" 0 "helper session closed cleanly"
server_stop

# --- restricted whitelist ----------------------------------------------------
server_init
server_cfg "4lw.commands.whitelist=ruok, srvr"
server_start
is "$(fourlw ruok)" "imok" "whitelist 'ruok, srvr': ruok answers"
like "$(fourlw srvr)" '^Mode: standalone$' "whitelist: srvr answers"
for c in stat mntr conf isro dump; do
    is "$(fourlw $c)" "$c is not executed because it is not in the whitelist." \
       "whitelist: $c refused with the standard message"
done
server_stop

# --- no whitelist key: ZooKeeper's default is "srvr" only -----------------
server_init
server_cfg_unset 4lw.commands.whitelist
server_start
like "$(fourlw srvr)" '^Mode: standalone$' "default whitelist: srvr answers"
is "$(fourlw ruok)" "ruok is not executed because it is not in the whitelist." \
   "default whitelist: ruok refused"
server_stop

done_testing
