# end
# Durable storage (transaction log, snapshots), linked into coordd and tests.
noinst_LIBRARIES += %D%/libstorage.a
%C%_libstorage_a_SOURCES = \
	%D%/txnlog.c %D%/txnlog.h \
	%D%/snapfile.c %D%/snapfile.h \
	# end
%C%_libstorage_a_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS)

# The replica: everything but main.c, so unit tests can link it (lldpd idiom).
noinst_LIBRARIES += %D%/libreplica.a
%C%_libreplica_a_SOURCES = \
	%D%/acl.c %D%/acl.h \
	%D%/cluster.c %D%/cluster.h \
	%D%/conn.c \
	%D%/election.c \
	%D%/datatree.c %D%/datatree.h \
	%D%/faultinject.c %D%/faultinject.h \
	%D%/fourlw.c \
	%D%/history.c %D%/history.h \
	%D%/peerlink.c %D%/peerlink.h \
	%D%/prep.c %D%/prep.h \
	%D%/server.c %D%/server.h \
	%D%/session.c %D%/session.h \
	%D%/storage.c \
	%D%/txn.c %D%/txn.h \
	%D%/watch.c %D%/watch.h \
	%D%/zab_follower.c %D%/zab_leader.c \
	%D%/zoocfg.c %D%/zoocfg.h \
	# end
%C%_libreplica_a_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS) $(OPENSSL_CFLAGS)

sbin_PROGRAMS += %D%/coordd
%C%_coordd_SOURCES = %D%/main.c
%C%_coordd_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS)
%C%_coordd_LDADD = %D%/libreplica.a %D%/libstorage.a lib/libcoord.a $(LIBUV_LIBS) $(OPENSSL_LIBS)
dist_man_MANS += man/coordd.8
