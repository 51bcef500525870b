#!/usr/bin/env bash
# Fetch the web UI's browser libraries from npm and copy their ES module
# builds and licences into ccbridge/ui/static/vendor/. The result is
# committed: users never need Node, only whoever bumps a version here.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
dest=ccbridge/ui/static/vendor
packages=(preact@10.29.8 htm@3.1.1 uplot@1.6.32)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "${packages[@]}" >/dev/null)
for tarball in "$work"/*.tgz; do
    name="$(basename "$tarball" .tgz)"
    mkdir -p "$work/$name" && tar -xzf "$tarball" -C "$work/$name" --strip-components=1
done

rm -rf "$dest" && mkdir -p "$dest"
copy() { install -m 0644 "$work/$1" "$dest/$2"; }
copy preact-10.29.8/dist/preact.module.js preact.js
copy preact-10.29.8/hooks/dist/hooks.module.js hooks.js
copy preact-10.29.8/LICENSE preact.LICENSE
copy htm-3.1.1/dist/htm.module.js htm.js
copy htm-3.1.1/LICENSE htm.LICENSE
copy uplot-1.6.32/dist/uPlot.esm.js uplot.js
copy uplot-1.6.32/dist/uPlot.min.css uplot.css
copy uplot-1.6.32/LICENSE uplot.LICENSE
# hooks.js imports "preact": point it at the file beside it (no import map needed).
sed -i 's#from"preact"#from"./preact.js"#g; s#from "preact"#from "./preact.js"#g' "$dest/hooks.js"
printf '%s\n' "${packages[@]}" > "$dest/VERSIONS"
