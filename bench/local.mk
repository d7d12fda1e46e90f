# The benchmark: coordd against Apache ZooKeeper on this machine.  It is not
# a test; "make bench" runs it by hand (bench/README.md).
EXTRA_DIST += %D%/run.sh %D%/cluster.sh %D%/lib.sh %D%/README.md

if HAVE_ZKC
noinst_PROGRAMS += %D%/zkbench
%C%_zkbench_SOURCES = %D%/zkbench.c
# THREADED declares the synchronous calls of libzookeeper_mt.
%C%_zkbench_CPPFLAGS = $(AM_CPPFLAGS) -DTHREADED
%C%_zkbench_LDADD = -lzookeeper_mt -lpthread

bench: %D%/zkbench
	top_builddir='$(abs_top_builddir)' top_srcdir='$(abs_top_srcdir)' \
	$(SHELL) $(srcdir)/%D%/run.sh

# Three-server ensembles of both, and leader failover (bench/cluster.sh).
bench-cluster: %D%/zkbench
	top_builddir='$(abs_top_builddir)' top_srcdir='$(abs_top_srcdir)' \
	$(SHELL) $(srcdir)/%D%/cluster.sh
else
bench bench-cluster:
	@echo "$@: needs the ZooKeeper C client (libzookeeper-mt-dev)" >&2; exit 1
endif
.PHONY: bench bench-cluster

# coordfs against tmpfs: open+read+close, inotify latency, ls -l of 10,000
# entries.  Needs root and /dev/fuse: "make bench-fs".
noinst_PROGRAMS += %D%/fsread
%C%_fsread_SOURCES = %D%/fsread.c
# The floor: a FUSE filesystem that only answers, with coordfs's open flags.
noinst_PROGRAMS += %D%/fsnull
%C%_fsnull_SOURCES = %D%/fsnull.c
%C%_fsnull_CFLAGS = $(AM_CFLAGS) $(FUSE3_CFLAGS)
%C%_fsnull_LDADD = $(FUSE3_LIBS)
EXTRA_DIST += %D%/fs.sh
bench-fs: %D%/fsread %D%/fsnull replica/coordd fs/coordfs
	top_builddir='$(abs_top_builddir)' $(SHELL) $(srcdir)/%D%/fs.sh
.PHONY: bench-fs
# end
