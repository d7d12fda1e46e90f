bin_PROGRAMS += %D%/coordfs
%C%_coordfs_SOURCES = \
	%D%/coordfs.h \
	%D%/main.c \
	%D%/inode.c \
	%D%/fetch.c \
	%D%/notify.c \
	%D%/ops_entry.c \
	%D%/ops_dir.c \
	%D%/ops_file.c \
	%D%/ops_xattr.c \
	%D%/locks.c \
	# end
%C%_coordfs_CFLAGS = $(AM_CFLAGS) $(FUSE3_CFLAGS) $(LIBUV_CFLAGS) -pthread
%C%_coordfs_LDADD = lib/libcoord.a $(FUSE3_LIBS) $(LIBUV_LIBS) -lpthread
dist_man_MANS += man/coordfs.1
