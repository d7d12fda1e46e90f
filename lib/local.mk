noinst_LIBRARIES += %D%/libcoord.a
%C%_libcoord_a_SOURCES = \
	%D%/log.c %D%/log.h \
	%D%/xalloc.c %D%/xalloc.h \
	# end
