#!/usr/bin/env bash
# Installs Eclipse Tahu's JavaScript Sparkplug B package (sparkplug-payload,
# from the npm registry) into DIR/node_modules for the Sparkplug interop test
# (tests/mqtt/sparkplug_tahu_check.js). The version is pinned: the test
# states what that version decodes. Does nothing when it is already there.
# Needs node and npm (scripts/install-deps.sh installs them).
#
#   scripts/install-tahu-js.sh DIR
set -euo pipefail
version=1.0.3
dir=${1:?usage: $0 DIR}
installed=$dir/node_modules/sparkplug-payload/package.json
if [[ -f $installed ]] && grep -q "\"version\": \"$version\"" "$installed"; then
  echo "install-tahu-js: sparkplug-payload $version present in $dir"
  exit 0
fi
mkdir -p "$dir"
# A package.json of its own, so npm installs here and not into a parent's.
[[ -f $dir/package.json ]] || echo '{"name": "fieldbridge-tahu-interop", "private": true}' >"$dir/package.json"
# --ignore-scripts: protobufjs's postinstall only checks its optional CLI.
npm install --prefix "$dir" --no-audit --no-fund --ignore-scripts --no-save "sparkplug-payload@$version"
grep -q "\"version\": \"$version\"" "$installed"
echo "install-tahu-js: sparkplug-payload $version installed in $dir"
