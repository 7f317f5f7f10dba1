#!/usr/bin/env bash
# System libraries and tools: libseccomp2 (the sandbox's syscall filter, through pyseccomp;
# without it the sandbox refuses to run untrusted code), setpriv (util-linux) for the
# unprivileged sandbox run, and headless Chromium (+ a font) for the HTML report screenshot
# tests. The sandbox makes its namespaces with direct system calls.
# Best effort: without root or apt the tests that need a tool skip or degrade, and the
# sandbox records the isolation level it achieved.
set -u
need=""
ldconfig -p 2>/dev/null | grep -q 'libseccomp\.so\.2' || need="$need libseccomp2"
command -v setpriv >/dev/null 2>&1 || need="$need util-linux"
command -v chromium >/dev/null 2>&1 || need="$need chromium fonts-dejavu-core"
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends $need) >/dev/null 2>&1 || echo "note: could not install:$need"
fi
exit 0
