"""Hostile programs, each with the verdict it must get.

Placeholders filled in by the test: {CANARY} (a file in the project that must survive),
{PROJECT} (the repository root), {PORT} (a TCP port the test listens on at 127.0.0.1),
{SECRET_NAME}/{SECRET_VALUE} (an environment variable set in the host), {HOST_PID}.

kind: "assert" programs get the test `assert add(2, 3) == 5`; "stdio" programs get
stdin "" and must print `expected`; "call" programs are called as add(2, 3) expecting 5.
`status` is the verdict status required (a tuple means any of them). The per-case proof
that the host was untouched is in `forbid` (paths that must not exist on the host
afterwards) and `actual_excludes` (text that must not appear in what the program printed);
the global proofs (canary intact, no leaked process, fd or directory, no connection to the
listener, workers alive) are checked by the test after the whole corpus.
"""

from __future__ import annotations

ADD = "def add(a, b):\n    return a + b\n"
WRONG_ADD = "def add(a, b):\n    return a - b\n"

CASES: list[dict] = [
    # ---- processes
    dict(name="fork_bomb", kind="assert", status="time_limit", code="""
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""),
    dict(name="fork_bomb_then_pass", kind="assert", status="accepted", code="""
import os, time
for _ in range(1000):
    try:
        if os.fork() == 0:
            time.sleep(1000)
            os._exit(0)
    except OSError:
        break
""" + ADD),
    dict(name="daemonized_orphan", kind="assert", status="accepted", code="""
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(1000)
    os._exit(0)
""" + ADD),
    dict(name="thread_storm", kind="assert", status="runtime_error", code="""
import threading, time
threads = []
while True:
    t = threading.Thread(target=time.sleep, args=(1000,), daemon=True)
    t.start()
    threads.append(t)
"""),
    dict(name="subprocess_storm", kind="assert", status=("runtime_error", "time_limit"), code="""
import subprocess
procs = [subprocess.Popen(["sleep", "1000"]) for _ in range(10000)]
"""),
    dict(name="kill_parent", kind="assert", status="accepted", code="""
import os, signal
for sig in (signal.SIGKILL, signal.SIGTERM, signal.SIGSTOP):
    try:
        os.kill(os.getppid(), sig)
    except OSError:
        pass
""" + ADD),
    dict(name="kill_process_group", kind="assert", status="runtime_error", code="""
import os, signal
os.killpg(0, signal.SIGKILL)
""" + ADD),
    dict(name="kill_everything", kind="assert", status="runtime_error", code="""
import os, signal
os.kill(-1, signal.SIGKILL)
""" + ADD),
    dict(name="kill_host_pid", kind="assert", status="accepted", code="""
import os, signal
for pid in ({HOST_PID}, 1, 2):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
""" + ADD),
    dict(name="ptrace_zygote_memory", kind="stdio", status="accepted", expected="denied", code="""
try:
    with open("/proc/1/mem", "rb") as fh:
        fh.seek(4096)
        fh.read(16)
    print("read")
except OSError:
    print("denied")
"""),
    dict(name="setuid_root", kind="stdio", status="accepted", expected="nocaps", code="""
import os
try:
    os.setuid(0)
except OSError:
    pass
caps = [ln for ln in open("/proc/self/status") if ln.startswith(("CapEff", "CapPrm"))]
print("nocaps" if all(int(ln.split()[1], 16) == 0 for ln in caps) else "caps " + " ".join(caps))
"""),
    # ---- time
    dict(name="infinite_loop", kind="assert", status="time_limit", code="while True:\n    pass\n"),
    dict(name="sleep_past_limit", kind="assert", status="time_limit",
         code="import time\ntime.sleep(60)\n" + ADD),
    dict(name="catch_sigterm_xcpu", kind="assert", status="time_limit", code="""
import signal
for s in (signal.SIGTERM, signal.SIGXCPU, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
while True:
    pass
"""),
    dict(name="catch_sigalrm", kind="assert", status="time_limit", code="""
import signal, time
signal.signal(signal.SIGALRM, lambda *a: None)
signal.alarm(1)
while True:
    time.sleep(0.1)
"""),
    dict(name="slow_in_call", kind="call", status="time_limit",
         code="def add(a, b):\n    while True:\n        pass\n"),
    # ---- memory, disk, output
    dict(name="memory_bomb", kind="assert", status="memory_limit",
         code="x = bytearray(8 * 1024 ** 3)\n" + ADD),
    dict(name="memory_bomb_gradual", kind="assert", status="memory_limit", code="""
chunks = []
while True:
    chunks.append(bytes(50 * 1024 * 1024))
"""),
    dict(name="memory_bomb_list", kind="assert", status="memory_limit",
         code="x = [0] * (10 ** 9)\n" + ADD),
    dict(name="disk_fill_one_file", kind="assert", status="runtime_error", code="""
with open("big.bin", "wb") as fh:
    while True:
        fh.write(b"0" * (1 << 20))
"""),
    dict(name="disk_fill_many_files", kind="assert", status="runtime_error", code="""
i = 0
while True:
    with open(f"f{i}.bin", "wb") as fh:
        fh.write(b"0" * (8 << 20))
    i += 1
"""),
    dict(name="stdout_1gb", kind="stdio", status="runtime_error", expected="", code="""
import sys
chunk = "x" * (1 << 20)
for _ in range(1024):
    sys.stdout.write(chunk)
"""),
    dict(name="stderr_flood_then_pass", kind="assert", status="accepted", code="""
import sys
for _ in range(200):
    sys.stderr.write("e" * (1 << 16))
""" + ADD),
    dict(name="many_open_files", kind="assert", status="runtime_error", code="""
files = [open("/dev/null") for _ in range(100000)]
"""),
    # ---- exits and forged results
    dict(name="os_exit_before_tests", kind="assert", status="runtime_error",
         code="import os\nos._exit(0)\n" + ADD),
    dict(name="sys_exit_before_tests", kind="assert", status="runtime_error",
         code="import sys\nsys.exit(0)\n" + ADD),
    dict(name="sys_exit_inside_tests", kind="assert", status="runtime_error",
         code="import sys\ndef add(a, b):\n    sys.exit(0)\n"),
    dict(name="os_exit_inside_call", kind="call", status="runtime_error",
         code="import os\ndef add(a, b):\n    os._exit(0)\n"),
    dict(name="fake_all_passed_text", kind="assert", status="runtime_error", code="""
import os
print("All tests passed!\\naccepted")
os.write(1, b'{"ok": true}\\n')
os._exit(0)
""" + WRONG_ADD),
    dict(name="forge_result_fds", kind="assert", status="runtime_error", code="""
import os
for fd in range(0, 256):
    for msg in (b'{"ok": true}\\n', b'0' * 32 + b'{"ok": true}\\n'):
        try:
            os.write(fd, msg)
        except OSError:
            pass
os._exit(0)
"""),
    dict(name="fake_stdout_in_stdio", kind="stdio", status="wrong_answer", expected="42",
         code='print("All tests passed")\nprint("Accepted")\n'),
    dict(name="redefine_check", kind="assert", status="wrong_answer", code="""
def check(candidate):
    return True
""" + WRONG_ADD),
    dict(name="monkeypatch_builtins", kind="assert", status="wrong_answer", code="""
import builtins
builtins.AssertionError = type("Nope", (Exception,), {})
builtins.abs = lambda x: 0
builtins.len = lambda x: 0
builtins.print = lambda *a, **k: None
""" + WRONG_ADD, test="assert abs(add(2, 3) - 5) < 1e-9\nassert len([add(1, 1)]) == 1\n"),
    dict(name="swap_math_module", kind="assert", status="wrong_answer", code="""
import sys, types
fake = types.ModuleType("math")
fake.isclose = lambda *a, **k: True
sys.modules["math"] = fake
""" + WRONG_ADD, test="import math\nassert math.isclose(add(2, 3), 5)\n"),
    dict(name="import_grader_and_patch", kind="assert", status="wrong_answer", code="""
import sys
try:
    import selfdistill.execution.graders as g
    g._judge = lambda *a, **k: ("accepted", "", None)
    import selfdistill.execution as ex
    ex.grade = lambda *a, **k: None
except Exception:
    pass
main = sys.modules.get("__main__")
for name in ("_supervise", "_run_job", "_harness"):
    try:
        setattr(main, name, lambda *a, **k: {"ok": True})
    except Exception:
        pass
""" + WRONG_ADD),
    dict(name="always_equal_return_call", kind="call", status="wrong_answer", code="""
class Eq:
    def __eq__(self, other):
        return True
    def __hash__(self):
        return 0
def add(a, b):
    return Eq()
"""),
    dict(name="patch_json_in_call", kind="call", status="wrong_answer", code="""
import json
json.dumps = lambda *a, **k: "5"
json.encoder.JSONEncoder.encode = lambda *a, **k: "5"
def add(a, b):
    return a * b
"""),
    dict(name="exit_zero_stdio_legit", kind="stdio", status="accepted", expected="42",
         code="import sys\nprint(42)\nsys.exit(0)\n"),
    dict(name="close_stdout", kind="stdio", status="wrong_answer", expected="42",
         code="import os\nos.close(1)\nprint(42)\n"),
    # ---- crashes
    dict(name="ctypes_segfault", kind="assert", status="runtime_error",
         code="import ctypes\nctypes.string_at(0)\n" + ADD),
    dict(name="abort", kind="assert", status="runtime_error", code="import os\nos.abort()\n"),
    dict(name="deep_recursion", kind="assert", status="runtime_error",
         code="def f(n):\n    return f(n + 1)\nf(0)\n" + ADD),
    # CPython 3.11 keeps Python frames on the heap: this runs until memory or time runs out.
    dict(name="deep_recursion_unlimited", kind="assert",
         status=("runtime_error", "memory_limit", "time_limit"),
         code="import sys\nsys.setrecursionlimit(10**8)\ndef f(n):\n    return f(n + 1) + 1\nf(0)\n"),
    dict(name="null_bytes", kind="assert", status="syntax_error", code="def add(a, b):\x00\n"),
    dict(name="huge_exception_message", kind="assert", status="runtime_error",
         code='raise ValueError("v" * 10_000_000)\n'),
    dict(name="non_utf8_output", kind="stdio", status="wrong_answer", expected="42",
         code="import sys\nsys.stdout.buffer.write(b'\\xff\\xfe\\x00 42')\n"),
    # ---- network
    dict(name="socket_localhost", kind="stdio", status="accepted", expected="blocked", code="""
import socket
try:
    s = socket.create_connection(("127.0.0.1", {PORT}), timeout=0.5)
    print("connected")
except OSError:
    print("blocked")
"""),
    dict(name="socket_public_testnet", kind="stdio", status="accepted", expected="blocked", code="""
import socket
try:
    s = socket.create_connection(("192.0.2.1", 80), timeout=0.3)
    print("connected")
except OSError:
    print("blocked")
"""),
    dict(name="udp_send_testnet", kind="stdio", status="accepted", expected="blocked", code="""
import socket
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x", ("192.0.2.1", 53))
    print("sent")
except OSError:
    print("blocked")
"""),
    dict(name="dns_lookup", kind="stdio", status="accepted", expected="blocked", code="""
import socket
try:
    socket.setdefaulttimeout(0.5)
    socket.getaddrinfo("example.com", 80)
    print("resolved")
except OSError:
    print("blocked")
"""),
    dict(name="new_netns_escape", kind="stdio", status="accepted", expected="blocked", code="""
import subprocess
r = subprocess.run(["unshare", "-rn", "python3", "-c",
                    "import socket; socket.create_connection(('192.0.2.1', 80), timeout=0.3)"],
                   capture_output=True)
print("blocked" if r.returncode != 0 else "connected")
"""),
    # ---- secrets and files
    dict(name="env_secrets", kind="stdio", status="accepted", expected="clean", code="""
import os
allowed = {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONIOENCODING", "OMP_NUM_THREADS",
           "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "LC_CTYPE"}
leaks = set(os.environ) - allowed
for name in os.listdir("/proc"):
    if name.isdigit():
        try:
            with open(f"/proc/{name}/environ", "rb") as fh:
                if b"{SECRET_NAME}" in fh.read():
                    leaks.add(name)
        except OSError:
            pass
print("clean" if not leaks else "leak " + " ".join(sorted(leaks)))
"""),
    dict(name="print_environ", kind="stdio", status="wrong_answer", expected="x",
         actual_excludes=["{SECRET_VALUE}", "{SECRET_NAME}"],
         code="""
import os
print(dict(os.environ))
for path in ("/proc/self/environ", "/proc/1/environ"):
    try:
        print(open(path, "rb").read())
    except OSError:
        pass
"""),
    dict(name="read_root_home", kind="stdio", status="accepted", expected="hidden", code="""
import os, glob
seen = []
for pattern in ("/root/.ssh/*", "/root/.bashrc", "/root/.gitconfig", os.path.expanduser("~/.ssh/*"),
                "/home/*/.ssh/*", "/root/.config/*"):
    seen += glob.glob(pattern)
readable = []
for p in seen:
    try:
        open(p, "rb").read(1)
        readable.append(p)
    except OSError:
        pass
print("hidden" if not readable else "visible " + " ".join(readable))
"""),
    dict(name="read_etc_shadow", kind="stdio", status="accepted", expected="denied", code="""
try:
    open("/etc/shadow").read()
    print("read")
except OSError:
    print("denied")
"""),
    dict(name="write_outside_workdir", kind="assert", status="accepted",
         forbid=["/tmp/sd_hostile_pwned", "{PROJECT}/sd_hostile_pwned", "/var/tmp/sd_hostile_pwned",
                 "/dev/shm/sd_hostile_pwned"],
         code="""
for p in ("/tmp/sd_hostile_pwned", "{PROJECT}/sd_hostile_pwned", "/var/tmp/sd_hostile_pwned",
          "/dev/shm/sd_hostile_pwned"):
    try:
        with open(p, "w") as fh:
            fh.write("pwned")
    except OSError:
        pass
""" + ADD),
    dict(name="delete_project_files", kind="assert", status="accepted", code="""
import os, shutil
for action in (lambda: os.remove("{CANARY}"), lambda: open("{CANARY}", "w").write("pwned"),
               lambda: os.rename("{CANARY}", "{CANARY}.moved"), lambda: os.chmod("{CANARY}", 0),
               lambda: shutil.rmtree("{PROJECT}/tests/hostile")):
    try:
        action()
    except OSError:
        pass
""" + ADD),
    dict(name="chdir_and_write", kind="assert", status="accepted",
         forbid=["{PROJECT}/sd_hostile_chdir", "/sd_hostile_chdir"], code="""
import os
for d in ("{PROJECT}", "/", "/tmp"):
    try:
        os.chdir(d)
        with open("sd_hostile_chdir", "w") as fh:
            fh.write("pwned")
    except OSError:
        pass
""" + ADD),
    dict(name="remount_rw_in_userns", kind="stdio", status="accepted", expected="blocked",
         forbid=["{PROJECT}/sd_hostile_remount"], code="""
import subprocess
r = subprocess.run(["unshare", "-rm", "sh", "-c",
                    "mount -o remount,rw / && touch {PROJECT}/sd_hostile_remount"],
                   capture_output=True)
print("blocked" if r.returncode != 0 else "escaped")
"""),
    # ---- sanity: ordinary programs next to the hostile ones
    dict(name="plain_correct", kind="assert", status="accepted", code=ADD),
    dict(name="plain_wrong", kind="assert", status="wrong_answer", code=WRONG_ADD),
    dict(name="plain_call", kind="call", status="accepted", code=ADD),
    dict(name="whitespace_only", kind="assert", status="no_code", code="   \n\t\n"),
]


# ---- issue 13: every attack class in all three test kinds -------------------------------
#
# A probe sets `ok = True` when the attack FAILED (the host stayed hidden, the job was clean,
# ...). _three() turns it into an assert, a call and a stdio program that are accepted only
# when ok is true: a leak shows up as a wrong answer.


def _three(name: str, probe: str, **extra: object) -> list[dict]:
    body = probe.strip("\n") + "\n"
    fn = "def add(a, b):\n    return a + b if ok else a - b\n"
    return [
        dict(name=f"{name}_assert", kind="assert", status="accepted", code=body + fn, **extra),
        dict(name=f"{name}_call", kind="call", status="accepted", code=body + fn, **extra),
        dict(name=f"{name}_stdio", kind="stdio", status="accepted", expected="5",
             code=body + "print(5 if ok else 0)\n", **extra),
    ]


# Both halves of the expected value, never joined in the program: a hit in memory is a leak.
_MARK_A, _MARK_B = "sd-expected-", "marker-7731"

_MEMSCAN = '''
def _scan():
    a, b = "sd-expected-".encode(), "marker-7731".encode()
    hits = 0
    import ctypes
    with open("/proc/self/maps") as maps:
        for line in maps:
            f = line.split()
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            if "r" not in f[1] or hi - lo > 256 << 20 or (len(f) > 5 and f[5].startswith("[v")):
                continue
            chunk = ctypes.string_at(lo, hi - lo)
            i = chunk.find(a)
            while i >= 0:
                if chunk[i + len(a):i + len(a) + len(b)] == b:
                    hits += 1
                i = chunk.find(a, i + 1)
    return hits
'''

CASES += [
    # -- class 1: talking the judge into "accepted" (same-process tampering, forged results)
    dict(name="patch_builtins_exec_assert", kind="assert", status="wrong_answer",
         code="import builtins\nbuiltins.exec = lambda *a, **k: None\nbuiltins.compile = lambda *a, **k: None\n" + WRONG_ADD),
    dict(name="patch_builtins_exec_call", kind="call", status="wrong_answer",
         code="import builtins\nbuiltins.exec = lambda *a, **k: None\nbuiltins.repr = lambda x: '5'\n" + WRONG_ADD),
    dict(name="patch_builtins_exec_stdio", kind="stdio", status="wrong_answer", expected="5",
         code="import builtins\nbuiltins.exec = lambda *a, **k: None\nprint(4)\n"),
    # Jumping over lines of the harness' own serve loop wedges the candidate: any failure will do.
    dict(name="settrace_skip_asserts_assert", kind="assert",
         status=("wrong_answer", "time_limit", "runtime_error"), code="""
import sys, threading
def tracer(frame, event, arg):
    frame.f_trace_lines = True
    if frame.f_code.co_filename != "solution.py" and event == "line":
        try:
            frame.f_lineno = frame.f_lineno + 1
        except Exception:
            pass
    return tracer
sys.settrace(tracer)
threading.settrace(tracer)
""" + WRONG_ADD),
    dict(name="shadow_unimported_module_assert", kind="assert", status="wrong_answer",
         test="assert math.isclose(add(2, 3), 5)\n", code="""
import types
math = types.SimpleNamespace(isclose=lambda *a, **k: True)
""" + WRONG_ADD),
    dict(name="settrace_call", kind="call", status="wrong_answer", code="""
import sys
sys.settrace(lambda *a: None)
sys.setprofile(lambda *a: None)
""" + WRONG_ADD),
    dict(name="settrace_stdio", kind="stdio", status="wrong_answer", expected="5",
         code="import sys\nsys.settrace(lambda *a: None)\nprint(6)\n"),
    dict(name="read_expected_from_memory_assert", kind="assert", status="wrong_answer",
         test='assert add(2, 3) == "' + _MARK_A + _MARK_B + '"\n',
         code=_MEMSCAN + """
import linecache, gc
found = _scan() + sum(1 for f in list(linecache.cache) if "test" in f)
def add(a, b):
    return "found" if found else "nope"
"""),
    dict(name="read_expected_from_memory_call", kind="call", status="wrong_answer",
         call_io=("2\n3\n", '"' + _MARK_A + _MARK_B + '"'),
         code=_MEMSCAN + "def add(a, b):\n    return 'found' if _scan() else 'nope'\n"),
    dict(name="read_expected_from_memory_stdio", kind="stdio", status="wrong_answer",
         expected=_MARK_A + _MARK_B,
         code=_MEMSCAN + "print('found' if _scan() else 'nope')\n"),
    # Control: the scan does find the marker when the program itself builds it.
    dict(name="memscan_control", kind="stdio", status="accepted", expected="found",
         code=_MEMSCAN + "m = ''.join(['sd-expected-', 'marker-7731'])\nprint('found' if _scan() else 'nope')\n"),
    dict(name="always_equal_assert", kind="assert", status="wrong_answer", code="""
class Eq(int):
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    __hash__ = int.__hash__
def add(a, b):
    return Eq(0)
"""),
    dict(name="always_equal_subclass_call", kind="call", status="wrong_answer", code="""
class Eq(int):
    def __eq__(self, other):
        return True
def add(a, b):
    return Eq(7)
"""),
    dict(name="forge_report_nonce_assert", kind="assert", status="runtime_error", code="""
import gc, os
nonce = None
for obj in gc.get_objects():
    if isinstance(obj, dict) and isinstance(obj.get("nonce"), str):
        nonce = obj["nonce"]
if nonce:
    os.write(3, (nonce + repr({"ok": True}) + "\\n").encode())
os._exit(0)
""" + WRONG_ADD),
    dict(name="forge_bridge_frames_assert", kind="assert", status=("runtime_error", "wrong_answer"), code="""
import os, struct, json
msg = json.dumps({"ok": True}).encode()
try:
    os.write(4, struct.pack(">I", len(msg)) + msg)
    os.write(4, struct.pack(">I", len(msg)) + msg)
except OSError:
    pass
""" + WRONG_ADD),
    dict(name="forge_bridge_huge_frame_assert", kind="assert", status="runtime_error", code="""
import os, struct
try:
    os.write(4, struct.pack(">I", 0xFFFFFFF0) + b"x" * 100)
except OSError:
    pass
import time
time.sleep(0.2)
""" + ADD),
    dict(name="forge_bridge_bad_types_assert", kind="assert", status="runtime_error", code="""
import os, struct, json
def send(obj):
    data = json.dumps(obj).encode()
    os.write(4, struct.pack(">I", len(data)) + data)
send({"ready": True})
send({"ok": {"$zz": [1]}})
os._exit(0)
"""),
    # -- class 6: forged reports with unexpected types (a verdict, never an exception)
    *[dict(name=f"forge_report_types_{kind}", kind=kind, status="runtime_error", expected="5", code="""
import gc, os
nonce = None
for obj in gc.get_objects():
    if isinstance(obj, dict) and isinstance(obj.get("nonce"), str):
        nonce = obj["nonce"]
os.write(3, (nonce + repr({"ok": [1], "phase": 5, "exc": ["x"], "tb": {"a": 1}, "value": 10**50}) + "\\n").encode())
os._exit(0)
""" + ADD) for kind in ("assert", "call", "stdio")],
    dict(name="forge_report_bad_value_call", kind="call", status="runtime_error", code="""
import gc, os
nonce = [o["nonce"] for o in gc.get_objects() if isinstance(o, dict) and isinstance(o.get("nonce"), str)][0]
os.write(3, (nonce + repr({"ok": True, "value": '{"$t": 5}'}) + "\\n").encode())
os._exit(0)
"""),
    dict(name="forge_report_garbage_stdio", kind="stdio", status="runtime_error", expected="5", code="""
import os
os.write(3, b"not-the-nonce{'ok': True}\\n" + b"(" * 100000)
print(5)
os._exit(0)
"""),
    # -- class 7: integers compared exactly
    dict(name="int_near_miss_call", kind="call", status="wrong_answer",
         call_io=("2\n3\n", "999999999"), code="def add(a, b):\n    return 999999000\n"),
    dict(name="int_near_miss_stdio", kind="stdio", status="wrong_answer",
         expected=str(10**12), code="print(1000000500000)\n"),
    dict(name="int_as_close_float_assert", kind="assert", status="wrong_answer",
         test="assert add(2, 3) == 10**12\n", code="def add(a, b):\n    return 1e12 + 0.5\n"),
    # -- class 8: memory of the whole job (forked children share one limit)
    *[dict(name=f"fork_memory_multiply_{kind}", kind=kind, expected="5",
           status=("memory_limit",), code="""
import os, time
kids = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        try:
            x = b"\\x01" * (300 << 20)
            time.sleep(0.5)
        finally:
            os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
""" + ADD + "print(5)\n" * (kind == "stdio")) for kind in ("assert", "call", "stdio")],
]

CASES += [
    # -- class 2: the host's disk (project, problems with references, datasets, venv, home)
    *_three("read_host_disk", """
import os, glob, sys
paths = ["{PROJECT}", "{PROJECT}/src/selfdistill/problems", "/work", "/work/shared/datasets",
         "/home", "/var", "/run", "/srv", "/opt", "/mnt", "/sys", "/boot", "/root/.cache"]
paths += glob.glob("/root/.pyenv/versions/*/lib/python3*/site-packages/*")
paths += glob.glob("/usr/lib/python3*/site-packages/*")
seen = [p for p in paths if os.path.exists(p) and (os.path.isfile(p) or os.listdir(p))]
seen += [m for m in ("selfdistill", "torch", "transformers", "numpy", "pytest") if _importable(m)]
ok = not seen
""".replace("import os, glob, sys\n", "import os, glob, sys\nimport importlib.util\n"
            "def _importable(m):\n    try:\n        return importlib.util.find_spec(m) is not None\n"
            "    except Exception:\n        return False\n")),
    *_three("read_builtin_reference", """
import os
found = []
for root in ("/", "/work", "/tmp", "/root"):
    try:
        for dirpath, dirs, files in os.walk(root):
            if dirpath.startswith(("/proc", "/usr", "/dev")):
                dirs[:] = []
                continue
            found += [f for f in files if f.endswith((".jsonl", ".jsonl.gz")) or f == "corpus.py"]
    except OSError:
        pass
ok = not found
"""),
    # -- class 3: writes to the host, as root and as an unprivileged user
    *_three("write_host", """
import os
targets = ["{PROJECT}/sd_hostile_w", "/usr/sd_hostile_w", "/etc/sd_hostile_w", "/sd_hostile_w",
           "/root/.pyenv/sd_hostile_w", "/dev/sd_hostile_w", "/proc/sd_hostile_w"]
wrote = []
for t in targets:
    try:
        with open(t, "w") as fh:
            fh.write("x")
        wrote.append(t)
    except OSError:
        pass
ok = not wrote
""", forbid=["{PROJECT}/sd_hostile_w", "/usr/sd_hostile_w", "/etc/sd_hostile_w", "/sd_hostile_w"]),
    # -- class 3/4: unix sockets on the host (paths under /var/tmp, /run; abstract names)
    *_three("unix_sockets", """
import socket
reached = []
for addr in ("{UNIX_SOCK_VAR}", "{UNIX_SOCK_RUN}", "\\0{UNIX_SOCK_ABSTRACT}", "/run/systemd/private",
             "/var/run/docker.sock", "/run/dbus/system_bus_socket"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(0.3)
        s.connect(addr)
        reached.append(addr)
    except OSError:
        pass
    finally:
        s.close()
ok = not reached
"""),
    # -- class 8: credentials: no supplementary groups, NO_NEW_PRIVS, no capabilities
    *_three("credentials", """
import os
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
groups = set(status["Groups"].split()) - {str(os.getgid()), "65534"}
ok = (status["NoNewPrivs"].strip() == "1" and not groups
      and all(int(status[k].strip(), 16) == 0 for k in ("CapEff", "CapPrm", "CapBnd")))
"""),
    # -- class 5: every job starts clean (leftovers, full tmpfs, pre-created work dirs)
    *_three("leave_files", """
import os
for d in ("/tmp", "/dev/shm", os.path.dirname(os.getcwd()), "."):
    for i in range(5):
        try:
            open(os.path.join(d, f"sd_hostile_left{i}"), "w").write("x")
        except OSError:
            pass
for i in range(200):
    try:
        os.mkdir(os.path.join(os.path.dirname(os.getcwd()), f"sdjob-{i}"))
    except OSError:
        pass
try:
    os.makedirs("/tmp/sd_hostile_locked/a/b")
    os.mkfifo("/tmp/sd_hostile_locked/a/b/fifo")
    os.symlink("/etc/passwd", "/dev/shm/sd_hostile_link")
    os.chmod("/tmp/sd_hostile_locked/a", 0)
    os.chmod("/tmp/sd_hostile_locked", 0)
except OSError:
    pass
try:
    with open("/dev/shm/fill", "wb") as fh:
        while True:
            fh.write(b"0" * (1 << 20))
except OSError:
    pass
ok = True
"""),
    *_three("find_leftovers", """
import os
here = os.path.basename(os.getcwd())
tmp = [n for n in os.listdir("/tmp") if n != here]
shm = os.listdir("/dev/shm")
st = os.statvfs("/tmp")
ok = not tmp and not shm and os.listdir(".") == [] and st.f_bfree > st.f_blocks * 0.9
"""),
]
