# Sourced by .ci/run, scripts/test.sh and scripts/dev.sh so that all three build into one target
# directory: a newcomer's second command (and CI on the same machine) reuses what the first built.
# /var/cache survives fresh clones of the repository; a user who cannot write there builds in
# ./target instead.
if [ -z "${CARGO_TARGET_DIR:-}" ]; then
  if mkdir -p /var/cache/coursepay-target 2>/dev/null && [ -w /var/cache/coursepay-target ]; then
    CARGO_TARGET_DIR=/var/cache/coursepay-target
  else
    CARGO_TARGET_DIR="$(pwd)/target"
  fi
fi
export CARGO_TARGET_DIR
