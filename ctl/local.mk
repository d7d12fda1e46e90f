bin_PROGRAMS += %D%/coordctl
%C%_coordctl_SOURCES = \
	%D%/coordctl.h \
	%D%/main.c \
	%D%/session.c \
	%D%/cmd_node.c \
	%D%/cmd_watch.c \
	%D%/cmd_lock.c \
	%D%/cmd_status.c \
	# end
%C%_coordctl_CFLAGS = $(AM_CFLAGS) $(LIBUV_CFLAGS)
%C%_coordctl_LDADD = lib/libcoord.a $(LIBUV_LIBS)
dist_man_MANS += man/coordctl.1
