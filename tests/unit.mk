EXTRA_DIST += %D%/tap.h
# end
