#!/usr/bin/env bash
# Every benchmark in one go (as root, on an idle machine), each printing its
# figures (docs/BENCHMARKS.md explains them):
#
#   bench/all.sh [BUILD_DIR]       (default build/release)
#
# the store with 1,000,000 users, the control plane with 10,000 simulated
# terminals against a real cugd (logins/s, resumes/s, resumes after kill -9),
# and the data plane beside OpenVPN and wireguard-go (with roaming and
# revocation latency).
set -euo pipefail
build=$(cd "${1:-build/release}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" -eq 0 ] || { echo "all.sh: needs root" >&2; exit 77; }
printf '\n== store (cug-store-bench)\n'
"$build/bench/cug-store-bench"
printf '\n== control plane (cug-load-bench)\n'
"$build/bench/cug-load-bench" --cugd "$build/cmd/cugd"
printf '\n== data plane (bench/dataplane.sh)\n'
"$here/dataplane.sh" "$build"
