# Client conformance suite (kazoo, Apache ZooKeeper's Java CLI, 4lw), proven
# against Apache ZooKeeper 3.8: COORD_SERVER=zookeeper make check.  Default
# server is $(top_builddir)/replica/coordd (tests SKIP if it is not built).
TESTS += %D%/kazoo_basic.py %D%/kazoo_watch.py %D%/kazoo_txn.py \
	%D%/kazoo_acl.py %D%/kazoo_recipes.py %D%/kazoo_session.py \
	%D%/zkcli.sh %D%/fourlw.sh
EXTRA_DIST += %D%/lib.sh %D%/coordtest.py \
	%D%/kazoo_basic.py %D%/kazoo_watch.py %D%/kazoo_txn.py \
	%D%/kazoo_acl.py %D%/kazoo_recipes.py %D%/kazoo_session.py \
	%D%/zkcli.sh %D%/fourlw.sh
# end
TESTS += %D%/zkc_conformance.sh %D%/badinput.py
EXTRA_DIST += %D%/zkc_conformance.sh %D%/badinput.py %D%/rawzk.py
# Durability: SIGKILL under load, kills during snapshots, injected I/O errors
# (COORD_FAULT_FILE, replica/faultinject.h) and a real full disk (tmpfs;
# SKIPs without root).
TESTS += %D%/crash_kill9.py %D%/crash_snapshot.py %D%/iofault_inject.py \
	%D%/iofault_enospc.py
EXTRA_DIST += %D%/durability_lib.py %D%/crash_kill9.py \
	%D%/crash_snapshot.py %D%/iofault_inject.py %D%/iofault_enospc.py
# coordfs: real FUSE mounts driven by the ordinary tools (SKIP without root or /dev/fuse).
TESTS += %D%/fs_basic.py %D%/fs_events.py %D%/fs_locks.py %D%/fs_cache.py
EXTRA_DIST += %D%/fstest.py %D%/fs_basic.py %D%/fs_events.py %D%/fs_locks.py \
	%D%/fs_cache.py
# Replication: ensembles of 3 and 5 servers (cluster.py), kill -9 under load,
# network partitions (network namespaces + nftables; SKIP without root or
# nft) with a linearizability check (linearizable.py), and coordfs failing
# over between servers.  Proven against Apache ZooKeeper 3.8
# (COORD_SERVER=zookeeper make check TESTS="$(CLUSTER_TESTS)").
# cluster_badpeer.py (garbage on the peer ports) is coordd's own.
CLUSTER_TESTS = %D%/cluster_basic.py %D%/cluster_faults.py \
	%D%/cluster_partition.py %D%/fs_failover.py %D%/cluster_badpeer.py
TESTS += $(CLUSTER_TESTS)
EXTRA_DIST += %D%/cluster.py %D%/linearizable.py $(CLUSTER_TESTS)
# coordctl, the command line client: every command, exit codes, watch, the
# lock recipe (with kazoo's Lock), status against live and dead servers.
TESTS += %D%/coordctl.py
EXTRA_DIST += %D%/coordctl.py
