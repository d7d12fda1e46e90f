#!/bin/bash
# debian_package.sh -- the Debian packages (debian/).  Builds them with
# "dpkg-buildpackage -us -uc -b" in a clean copy of the source tree, looks
# into the .debs (dpkg-deb, lintian) and then, only where that is allowed,
# installs them, checks that coordd serves as its systemd unit runs it, that
# "mount -t fuse.coordfs" works, removes and purges them and checks what is
# left.
#
# Installing changes the machine (packages, the coordd system user, port
# 2181), so it happens only as root with COORD_TEST_INSTALL=1, as .ci/run
# sets on its throwaway machine; it is skipped (TAP SKIP with the reason) if
# coordd or coordfs is installed already, /etc/coordd or /var/lib/coordd
# exists, or port 2181 is taken.  COORD_TEST_INSTALL=1 also makes missing
# tools (debhelper, lintian) failures instead of skips.
#
# The copy: the files git lists in the working tree (tracked, and untracked
# ones not ignored), so uncommitted changes are tested; COORD_DEB_REV=REV
# builds "git archive REV" instead.
#
# With systemd running, coordd is started through coordd.service (and the
# test checks its sandbox and Restart=); without, the unit's ExecStart= runs
# by hand as its User=.
#
# Time on 2 cores: 20-30 s to build (with the unit tests), 5 s of lintian,
# 10-15 s to install, serve, mount and purge: 25 s in all without the
# install part, 30-45 s with it.  A second full build is too much for every
# "make check", so it is not in TESTS: .ci/run runs it as a step of its own
# and "make check-deb" runs it by hand.
. "$(dirname "$0")/lib.sh"

strict=${COORD_TEST_INSTALL:-0}
need() { # need CMD... -- a missing tool skips the test, or fails it (strict)
    local c
    for c; do
        command -v "$c" >/dev/null && continue
        [ "$strict" = 1 ] && { echo "Bail out! $c not installed (bash .ci/deps installs it)"; exit 1; }
        skip_all "$c not installed (Debian: bash .ci/deps)"
    done
}
need git dpkg-buildpackage dpkg-deb dh
git -C "$top_srcdir" rev-parse --git-dir >/dev/null 2>&1 ||
    skip_all "$top_srcdir is not a git checkout"
[ -d "$top_srcdir/debian" ] || skip_all "no debian/ in $top_srcdir"

work=$(mktemp -d "${TMPDIR:-/tmp}/coord-deb.XXXXXX")
installed=0 own_user=0 hand_pid= mnt=
cleanup() {
    [ -n "$mnt" ] && mountpoint -q "$mnt" && umount -l "$mnt" 2>/dev/null
    if [ -n "$hand_pid" ] && kill -0 "$hand_pid" 2>/dev/null; then
        kill "$hand_pid"; wait "$hand_pid" 2>/dev/null
    fi
    if [ "$installed" = 1 ]; then
        [ -d /run/systemd/system ] && systemctl stop coordd 2>/dev/null
        dpkg -P coordctl coordfs coordd >/dev/null 2>&1
    fi
    if [ "$own_user" = 1 ]; then # the user this test's install made
        getent passwd coordd >/dev/null && deluser --system coordd >/dev/null 2>&1
        getent group coordd >/dev/null && delgroup --system coordd >/dev/null 2>&1
    fi
    rm -rf "$work"
    _coordtest_cleanup
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

# ---- a clean copy -----------------------------------------------------------
src=$work/coordfs
mkdir "$src"
set -o pipefail
if [ -n "${COORD_DEB_REV-}" ]; then
    git -C "$top_srcdir" archive "$COORD_DEB_REV" | tar -x -C "$src"
    copied=$?
else
    (cd "$top_srcdir" && git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar --null -T - -cf -) | tar -x -C "$src"
    copied=$?
fi
set +o pipefail
is "$copied" 0 "a clean copy of the source tree (${COORD_DEB_REV:-the working tree as git lists it})"
[ "$copied" = 0 ] || done_testing
ok "the copy has no build products" test ! -e "$src/configure" -a ! -e "$src/Makefile"

if ! unmet=$(cd "$src" && dpkg-checkbuilddeps 2>&1); then
    [ "$strict" = 1 ] && { fail "build dependencies" "$unmet"; done_testing; }
    skip_all "build dependencies missing: ${unmet##*:}"
fi

# ---- build ------------------------------------------------------------------
t0=$(date +%s)
(cd "$src" && DEB_BUILD_OPTIONS="parallel=$(nproc) ${DEB_BUILD_OPTIONS-}" \
    dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1
rc=$?
is "$rc" 0 "dpkg-buildpackage -us -uc -b ($(( $(date +%s) - t0 )) s)"
if [ "$rc" != 0 ]; then
    diag "$(tail -40 "$work/build.log")"
    done_testing
fi
logged() { # logged LOG CMD... -- CMD's output to LOG, shown if CMD fails
    local log=$1; shift
    "$@" >"$log" 2>&1 && return 0
    diag "$(tail -30 "$log")"
    return 1
}
deb() { ls "$work"/"$1"_*.deb 2>/dev/null | head -1; }
contents() { dpkg-deb -c "$1" | awk '{print $6}' | sed 's|^\./|/|'; }
has() { # has DEB PATH... -- the package contains every PATH
    local d=$1 p miss=; shift
    local list; list=$(contents "$d")
    for p; do grep -qx -- "$p" <<<"$list" || miss="$miss $p"; done
    [ -z "$miss" ] || { diag "missing in $(basename "$d"):$miss"; return 1; }
}

# ---- coordd -----------------------------------------------------------------
coordd_deb=$(deb coordd)
coordfs_deb=$(deb coordfs)
if [ -z "$coordd_deb" ] || [ -z "$coordfs_deb" ]; then
    fail "coordd and coordfs .debs built" "$(ls "$work")"
    done_testing
fi
pass "coordd and coordfs .debs built"
unit=/lib/systemd/system/coordd.service
ok "coordd: the daemon, its unit, its conffile and man page" has "$coordd_deb" \
    /usr/sbin/coordd "$unit" /etc/coordd/zoo.cfg /usr/share/man/man8/coordd.8.gz \
    /usr/share/doc/coordd/copyright
mkdir "$work/ctl"
dpkg-deb -e "$coordd_deb" "$work/ctl/coordd"
is "$(cat "$work/ctl/coordd/conffiles")" /etc/coordd/zoo.cfg "coordd: /etc/coordd/zoo.cfg is its conffile"
like "$(dpkg-deb -f "$coordd_deb" Depends)" '(^|, )adduser(,|$)' "coordd: depends on adduser (postinst makes the user)"
dpkg-deb --fsys-tarfile "$coordd_deb" | tar -xOf - ".$unit" >"$work/coordd.service"
like "$(grep -E '^(ExecStart|User|Restart)=' "$work/coordd.service")" \
    '^ExecStart=/usr/sbin/coordd -c /etc/coordd/zoo.cfg$' "coordd.service runs coordd -c /etc/coordd/zoo.cfg"
like "$(grep '^User=' "$work/coordd.service")" '^User=coordd$' "coordd.service runs as the user coordd"
like "$(grep '^Restart=' "$work/coordd.service")" '^Restart=on-failure$' "coordd.service: Restart=on-failure"

# ---- coordfs ----------------------------------------------------------------
ok "coordfs: the mount program, its man page, the systemd mount example" has "$coordfs_deb" \
    /usr/bin/coordfs /usr/share/man/man1/coordfs.1.gz /usr/share/doc/coordfs/examples/coord.mount
like "$(dpkg-deb -f "$coordfs_deb" Depends)" '(^|, )fuse3(,|$)' "coordfs: depends on fuse3 (mount.fuse3, fusermount3)"

# ---- coordctl: packaged when the tree builds it ---------------------------------
if [ -e "$src/debian/tmp/usr/bin/coordctl" ]; then
    coordctl_deb=$(deb coordctl)
    ok "coordctl .deb built" test -n "$coordctl_deb"
    ok "coordctl: the program in /usr/bin" has "$coordctl_deb" /usr/bin/coordctl
    if contents "$coordctl_deb" | grep -q '^/usr/share/man/man1/coordctl\.1\.gz$'; then
        pass "coordctl: its man page"
    else
        fail "coordctl: its man page" "make install installs no man1/coordctl.1"
    fi
else
    ok "no coordctl .deb when the tree does not build coordctl" test -z "$(deb coordctl)"
fi

# ---- lintian ----------------------------------------------------------------
if command -v lintian >/dev/null; then
    changes=$(ls "$work"/*.changes | head -1)
    tags=$(lintian -I --pedantic "$changes" 2>&1 | grep -v '^running with root privileges')
    [ -n "$tags" ] && diag "lintian:
$tags"
    unlike "$tags" '^[EW]: ' "lintian: no errors or warnings"
elif [ "$strict" = 1 ]; then
    fail "lintian" "lintian not installed (bash .ci/deps installs it)"
else
    skip "lintian" "lintian not installed"
fi

# ---- install, serve, purge -----------------------------------------------------
why=
if [ "$(id -u)" != 0 ]; then why="not root"
elif [ "$strict" != 1 ]; then why="set COORD_TEST_INSTALL=1 (as root, on a machine that may change) to install"
elif dpkg-query -W -f='${db:Status-Abbrev}\n' coordd coordfs coordctl 2>/dev/null | grep -q '^.[^n]'; then
    why="coordd, coordfs or coordctl is installed on this machine already"
elif [ -e /etc/coordd ] || [ -e /var/lib/coordd ]; then
    why="/etc/coordd or /var/lib/coordd exists (examples/run-local.sh data?); not touching it"
elif (exec 3<>/dev/tcp/127.0.0.1/2181) 2>/dev/null; then
    why="something listens on 127.0.0.1:2181 already"
fi
if [ -n "$why" ]; then
    skip "install, start, serve, mount, remove and purge the packages" "$why"
    done_testing
fi

getent passwd coordd >/dev/null || own_user=1
debs=("$coordd_deb" "$coordfs_deb")
[ -n "${coordctl_deb-}" ] && debs+=("$coordctl_deb")
installed=1
if logged "$work/install.log" dpkg -i "${debs[@]}"; then
    pass "dpkg -i ${debs[*]##*/}"
else
    fail "dpkg -i ${debs[*]##*/}"
    done_testing
fi
pw=$(getent passwd coordd)
like "$pw" '^coordd:x:[0-9]+:[0-9]+:[^:]*:/var/lib/coordd:/usr/sbin/nologin$' "postinst made the system user coordd ($pw)"
uid=$(cut -d: -f3 <<<"$pw")
ok "coordd is a system user (uid $uid < 1000)" test "${uid:-1000}" -lt 1000
is "$(stat -c '%U:%G %a' /var/lib/coordd 2>&1)" "coordd:coordd 750" "/var/lib/coordd belongs to coordd, mode 750"
like "$(dpkg-query -W -f='${Conffiles}' coordd)" '^ /etc/coordd/zoo.cfg [0-9a-f]{32}$' "dpkg lists /etc/coordd/zoo.cfg as a conffile"
ok "coordd.service enabled (multi-user.target.wants)" test -L /etc/systemd/system/multi-user.target.wants/coordd.service

# A snapshot every 10 to 20 transactions: the writes below make some, in the
# forked child the unit's sandbox must allow.
sed -i 's/^snapCount=.*/snapCount=20/' /etc/coordd/zoo.cfg
SERVER_PORT=2181
coordd_pid() { # the running coordd's pid, however it was started
    if [ -n "$hand_pid" ]; then echo "$hand_pid"; else systemctl show -P MainPID coordd; fi
}
# A container image's /usr/sbin/policy-rc.d (exit 101) keeps maintainer
# scripts from starting and stopping services.
policy_denies() {
    [ -x /usr/sbin/policy-rc.d ] || return 1
    /usr/sbin/policy-rc.d coordd.service start >/dev/null 2>&1
    [ $? = 101 ]
}
if [ -d /run/systemd/system ]; then
    mode=systemd
    if policy_denies; then
        skip "postinst started coordd.service" "/usr/sbin/policy-rc.d forbids it"
    else
        ok "postinst started coordd.service" wait_for 10 systemctl is-active -q coordd
    fi
    ok "systemctl restart coordd (snapCount=20)" systemctl restart coordd
else
    # No systemd: run the unit's ExecStart as its User=, in its
    # WorkingDirectory (/) -- what systemd would do, less the sandbox.
    mode=hand
    execstart=$(sed -n 's/^ExecStart=//p' "$unit")
    user=$(sed -n 's/^User=//p' "$unit")
    diag "systemd is not running: starting '$execstart' as $user by hand"
    # shellcheck disable=SC2086  # ExecStart= is words
    (cd / && umask 0027 && exec setpriv --reuid="$user" --regid="$user" --init-groups \
        --no-new-privs $execstart) >"$work/coordd.log" 2>&1 </dev/null &
    hand_pid=$!
fi
if wait_for 15 server_ready; then
    pass "coordd ($mode) accepts ZooKeeper sessions on 127.0.0.1:2181"
else
    fail "coordd ($mode) accepts ZooKeeper sessions on 127.0.0.1:2181"
    if [ "$mode" = hand ]; then diag "$(tail -20 "$work/coordd.log")"
    else diag "$(systemctl status coordd --no-pager 2>&1 | tail -20)"; fi
fi
pid=$(coordd_pid)
is "$(ps -o user= -p "$pid" 2>&1 | tr -d ' ')" coordd "coordd (pid $pid) runs as coordd"
if [ "$mode" = systemd ]; then
    like "$(grep -E '^(NoNewPrivs|Seccomp|CapEff):' "/proc/$pid/status" | tr '\t\n' '  ')" \
        'CapEff: 0+ +NoNewPrivs: 1 +Seccomp: 2 ' "the unit's sandbox holds coordd (no_new_privs, seccomp filter)"
else
    skip "the unit's sandbox holds coordd" "systemd is not running"
fi
srvr=$(echo srvr | nc -w 5 127.0.0.1 2181)
like "$srvr" '^Mode: standalone$' "echo srvr | nc 127.0.0.1 2181: Mode: standalone"
like "$srvr" '^Zookeeper version: ' "srvr names a version"
is "$(echo ruok | nc -w 5 127.0.0.1 2181)" imok "ruok: imok (the conffile's 4lw whitelist)"
if [ -n "${coordctl_deb-}" ]; then
    ok "coordctl status (default server 127.0.0.1:2181)" logged "$work/ctl.log" coordctl status
    ok "coordctl create /pkgtest-ctl" logged "$work/ctl.log" coordctl create /pkgtest-ctl hello
    is "$(coordctl get /pkgtest-ctl 2>&1)" hello "coordctl get /pkgtest-ctl"
fi

if "$COORDTEST_PY" -c 'import kazoo' 2>/dev/null; then
    out=$("$COORDTEST_PY" - <<'EOF' 2>&1
from kazoo.client import KazooClient
zk = KazooClient(hosts="127.0.0.1:2181", timeout=10)
zk.start(timeout=10)
zk.ensure_path("/pkgtest")
for i in range(100):
    zk.create("/pkgtest/n%d" % i, b"x" * 100)
print(len(zk.get_children("/pkgtest")))
zk.stop()
EOF
)
    is "$out" 100 "kazoo: 100 znodes created"
    snaps() { ls /var/lib/coordd/version-2/snapshot.* 2>/dev/null; }
    if wait_for 10 test -n "$(snaps)"; then
        pass "a snapshot was written by the forked child ($(snaps | wc -l) in /var/lib/coordd/version-2)"
    else
        fail "a snapshot was written by the forked child" "$(ls -l /var/lib/coordd/version-2 2>&1)"
    fi
    is "$(stat -c %U $(snaps | head -1) 2>&1)" coordd "the snapshot belongs to coordd"
else
    skip "kazoo: 100 znodes created" "python3-kazoo not installed"
    skip "a snapshot was written by the forked child" "python3-kazoo not installed"
    skip "the snapshot belongs to coordd" "python3-kazoo not installed"
fi

# coordfs through mount(8): mount.fuse3 runs "coordfs SERVERS MOUNTPOINT -o ..."
if [ -c /dev/fuse ] && command -v mount.fuse3 >/dev/null; then
    mnt=$work/mnt
    mkdir "$mnt"
    if mount -t fuse.coordfs 127.0.0.1:2181 "$mnt" 2>"$work/mount.err"; then
        pass "mount -t fuse.coordfs 127.0.0.1:2181 $mnt"
        like "$(grep " $mnt " /proc/mounts)" "^coordfs $mnt fuse\.coordfs " "/proc/mounts: coordfs, type fuse.coordfs"
        echo hello >"$mnt/pkgtest/greeting"
        is "$(cat "$mnt/pkgtest/greeting" 2>&1)" hello "write and read back a file through the mount"
        ok "umount" umount "$mnt"
    else
        fail "mount -t fuse.coordfs 127.0.0.1:2181 $mnt" "$(cat "$work/mount.err")"
    fi
else
    skip "mount -t fuse.coordfs" "no /dev/fuse or mount.fuse3"
fi

if [ "$mode" = systemd ]; then
    old=$pid
    # never "kill -9 0" or "-9 ''": that would be this process group
    [[ $old =~ ^[0-9]+$ ]] && [ "$old" -gt 1 ] && kill -9 "$old"
    newpid() { p=$(systemctl show -P MainPID coordd); [ -n "$p" ] && [ "$p" != 0 ] && [ "$p" != "$old" ]; }
    ok "Restart=on-failure: a new coordd after kill -9" wait_for 15 newpid
    ok "and it serves again" wait_for 15 server_ready
else
    skip "Restart=on-failure" "systemd is not running"
    kill "$hand_pid"
    wait "$hand_pid"
    is "$?" 0 "coordd stops cleanly on SIGTERM"
    hand_pid=
fi

# ---- remove, purge --------------------------------------------------------------
pkgs=(coordd coordfs)
[ -n "${coordctl_deb-}" ] && pkgs+=(coordctl)
if [ "$mode" = systemd ] && policy_denies; then
    ok "systemctl stop coordd (policy-rc.d keeps prerm from it)" systemctl stop coordd
fi
ok "dpkg -r ${pkgs[*]}" logged "$work/remove.log" dpkg -r "${pkgs[@]}"
closed() { ! (exec 3<>/dev/tcp/127.0.0.1/2181) 2>/dev/null; }
ok "no coordd serves after remove" wait_for 10 closed
ok "programs and unit gone" test ! -e /usr/sbin/coordd -a ! -e /usr/bin/coordfs -a ! -e /usr/bin/coordctl -a ! -e "$unit"
ok "remove keeps the conffile and the data" test -f /etc/coordd/zoo.cfg -a -d /var/lib/coordd/version-2
ok "dpkg -P ${pkgs[*]}" logged "$work/purge.log" dpkg -P "${pkgs[@]}"
installed=0
ok "purge removes /etc/coordd and /var/lib/coordd" test ! -e /etc/coordd -a ! -e /var/lib/coordd
ok "purge removes the enablement symlink" test ! -e /etc/systemd/system/multi-user.target.wants/coordd.service
unlike "$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${pkgs[@]}" 2>/dev/null)" '^.[^n]' "dpkg knows nothing of them any more"
user_exists() { getent passwd coordd >/dev/null; }
ok "the coordd user stays after purge (Debian practice)" user_exists
done_testing
