EXTRA_DIST += %D%/tap.h
# end
storage_tests = %D%/test_txnlog %D%/test_snapfile
check_PROGRAMS += $(storage_tests)
TESTS += $(storage_tests)
%C%_test_txnlog_SOURCES = %D%/test_txnlog.c
%C%_test_txnlog_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS)
%C%_test_txnlog_LDADD = replica/libstorage.a lib/libcoord.a $(LIBUV_LIBS)
%C%_test_snapfile_SOURCES = %D%/test_snapfile.c
%C%_test_snapfile_LDADD = replica/libstorage.a lib/libcoord.a
if HAVE_ZKC
# ZooKeeper C client conformance; run by tests/integration/zkc_conformance.sh
check_PROGRAMS += %D%/zkc_conformance
%C%_zkc_conformance_SOURCES = %D%/zkc_conformance.c
%C%_zkc_conformance_LDADD = -lzookeeper_mt -lpthread
endif

# libFuzzer target for the request decoder: every coordd source compiled with
# clang's coverage instrumentation.  Built by `make check` when clang exists.
fuzz_srcs = lib/log.c lib/xalloc.c lib/buf.c lib/jute.c lib/zkerr.c lib/crc32c.c \
	lib/stream.c lib/zkpath.c replica/acl.c replica/conn.c replica/datatree.c replica/fourlw.c \
	replica/prep.c replica/server.c replica/session.c replica/storage.c replica/txn.c \
	replica/watch.c replica/zoocfg.c replica/txnlog.c replica/snapfile.c replica/faultinject.c \
	replica/cluster.c replica/election.c replica/history.c replica/peerlink.c \
	replica/zab_leader.c replica/zab_follower.c \
	tests/fuzz_request.c
EXTRA_DIST += tests/fuzz_request.c tests/integration/fuzz.sh tests/integration/fuzz_seeds.py
if HAVE_FUZZ
tests/fuzz_request$(EXEEXT): $(fuzz_srcs:%=$(top_srcdir)/%)
	$(AM_V_CCLD)$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=undefined -DFUZZING -I$(top_builddir) -I$(top_srcdir)/include \
	  -I$(top_srcdir)/lib -I$(top_srcdir)/replica $(LIBUV_CFLAGS) $(OPENSSL_CFLAGS) \
	  -o $@ $(fuzz_srcs:%=$(top_srcdir)/%) $(LIBUV_LIBS) $(OPENSSL_LIBS)
check_SCRIPTS = tests/fuzz_request$(EXEEXT)
CLEANFILES += tests/fuzz_request$(EXEEXT)
endif
TESTS += tests/integration/fuzz.sh

replica_tests = %D%/test_datatree %D%/test_history
check_PROGRAMS += $(replica_tests)
TESTS += $(replica_tests)
%C%_test_datatree_SOURCES = %D%/test_datatree.c
%C%_test_datatree_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS) -I$(top_srcdir)/replica
%C%_test_datatree_LDADD = replica/libreplica.a replica/libstorage.a lib/libcoord.a $(LIBUV_LIBS) $(OPENSSL_LIBS)
%C%_test_history_SOURCES = %D%/test_history.c
%C%_test_history_CFLAGS = $(AM_CFLAGS) -I$(top_srcdir)/replica
%C%_test_history_LDADD = replica/libreplica.a lib/libcoord.a

# The async ZooKeeper client against real coordd processes (SKIPs without coordd).
check_PROGRAMS += %D%/test_zkclient
TESTS += %D%/test_zkclient
%C%_test_zkclient_SOURCES = %D%/test_zkclient.c
%C%_test_zkclient_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS)
%C%_test_zkclient_LDADD = lib/libcoord.a $(LIBUV_LIBS)
