"""Issue 30's attack classes, written against the sandbox as it is documented (docs/sandbox.md).

Same format as corpus.py (kind, status, code, test/call_io/stdin/expected, actual_excludes).
A probe prints ESCAPED when its attack got through and "contained" otherwise; the test
expects ESCAPED, so the required verdict (wrong_answer) means the attack was rejected, and
`actual_excludes` double-checks. `class` names the
issue's class (or ours). Programs that leave something behind for a later job, and the ones
that look for it, are in LEAVE/FIND: the test runs them in that order on one worker.
"""

from __future__ import annotations

ADD = "def add(a, b):\n    return a + b\n"
WRONG_ADD = "def add(a, b):\n    return a - b\n"
ESC = "ESCAPED"

# System call numbers on the two architectures we run on.
_NR = '''
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
_X86 = dict(unshare=272, io_uring_setup=425, userfaultfd=323, keyctl=250, add_key=248,
            request_key=249, bpf=321, perf_event_open=298, ptrace=101, pidfd_open=434,
            pidfd_getfd=438, clone=56, clone3=435, process_vm_readv=310, setns=308, mount=165,
            prlimit64=302, fsopen=430, open_tree=428)
_ARM = dict(unshare=97, io_uring_setup=425, userfaultfd=282, keyctl=219, add_key=217,
            request_key=218, bpf=280, perf_event_open=241, ptrace=117, pidfd_open=434,
            pidfd_getfd=438, clone=220, clone3=435, process_vm_readv=270, setns=268, mount=40,
            prlimit64=261, fsopen=430, open_tree=428)
NR = _X86 if os.uname().machine == "x86_64" else _ARM
def sc(name, *args):
    r = libc.syscall(NR[name], *args)
    return r, ctypes.get_errno()
'''


def _blocked(name: str, body: str, cls: str) -> dict:
    """A stdio program that prints ESCAPED if `body` (which sets ok=True on success) worked."""
    return dict(name=name, kind="stdio", status="wrong_answer", expected=ESC, cls=cls,
                actual_excludes=[ESC],
                code=_NR + "ok = False\n" + body + "\nprint('" + ESC + "' if ok else 'contained')\n")


CASES: list[dict] = [
    # ---- class 3: no syscall filter (nested user namespaces, mounts, io_uring, ...)
    _blocked("userns_then_mount", """
r, e = sc("unshare", 0x10000000 | 0x00020000)
if r == 0:
    ok = True
    try:
        open("/proc/self/setgroups", "w").write("deny")
        open("/proc/self/uid_map", "w").write(f"0 {os.getuid()} 1")
        libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)
    except OSError:
        pass
""", "syscall_filter"),
    _blocked("userns_via_clone", """
import signal
r, e = sc("clone", 0x10000000 | signal.SIGCHLD, 0, 0, 0, 0)
if r == 0:
    os._exit(0)
if r > 0:
    os.waitpid(r, 0)
    ok = True
""", "syscall_filter"),
    _blocked("userns_via_clone3", """
import signal, struct
args = ctypes.create_string_buffer(struct.pack("QQQQQQQQ", 0x10000000, 0, 0, 0, signal.SIGCHLD, 0, 0, 0), 64)
r, e = sc("clone3", args, 64)
if r == 0:
    os._exit(0)
if r > 0:
    os.waitpid(r, 0)
    ok = True
""", "syscall_filter"),
    _blocked("userns_in_a_forked_child", """
pid = os.fork()
if pid == 0:
    r, e = sc("unshare", 0x10000000)
    os._exit(0 if r == 0 else 1)
ok = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
""", "syscall_filter"),
    _blocked("mount_namespace_only", """
r, e = sc("unshare", 0x00020000)
ok = r == 0
r, e = sc("fsopen", b"tmpfs", 0)
ok = ok or r >= 0
r, e = sc("open_tree", -100, b"/", 1)
ok = ok or r >= 0
""", "syscall_filter"),
    _blocked("io_uring", """
params = ctypes.create_string_buffer(120)
r, e = sc("io_uring_setup", 8, params)
ok = r >= 0
""", "syscall_filter"),
    _blocked("userfaultfd", """
r, e = sc("userfaultfd", os.O_CLOEXEC)
ok = r >= 0
r, e = sc("userfaultfd", os.O_CLOEXEC | 1)  # UFFD_USER_MODE_ONLY
ok = ok or r >= 0
""", "syscall_filter"),
    _blocked("keyring_add_and_read", """
r, e = sc("add_key", b"user", b"sd30", b"secret", 6, ctypes.c_int(-4))  # @u
ok = r >= 0
r, e = sc("keyctl", 0, ctypes.c_int(-3), 0)  # KEYCTL_GET_KEYRING_ID @s
ok = ok or r >= 0
r, e = sc("request_key", b"user", b"sd30", None, 0)
ok = ok or r >= 0
""", "keyring"),
    _blocked("bpf_and_perf", """
attr = ctypes.create_string_buffer(128)
r, e = sc("bpf", 0, attr, 128)
ok = r >= 0
r, e = sc("perf_event_open", attr, 0, -1, -1, 0)
ok = ok or r >= 0
""", "syscall_filter"),
    _blocked("ptrace_the_template", """
r, e = sc("ptrace", 16, 1, 0, 0)  # PTRACE_ATTACH pid 1
ok = r == 0
r, e = sc("ptrace", 0, 0, 0, 0)  # PTRACE_TRACEME
ok = ok or r == 0
""", "syscall_filter"),
    _blocked("pidfd_of_the_template", """
r, e = sc("pidfd_open", 1, 0)
ok = r >= 0
if r >= 0:
    r2, e2 = sc("pidfd_getfd", r, 3, 0)
    ok = True
""", "syscall_filter"),
    _blocked("process_vm_readv_template", """
buf = ctypes.create_string_buffer(64)
iov = (ctypes.c_void_p * 2)(ctypes.addressof(buf), 64)
riov = (ctypes.c_void_p * 2)(0x400000, 64)
r, e = sc("process_vm_readv", 1, iov, 1, riov, 1, 0)
ok = r > 0
""", "syscall_filter"),
    _blocked("vsock_netlink_packet_sockets", """
import socket
for fam, typ in ((40, socket.SOCK_STREAM), (16, socket.SOCK_RAW), (16, socket.SOCK_DGRAM),
                 (17, socket.SOCK_RAW), (38, socket.SOCK_SEQPACKET)):
    try:
        socket.socket(fam, typ).close()
        ok = True
    except OSError:
        pass
try:
    socket.socketpair(16, socket.SOCK_RAW)
    ok = True
except OSError:
    pass
""", "syscall_filter"),
    _blocked("setns_into_another", """
fd = os.open("/proc/self/ns/net", os.O_RDONLY)
r, e = sc("setns", fd, 0)
ok = r == 0
""", "syscall_filter"),
    # The x32 entry point of the same calls (libseccomp kills the process: bad architecture).
    dict(name="x32_syscall_bypass", kind="stdio", status=("runtime_error", "wrong_answer"),
         expected=ESC, cls="syscall_filter", actual_excludes=[ESC],
         code=_NR + "r = libc.syscall(0x40000000 | NR['unshare'], 0x10000000)\n"
                    "print('" + ESC + "' if r == 0 else 'contained')\n"),
    # ---- the template is pid 1 (unprivileged: the supervisor's uid): no signal, no prlimit
    dict(name="signal_the_template", kind="stdio", status="wrong_answer", expected="5", cls="pid1",
         code="""
import os, signal
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
            signal.SIGSTOP, signal.SIGKILL, signal.SIGPIPE, signal.SIGALRM):
    try:
        os.kill(1, sig)
    except OSError:
        pass
print(4)
"""),
    dict(name="signal_every_process", kind="stdio", status="wrong_answer", expected="5", cls="pid1",
         code="""
import os, signal
signal.signal(signal.SIGTERM, signal.SIG_IGN)
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR2):
    try:
        os.kill(-1, sig)
    except OSError:
        pass
print(4)
"""),
    _blocked("lower_the_templates_rlimits", """
import resource
for res, val in ((resource.RLIMIT_NOFILE, 3), (resource.RLIMIT_NPROC, 1), (resource.RLIMIT_AS, 1 << 20),
                 (resource.RLIMIT_CPU, 0), (resource.RLIMIT_FSIZE, 0), (resource.RLIMIT_STACK, 1 << 16)):
    try:
        resource.prlimit(1, res, (val, val))
        ok = True
    except (OSError, ValueError):
        pass
""", "pid1"),
    # What a job would leave on the template (and so on every later job) if it could: a
    # nice value, a CPU affinity, an idle scheduling class, an I/O priority. Refused by the
    # kernel: another uid (as root and with a subordinate uid), else a more privileged process.
    # Calls outside the allow-list that no rule names: refused all the same (ENOSYS), like
    # any call a newer kernel adds (legacy AIO, Landlock, NUMA page moves, secret memory).
    _blocked("calls_outside_the_allow_list", """
import ctypes
x86 = os.uname().machine == "x86_64"
ctx = ctypes.c_ulong(0)
for nr, args in (((206 if x86 else 0), (8, ctypes.byref(ctx))), (444, (None, 0, 1)),
                 ((279 if x86 else 239), (0, 0, None, None, None, 0)), (447, (0,))):
    r = libc.syscall(nr, *args)
    e = ctypes.get_errno()
    ok = ok or (r >= 0 and nr != 444) or (nr == 444 and r > 0) or e not in (errno.ENOSYS,)
""", "syscall_filter"),
    _blocked("renice_the_template", """
for who in ((os.PRIO_PROCESS, 1), (os.PRIO_PGRP, 0), (os.PRIO_USER, 0)):
    try:
        os.setpriority(*who, 19)
        ok = ok or os.getpriority(os.PRIO_PROCESS, 1) == 19
    except OSError:
        pass
""", "pid1"),
    _blocked("pin_and_idle_the_template", """
for call in (lambda: os.sched_setaffinity(1, {0}),
             lambda: os.sched_setscheduler(1, os.SCHED_IDLE, os.sched_param(0)),
             lambda: libc.syscall(251 if os.uname().machine == "x86_64" else 30, 1, 1, 3 << 13) == 0 or 1 / 0):
    try:
        call()
        ok = True
    except (OSError, ZeroDivisionError):
        pass
""", "pid1"),
    _blocked("read_the_templates_memory", """
for path in ("/proc/1/mem", "/proc/1/environ", "/proc/1/maps", "/proc/1/cmdline"):
    try:
        with open(path, "rb") as fh:
            if path.endswith("mem"):
                fh.seek(0x400000)
            ok = ok or len(fh.read(64)) > 0 and not path.endswith("cmdline")
    except OSError:
        pass
try:
    ok = ok or len(os.listdir("/proc/1/fd")) > 0
except OSError:
    pass
""", "pid1"),
    dict(name="inherited_descriptors", kind="stdio", status="accepted", expected="0 1 2 3",
         cls="ours", code="import os\nprint(*sorted(int(f) for f in os.listdir('/proc/self/fd'))[:-1])\n"),
    # ---- class 6: the candidate's exceptions as the test's control flow
    dict(name="stopiteration_in_map_all", kind="assert", status="runtime_error", cls="control_flow",
         test="assert all(map(lambda x: add(x, 0) == x, range(5)))\n",
         code="def add(a, b):\n    raise StopIteration\n"),
    dict(name="stopiteration_in_zip", kind="assert", status="runtime_error", cls="control_flow",
         test="assert [a for a, b in zip(range(3), map(add, [1, 2, 3], [1, 1, 1]))] == []\n",
         code="def add(a, b):\n    raise StopIteration('done')\n"),
    dict(name="generatorexit_and_keyboardinterrupt", kind="assert", status="runtime_error",
         cls="control_flow",
         test="try:\n    add(1, 2)\nexcept Exception:\n    pass\nassert add(2, 3) == 5\n",
         code="import itertools\n_n = itertools.count()\n"
              "def add(a, b):\n    raise (GeneratorExit if next(_n) % 2 else KeyboardInterrupt)()\n"),
    dict(name="stopasynciteration", kind="assert", status="runtime_error", cls="control_flow",
         test="assert next(map(add, [2], [3]), 5) == 5\n",
         code="def add(a, b):\n    raise StopAsyncIteration\n"),
    # ---- class 7: work pushed onto the trusted side
    dict(name="forged_deep_report", kind="call", status="runtime_error", cls="trusted_work",
         code="""
import os, sys
f = sys._getframe(1)
while f is not None and "nonce" not in f.f_locals:
    f = f.f_back
nonce = f.f_locals["nonce"] if f is not None else ""
os.write(3, (nonce + '{"ok": ' + "[" * 400000 + "]" * 400000 + "}\\n").encode())
os._exit(0)
"""),
    dict(name="forged_colliding_value", kind="call", status="runtime_error", cls="trusted_work",
         code="""
import json, os, sys
f = sys._getframe(1)
while f is not None and "nonce" not in f.f_locals:
    f = f.f_back
nonce = f.f_locals["nonce"] if f is not None else ""
P = (1 << 61) - 1
value = json.dumps({"$s": [k * P for k in range(1, 40000)]}, separators=(",", ":"))
os.write(3, (nonce + json.dumps({"ok": True, "value": value}) + "\\n").encode())
os._exit(0)
"""),
    dict(name="forged_wide_report", kind="stdio", status="runtime_error", cls="trusted_work",
         expected="5", code="""
import os, sys
f = sys._getframe(1)
while f is not None and "nonce" not in f.f_locals:
    f = f.f_back
nonce = f.f_locals["nonce"] if f is not None else ""
os.write(3, (nonce + '{"ok": true, "x": [' + "[]," * 330000 + "[]]}\\n").encode())
os._exit(0)
"""),
    dict(name="many_files_in_tmp", kind="stdio", status=("time_limit", "runtime_error", "accepted"),
         expected="5", cls="trusted_work", code="""
import os, time
t = time.monotonic()
i = 0
try:
    while time.monotonic() - t < 2.0:
        for _ in range(1000):
            os.close(os.open(f"/tmp/f{i}", os.O_CREAT | os.O_WRONLY))
            i += 1
except OSError:
    pass
print(5)
"""),
    dict(name="deep_directory_tree", kind="stdio", status="accepted", expected="5",
         cls="trusted_work", code="""
import os
os.chdir("/tmp")
for _ in range(3000):
    try:
        os.mkdir("d")
        os.chdir("d")
    except OSError:
        break
os.chdir("/dev/shm")
for _ in range(1000):
    try:
        os.mkdir("e" * 200)
        os.chdir("e" * 200)
    except OSError:
        break
print(5)
"""),
    dict(name="assert_reply_deep_and_wide", kind="assert", status="runtime_error",
         cls="trusted_work", test="assert add(2, 3) == 5\n", code=r'''
import json, os, struct
fd = 4
def send(raw):
    os.write(fd, struct.pack(">I", len(raw)) + raw)
def recv():
    n = struct.unpack(">I", os.read(fd, 4))[0]
    buf = b""
    while len(buf) < n:
        buf += os.read(fd, n - len(buf))
    return json.loads(buf)
send(b'{"ready": true}')
while True:
    req = recv()
    if req.get("op") == "bye":
        break
    if req.get("op") == "name":
        send(b'{"ok": {"$r": 0}}')
    else:
        send(b'{"ok": ' + b"[" * 200000 + b"]" * 200000 + b"}")
os._exit(0)
'''),
    # ---- class 9: text that UTF-8 cannot encode
    dict(name="surrogates_everywhere_assert", kind="assert", status="runtime_error", cls="text",
         code="import sys\nsys.stderr.write('\\ud800')\n"
              "def add(a, b):\n    raise ValueError('\\udcff' * 10)\n"),
    dict(name="surrogates_everywhere_call", kind="call", status="wrong_answer", cls="text",
         code="def add(a, b):\n    return '\\ud800' * 3\n"),
    dict(name="surrogates_everywhere_stdio", kind="stdio", status="runtime_error", expected="5",
         cls="text", code="import sys\nsys.stderr.write('\\ud800')\nraise KeyError('\\udfff')\n"),
    # ---- control: what honest Python needs still works under the filter
    dict(name="honest_python_under_the_filter", kind="stdio", status="accepted", expected="ok",
         cls="control", code="""
import asyncio, concurrent.futures, multiprocessing, socket, subprocess, tempfile, threading
assert subprocess.run(["true"]).returncode == 0
a, b = socket.socketpair()
a.sendall(b"x"); assert b.recv(1) == b"x"
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.close()
with concurrent.futures.ThreadPoolExecutor(2) as ex:
    assert list(ex.map(abs, [-1, -2])) == [1, 2]
with multiprocessing.Pool(2) as pool:
    assert pool.map(abs, [-3]) == [3]
with tempfile.TemporaryDirectory() as d:
    open(d + "/x", "w").write("y")
async def main():
    await asyncio.sleep(0)
    p = await asyncio.create_subprocess_exec("true")
    return await p.wait()
assert asyncio.run(main()) == 0
try:
    socket.getaddrinfo("localhost", 80)
except OSError:
    pass
print("ok")
"""),
]

# An honest program that leans on the standard library and on tools under /usr: the filter's
# allow-list must keep all of it working (scripts/syscall_survey.py measures what it calls).
STDLIB_PROGRAM = r'''
import asyncio, bz2, concurrent.futures, datetime, decimal, fcntl, gzip, hashlib, lzma, mmap
import multiprocessing, os, pickle, queue, random, resource, secrets, select, selectors, shutil
import signal, socket, sqlite3, subprocess, sys, tempfile, threading, time, zlib
d = tempfile.mkdtemp()
p = os.path.join(d, "a.txt")
with open(p, "w") as f:
    f.write("x" * 100000)
shutil.copy(p, p + ".b"); shutil.copyfile(p, p + ".c"); os.rename(p + ".c", p + ".d")
os.link(p, p + ".h"); os.symlink(p, p + ".s"); os.readlink(p + ".s"); os.chmod(p, 0o600)
os.utime(p); os.truncate(p + ".b", 10); list(os.walk(d)); os.lstat(p + ".s"); os.access(p, os.R_OK)
with open(p, "r+b") as f:
    fcntl.flock(f, fcntl.LOCK_EX); fcntl.lockf(f, fcntl.LOCK_UN); os.fsync(f.fileno())
    m = mmap.mmap(f.fileno(), 0); m[0:1] = b"y"; m.flush(); m.close()
    os.pread(f.fileno(), 10, 5); os.pwrite(f.fileno(), b"z", 3); os.posix_fadvise(f.fileno(), 0, 0, 0)
db = sqlite3.connect(os.path.join(d, "db")); db.execute("create table t(x)"); db.commit(); db.close()
for mod in (gzip, bz2, lzma, zlib):
    assert mod.decompress(mod.compress(b"abc" * 100)) == b"abc" * 100
shutil.rmtree(d)
out = subprocess.run(["sh", "-c", "printf 'b\\na\\n' | sort | head -1"], capture_output=True, text=True)
assert out.stdout == "a\n", out
subprocess.run(["ls", "-la", "/usr"], capture_output=True, check=True)
subprocess.run([sys.executable, "-c", "import json; print(1)"], capture_output=True, check=True)
for method in ("fork",):  # spawn re-imports __main__, which is not the candidate's file
    with multiprocessing.get_context(method).Pool(2) as pool:
        assert pool.map(abs, [-1, -2]) == [1, 2]
with concurrent.futures.ProcessPoolExecutor(2) as ex:
    assert list(ex.map(abs, [-3])) == [3]
q = queue.Queue(); ev = threading.Event()
t = threading.Thread(target=lambda: (q.put(1), ev.set())); t.start(); t.join(); ev.wait(1)
got = []
signal.signal(signal.SIGUSR1, lambda *a: got.append(1)); os.kill(os.getpid(), signal.SIGUSR1)
signal.signal(signal.SIGALRM, lambda *a: got.append(2)); signal.setitimer(signal.ITIMER_REAL, 0.01)
time.sleep(0.05)
time.time(); time.monotonic(); time.perf_counter(); time.process_time(); time.localtime()
datetime.datetime.now(); resource.getrusage(resource.RUSAGE_SELF); os.times(); os.cpu_count()
os.sched_getaffinity(0); os.getloadavg(); os.urandom(8); secrets.token_hex(8)
random.SystemRandom().random(); hashlib.sha256(b"x").hexdigest(); decimal.Decimal(1) / 3
pickle.loads(pickle.dumps({1: [2.5]}))
a, b = socket.socketpair(); a.sendall(b"x"); assert b.recv(1) == b"x"
r, w = os.pipe(); os.write(w, b"1")
sel = selectors.DefaultSelector(); sel.register(r, selectors.EVENT_READ); sel.select(0); sel.close()
select.select([r], [], [], 0); po = select.poll(); po.register(r); po.poll(0)
try:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.close()
except OSError:
    pass
async def main():
    p = await asyncio.create_subprocess_exec("true"); await p.wait()
    rd, wr = await asyncio.open_connection(sock=a); wr.write(b"y"); await wr.drain()
    await asyncio.sleep(0)
asyncio.run(main())
sys.setrecursionlimit(10000); threading.stack_size(64 << 20)
def deep(n):
    return 0 if n == 0 else 1 + deep(n - 1)
t = threading.Thread(target=lambda: deep(5000)); t.start(); t.join()
os.getpid(); os.getppid(); os.getuid(); os.umask(0o22); os.getcwd(); os.uname(); sys.stdin.read()
print("ok" if got == [1, 2] else got)
'''
CASES.append(dict(name="honest_stdlib_and_tools_under_the_filter", kind="stdio", status="accepted",
                  stdin="input\n", expected="ok", cls="control", code=STDLIB_PROGRAM))

# Left behind by one job, looked for by the next (run in this order on one worker).
LEAVE: list[dict] = [
    dict(name="leave_sysv_shm", cls="ipc", code=_NR + """
libc.shmget.restype = ctypes.c_int
libc.shmat.restype = ctypes.c_void_p
sid = libc.shmget(0x5D30, 200 << 20, 0o1666)  # IPC_CREAT | 0666, 200 MB
if sid >= 0:
    addr = libc.shmat(sid, None, 0)
    if addr not in (None, ctypes.c_void_p(-1).value):
        ctypes.memset(addr, 7, 200 << 20)  # the pages stay charged while the segment lives
print(5)
"""),
    dict(name="leave_sysv_msg_sem", cls="ipc", code=_NR + """
class Msg(ctypes.Structure):
    _fields_ = [("mtype", ctypes.c_long), ("mtext", ctypes.c_char * 32)]
q = libc.msgget(0x5D31, 0o1666)
if q >= 0:
    libc.msgsnd(q, ctypes.byref(Msg(1, b"sd30-secret")), 32, 0)
libc.semget(0x5D32, 4, 0o1666)
print(5)
"""),
    dict(name="leave_posix_mqueue", cls="ipc", code=_NR + """
rt = ctypes.CDLL("librt.so.1", use_errno=True)
rt.mq_open.restype = ctypes.c_int
q = rt.mq_open(b"/sd30", os.O_CREAT | os.O_RDWR, 0o666, None)
if q >= 0:
    rt.mq_send(q, b"sd30-secret", 11, 0)
print(5)
"""),
    dict(name="leave_a_key", cls="keyring", code=_NR + """
sc("add_key", b"user", b"sd30", b"sd30-secret", 11, ctypes.c_int(-4))
sc("add_key", b"user", b"sd30", b"sd30-secret", 11, ctypes.c_int(-3))
print(5)
"""),
]
FIND: list[dict] = [
    dict(name="find_sysv_ipc", cls="ipc", code=_NR + """
found = []
for path in ("/proc/sysvipc/shm", "/proc/sysvipc/msg", "/proc/sysvipc/sem"):
    try:
        lines = open(path).read().splitlines()[1:]
        found += [path for ln in lines if ln.strip()]
    except OSError:
        pass
for key, get in ((0x5D30, lambda k: libc.shmget(k, 0, 0)), (0x5D31, lambda k: libc.msgget(k, 0)),
                 (0x5D32, lambda k: libc.semget(k, 0, 0))):
    if get(key) >= 0:
        found.append(hex(key))
print("ESCAPED" if found else "contained")
"""),
    dict(name="find_posix_mqueue", cls="ipc", code=_NR + """
rt = ctypes.CDLL("librt.so.1", use_errno=True)
q = rt.mq_open(b"/sd30", os.O_RDONLY, 0, None)
print("ESCAPED" if q >= 0 else "contained")
"""),
    dict(name="find_a_key", cls="keyring", code=_NR + """
r1, _ = sc("request_key", b"user", b"sd30", None, 0)
r2, _ = sc("keyctl", 10, ctypes.c_int(-4), b"user", b"sd30", 0)  # KEYCTL_SEARCH @u
print("ESCAPED" if r1 >= 0 or r2 >= 0 else "contained")
"""),
    # Left-over shared memory would count against this job's limit (512 MB in the test).
    dict(name="find_room_for_memory", cls="ipc", code="""
x = bytearray(380 << 20)
print("contained")
"""),
]
