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
