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
