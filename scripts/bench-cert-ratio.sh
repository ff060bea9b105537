#!/usr/bin/env bash
# Runs the certificate-mode benchmark and prints, per operation, the mean time in each mode and
# the ratio cert/key (1.00 = same cost). Both modes run in the same process, same keys.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/cargo-env.sh
# The interleaved figures (printed by the bench itself) are the ones to trust on a busy machine.
cargo bench -p alipay --bench cert_mode -- --noplot | grep '^interleaved'
echo "criterion's separate measurements:"
dir="${CARGO_TARGET_DIR:-target}/criterion"
for group in sign_page_pay verify_notification verify_response; do
  key=$(python3 -c "import json;print(json.load(open('$dir/$group/key_mode/new/estimates.json'))['mean']['point_estimate'])")
  cert=$(python3 -c "import json;print(json.load(open('$dir/$group/cert_mode/new/estimates.json'))['mean']['point_estimate'])")
  python3 -c "print(f'$group: key {${key}/1000:.1f} us, cert {${cert}/1000:.1f} us, ratio cert/key {${cert}/${key}:.3f}')"
done
