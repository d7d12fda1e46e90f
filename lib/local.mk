noinst_LIBRARIES += %D%/libcoord.a
%C%_libcoord_a_SOURCES = \
	%D%/log.c %D%/log.h \
	%D%/xalloc.c %D%/xalloc.h \
	%D%/buf.c %D%/buf.h \
	%D%/jute.c %D%/jute.h \
	%D%/zkerr.c \
	include/coord/zk.h \
	%D%/crc32c.c %D%/crc32c.h \
	%D%/stream.c %D%/stream.h \
	%D%/zkpath.c %D%/zkpath.h \
	%D%/zkclient.c %D%/zkclient.h \
	%D%/zkclient_proto.c %D%/zkclient_proto.h \
	# end
%C%_libcoord_a_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS)
