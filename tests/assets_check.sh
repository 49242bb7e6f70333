#!/usr/bin/env bash
# The desktop entry and icon in assets/: the entry passes
# desktop-file-validate without a word, its Exec runs a command the
# program has, and its Icon names the icon, which is well-formed SVG with a
# square view box.
# usage: assets_check.sh ASSETS_DIR LAYERCAST_BINARY
set -euo pipefail
dir=$1 bin=$2
entry=$dir/layercast.desktop icon=$dir/layercast.svg
fail() { echo "assets_check: $*" >&2; exit 1; }

out=$(desktop-file-validate "$entry" 2>&1) || fail "desktop-file-validate failed: $out"
[ -z "$out" ] || fail "desktop-file-validate: $out"

exec_line=$(sed -n 's/^Exec=//p' "$entry")
read -r prog cmd rest <<<"$exec_line"
[ "$prog" = layercast ] || fail "Exec runs '$prog', not layercast"
[ -z "${rest:-}" ] || fail "Exec has arguments past the command: '$rest'"
usage=$("$bin" --help 2>&1) || fail "layercast --help failed"
grep -Eq "^ +layercast $cmd( |\$)" <<<"$usage" ||
	fail "Exec's command '$cmd' is not in layercast --help"

[ "$(sed -n 's/^Icon=//p' "$entry")" = "$(basename "$icon" .svg)" ] ||
	fail "Icon does not name $(basename "$icon")"
xmllint --noout "$icon" || fail "$icon is not well-formed XML"
vb=$(xmllint --xpath 'string(/*[local-name()="svg"]/@viewBox)' "$icon")
read -r x y w h <<<"$vb"
[ -n "${h:-}" ] && [ "$w" = "$h" ] || fail "$icon: view box '$vb' is not square"
echo "assets_check: $entry and $icon are valid"
