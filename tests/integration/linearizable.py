#!/usr/bin/python3
"""linearizable -- is a history of a versioned compare-and-set register
linearizable?  (Wing & Gong's search with Lowe's memoisation, as in
Porcupine; see /work/shared/notes/faults.md.)

The register is one znode: its state is (value, version).  Operations:

  read:  sync() + getData        ok -> observed (value, version)
  cas:   setData(value, version=expected)
         ok   -> the version was `expected`, now (value, expected + 1)
         fail -> BadVersion: the version was not `expected` at that point
         info -> outcome unknown (timeout, connection loss): it may have
                 taken effect at any time after its invocation, or never

Every written value is unique, which gives two reductions:
  * an `info` write whose value some read returned is known to have
    happened (it must be linearised, and before that read);
  * `info` writes never observed with the same expected version are
    interchangeable: only the earliest-invoked one not yet linearised is
    ever tried, and the value they write is one token ("unobserved");
    they are only tried where they apply (elsewhere they would change
    nothing, the same as never happening), and need not be ordered at all.
Reads and `fail` writes are kept (a failed CAS says something about the
version at some point in its interval); `info` reads say nothing and are
dropped.

check(ops, init) -> (ok, message).  ops: objects with kind ('read'|'cas'),
outcome ('ok'|'fail'|'info'), value, version (read: observed; cas:
expected), t_inv, t_ret (None for info), proc.  Also quick checks that
need no search: versions read by one process never go backwards, and no
two acknowledged writes produced the same version.

`python3 linearizable.py` runs the self-test (selftest()).
"""

import sys

UNOBSERVED = object()


class H:
    """A history operation (for tests and for callers without their own)."""

    def __init__(self, proc, kind, outcome, value, version, t_inv, t_ret):
        self.proc, self.kind, self.outcome = proc, kind, outcome
        self.value, self.version = value, version
        self.t_inv, self.t_ret = t_inv, t_ret

    def __repr__(self):
        return "%s(%s p%s %r v%s [%.3f, %s])" % (
            self.kind, self.outcome, self.proc, self.value, self.version,
            self.t_inv, "%.3f" % self.t_ret if self.t_ret is not None
            else "inf")


def quick_checks(ops):
    problems = []
    last = {}
    for o in sorted((o for o in ops if o.kind == "read" and
                     o.outcome == "ok"), key=lambda o: o.t_inv):
        if o.proc in last and o.version < last[o.proc].version:
            problems.append("process %s read version %d after %d (%r after "
                            "%r)" % (o.proc, o.version, last[o.proc].version,
                                     o, last[o.proc]))
        last[o.proc] = o
    made = {}
    for o in ops:
        if o.kind == "cas" and o.outcome == "ok":
            v = o.version + 1
            if v in made:
                problems.append("two acknowledged writes made version %d: "
                                "%r and %r" % (v, made[v], o))
            made[v] = o
    return problems


def check(ops, init=(b"", 0), max_steps=5000000):
    problems = quick_checks(ops)
    if problems:
        return False, "; ".join(problems[:5])
    observed = set(o.value for o in ops if o.kind == "read" and
                   o.outcome == "ok")
    # -- the operations the search sees --
    # kind codes: R read, C cas ok (must apply), F cas failed,
    # M cas info observed (must apply), U cas info unobserved (maybe)
    INF = float("inf")
    items = []
    for o in ops:
        if o.kind == "read":
            if o.outcome != "ok":
                continue
            items.append(["R", o.value, o.version, o.t_inv, o.t_ret, o])
        elif o.outcome == "ok":
            items.append(["C", o.value, o.version, o.t_inv, o.t_ret, o])
        elif o.outcome == "fail":
            items.append(["F", o.value, o.version, o.t_inv, o.t_ret, o])
        elif o.value in observed:
            items.append(["M", o.value, o.version, o.t_inv, INF, o])
        else:
            items.append(["U", UNOBSERVED, o.version, o.t_inv, INF, o])
    n = len(items)
    if n == 0:
        return True, "empty history"
    items.sort(key=lambda it: it[3])
    # groups of interchangeable unobserved writes, in invocation order
    groups = {}
    for k, it in enumerate(items):
        if it[0] == "U":
            groups.setdefault(it[2], []).append(k)
    # -- the event list: calls and returns by time (calls first on ties) --
    ev = []
    for k, it in enumerate(items):
        ev.append((it[3], 0, k))
        ev.append((it[4], 1, k))
    ev.sort()
    m = len(ev)
    # doubly linked list over event slots 1..m, 0 is the head sentinel
    nxt = list(range(1, m + 2))
    prv = list(range(-1, m + 1))
    nxt[m] = -1
    is_call = [False] * (m + 1)
    op_of = [0] * (m + 1)
    ret_slot = [0] * n
    call_slot = [0] * n
    for s, (_, r, k) in enumerate(ev, 1):
        is_call[s] = r == 0
        op_of[s] = k
        if r == 0:
            call_slot[k] = s
        else:
            ret_slot[k] = s

    def lift(s):
        k = op_of[s]
        r = ret_slot[k]
        nxt[prv[s]] = nxt[s]
        if nxt[s] != -1:
            prv[nxt[s]] = prv[s]
        nxt[prv[r]] = nxt[r]
        if nxt[r] != -1:
            prv[nxt[r]] = prv[r]

    def unlift(s):
        k = op_of[s]
        r = ret_slot[k]
        nxt[prv[r]] = r
        if nxt[r] != -1:
            prv[nxt[r]] = r
        nxt[prv[s]] = s
        if nxt[s] != -1:
            prv[nxt[s]] = s

    def step(state, it):
        kind, value, version = it[0], it[1], it[2]
        if kind == "R":
            return state if state == (value, version) else None
        if kind == "F":
            return state if state[1] != version else None
        if kind in ("C", "M"):
            return (value, version + 1) if state[1] == version else None
        # U: only worth trying where it applies: where the version does
        # not match it would be a no-op, the same as never happening
        return (UNOBSERVED, version + 1) if state[1] == version else None

    # success = every operation but the unobserved unknown writes ordered
    required = sum(1 for it in items if it[0] != "U")
    state = (init[0], init[1])
    lin = 0
    cache = set()
    calls = []
    s = nxt[0]
    steps = 0
    best = (0, None, None)
    while required:
        steps += 1
        if steps > max_steps:
            return False, "gave up after %d search steps (%d ops)" % (
                max_steps, n)
        if is_call[s]:
            k = op_of[s]
            it = items[k]
            if it[0] == "U":
                g = groups[it[2]]
                first = next(j for j in g if not lin >> j & 1)
                if first != k:
                    s = nxt[s]
                    continue
            new = step(state, it)
            if new is not None:
                nlin = lin | (1 << k)
                key = (nlin, new)
                if key not in cache:
                    cache.add(key)
                    calls.append((s, state))
                    state = new
                    lin = nlin
                    required -= it[0] != "U"
                    lift(s)
                    if len(calls) > best[0]:
                        best = (len(calls), state, lin)
                    s = nxt[0]
                    continue
            s = nxt[s]
        else:
            if not calls:
                return False, _explain(items, best, ev, init)
            s, state = calls.pop()
            lin &= ~(1 << op_of[s])
            required += items[op_of[s]][0] != "U"
            unlift(s)
            s = nxt[s]
    return True, "%d operations linearizable (%d search steps)" % (n, steps)


def _explain(items, best, ev, init):
    depth, state, lin = best
    msg = ["not linearizable: at most %d of %d operations could be ordered"
           % (depth, len(items))]
    if state is not None:
        msg.append("register then %r" % (("<unobserved>", state[1])
                                         if state[0] is UNOBSERVED
                                         else state,))
    # the operations that did not fit after the longest ordered prefix
    left = [it for k, it in enumerate(items)
            if not (lin or 0) >> k & 1 and it[0] != "U"]
    left.sort(key=lambda it: it[4])
    msg.append("first operations left over, by return time: " +
               ", ".join(repr(it[5]) for it in left[:4]))
    return "; ".join(msg)


# --------------------------------------------------------------------------
# self-test
# --------------------------------------------------------------------------

def selftest(report=None):
    """Known histories, linearizable and not; report(good, name, msg) is
    called for each (default: print TAP-like lines).  Returns the number
    of wrong verdicts."""
    fails = 0
    if report is None:
        def report(good, name, msg):
            print("%s - %s (%s)" % ("ok" if good else "not ok", name, msg))

    def expect(name, ops, want, init=(b"i", 0)):
        nonlocal fails
        ok, msg = check(ops, init)
        good = ok == want
        fails += not good
        report(good, name, msg)

    expect("sequential write then read",
           [H(1, "cas", "ok", b"a", 0, 0, 1), H(2, "read", "ok", b"a", 1, 2, 3)],
           True)
    expect("stale read after an acknowledged write",
           [H(1, "cas", "ok", b"a", 0, 0, 1), H(2, "read", "ok", b"i", 0, 2, 3)],
           False)
    expect("concurrent read may see either",
           [H(1, "cas", "ok", b"a", 0, 0, 3), H(2, "read", "ok", b"i", 0, 1, 2),
            H(3, "read", "ok", b"a", 1, 1, 2)], True)
    expect("a later read cannot see the older value again",
           [H(1, "cas", "ok", b"a", 0, 0, 10), H(2, "read", "ok", b"a", 1, 1, 2),
            H(3, "read", "ok", b"i", 0, 3, 4)], False)
    expect("unknown write that was read happened",
           [H(1, "cas", "info", b"a", 0, 0, None),
            H(2, "read", "ok", b"a", 1, 5, 6)], True)
    expect("unknown write may not have happened",
           [H(1, "cas", "info", b"a", 0, 0, None),
            H(2, "read", "ok", b"i", 0, 5, 6), H(2, "cas", "ok", b"b", 0, 7, 8),
            H(2, "read", "ok", b"b", 1, 9, 10)], True)
    expect("a read cannot see a write invoked after it returned",
           [H(1, "read", "ok", b"a", 1, 0, 1),
            H(2, "cas", "info", b"a", 0, 2, None)], False)
    expect("failed CAS needs another version",
           [H(1, "cas", "fail", b"a", 0, 0, 1)], False)
    expect("failed CAS after a concurrent write",
           [H(1, "cas", "ok", b"b", 0, 0, 2), H(2, "cas", "fail", b"a", 0, 1, 3)],
           True)
    expect("two writes from one version",
           [H(1, "cas", "ok", b"a", 0, 0, 1), H(2, "cas", "ok", b"b", 0, 2, 3)],
           False)
    expect("unobserved unknown writes explain a version jump",
           [H(1, "cas", "info", b"x%d" % k, 0, k, None) for k in range(30)] +
           [H(2, "cas", "ok", b"b", 1, 40, 41), H(3, "read", "ok", b"b", 2, 42, 43)],
           True)
    # a longer random but correct history: 8 processes on a simulated
    # register, with random overlaps
    import random
    rnd = random.Random(1)
    reg = [b"i", 0]
    ops = []
    now = 0.0
    for k in range(2000):
        now += rnd.random()
        p = rnd.randrange(8)
        t0 = now - rnd.random() * 2
        t1 = now + rnd.random() * 2
        if rnd.random() < 0.5:
            ops.append(H(p, "read", "ok", reg[0], reg[1], t0, t1))
        else:
            exp = reg[1] if rnd.random() < 0.7 else reg[1] - 1
            val = b"w%d" % k
            out = rnd.choice(["ok", "ok", "ok", "info"])
            if exp == reg[1]:
                reg[:] = [val, reg[1] + 1]
                ops.append(H(p, "cas", out, val, exp, t0,
                             None if out == "info" else t1))
            else:
                ops.append(H(p, "cas", "fail" if out == "ok" else "info",
                             val, exp, t0, None if out == "info" else t1))
    # process order needs real per-process sequences: give each op its own
    for k, o in enumerate(ops):
        o.proc = k
    expect("2000 random overlapping operations", ops, True)
    # make one read in the middle stale by 3 versions
    reads = [o for o in ops[1000:] if o.kind == "read" and o.version > 3]
    r = reads[0]
    older = [o for o in ops if o.kind == "cas" and o.outcome != "fail" and
             o.version == r.version - 4]
    r.value, r.version = older[0].value, older[0].version + 1
    expect("the same with one stale read", ops, False)
    return fails


if __name__ == "__main__":
    sys.exit(1 if selftest() else 0)
