#!/usr/bin/env bash
# System libraries and tools: libseccomp2 (the sandbox's syscall filter, through pyseccomp;
# without it the sandbox refuses to run untrusted code), uidmap (newuidmap/newgidmap: an
# unprivileged grader runs its jobs under subordinate uids of their own), setpriv
# (util-linux) for the unprivileged sandbox run, and headless Chromium (+ a font) for the
# HTML report screenshot tests. The sandbox makes its namespaces with direct system calls.
# Idempotent. Best effort: without root or apt the tests that need a tool skip or degrade,
# and the sandbox records the isolation level it achieved.
set -u
need=""
ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2' || need="$need libseccomp2"
command -v newuidmap >/dev/null 2>&1 || need="$need uidmap"
command -v setpriv >/dev/null 2>&1 || need="$need util-linux"
command -v chromium >/dev/null 2>&1 || need="$need chromium fonts-dejavu-core"
[ "$(id -u)" = 0 ] || exit 0
if [ -n "$need" ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends $need) >/dev/null 2>&1 || echo "note: could not install:$need"
fi
# A subordinate uid and gid range for the user the unprivileged tests run as (nobody, see
# docs/sandbox.md), after every range already given out, so none overlaps; once only.
user=${SD_SUBID_USER:-nobody}
for f in /etc/subuid /etc/subgid; do
  touch "$f"
  if ! grep -qE "^($user|$(id -u "$user" 2>/dev/null || echo x)):" "$f"; then
    start=$(awk -F: 'BEGIN { m = 100000 } NF == 3 && $2 + $3 > m { m = $2 + $3 } END { print m }' "$f")
    echo "$user:$start:65536" >> "$f"
  fi
done
exit 0
