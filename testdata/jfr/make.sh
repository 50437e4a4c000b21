#!/bin/sh
# Regenerates the JDK-made recording and its expected stacks. Needs a JDK (javac, java, jfr)
# and python3. Made with OpenJDK 17.0.15 (Debian):
#   java -XX:StartFlightRecording=filename=jdk17-workload.jfr,settings=profile,\
#        jdk.ObjectAllocationInNewTLAB#enabled=true,jdk.ObjectAllocationOutsideTLAB#enabled=true \
#        Workload 1
# The expected stacks come from the JDK's own reader (`jfr print --json`), not from pyro-jfr.
# jdk17-skip-heavy.jfr.gz (the `jfr/jdk17-skip-heavy` bench input: 12 s of the same workload
# with default profile settings plus jdk.GCPhaseParallel, so almost every event is skipped):
#   java -XX:StartFlightRecording=filename=jdk17-skip-heavy.jfr,settings=profile,\
#        jdk.GCPhaseParallel#enabled=true Workload 12 && gzip -9 jdk17-skip-heavy.jfr
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
javac -d "$tmp" gen/Workload.java
java -cp "$tmp" \
  "-XX:StartFlightRecording=filename=jdk17-workload.jfr,settings=profile,jdk.ObjectAllocationInNewTLAB#enabled=true,jdk.ObjectAllocationOutsideTLAB#enabled=true" \
  Workload 1 >/dev/null
python3 gen/expected.py jdk17-workload.jfr results
java -cp "$tmp" \
  "-XX:StartFlightRecording=filename=jdk17-skip-heavy.jfr,settings=profile,jdk.GCPhaseParallel#enabled=true" \
  Workload 12 >/dev/null
python3 gen/expected.py jdk17-skip-heavy.jfr results
gzip -9f jdk17-skip-heavy.jfr
