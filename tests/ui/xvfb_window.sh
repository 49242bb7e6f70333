#!/usr/bin/env bash
# ui_window: the SDL video window of `layercast demo` on a private Xvfb.
#
#   xvfb_window.sh LAYERCAST
#
# Starts Xvfb on a display number it picks itself (-displayfd), runs
# `layercast demo` in a detached tmux session of its own (the dashboard
# draws in the tmux pane, the video goes to the window), then checks:
#  1. a window named "layercast" appears and shows frames: the screenshot
#     has the top layer's size (640x360), is not black and has varied
#     pixels (luma standard deviation, distinct colours);
#  2. after '-' is typed until the layer cap is the base layer, the window
#     follows the base layer's frame size (160x90) and still shows varied
#     pixels;
#  3. q ends the demo with status 0.
# Every wait polls a condition with a bound. The screenshots stay in the
# test's directory (printed at the end) for a person to look at.
# Needs: Xvfb (xvfb), xdotool, xwininfo and xdpyinfo (x11-utils), import,
# convert (imagemagick), tmux. Exit 77 (skipped) when one is missing.
set -u

bin=${1:?usage: xvfb_window.sh LAYERCAST}
for t in Xvfb xdotool xwininfo xdpyinfo import convert tmux; do
	command -v "$t" >/dev/null || { echo "SKIP: $t not installed"; exit 77; }
done

tmp=$(mktemp -d /tmp/lc_ui_window.XXXXXX)
sock=lc_ui_window_$$
xvfb_pid=
display=
win=
dim= mean= sd= colours=

cleanup() {
	tmux -L "$sock" kill-server 2>/dev/null
	[ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null && wait "$xvfb_pid" 2>/dev/null
	echo "files: $tmp"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*"
	echo "--- dashboard (tmux pane)"
	tmux -L "$sock" capture-pane -p -t demo 2>/dev/null | awk NF | tail -n 40
	echo "--- demo stderr"
	tail -n 40 "$tmp/demo.err" 2>/dev/null
	exit 1
}

. "$(dirname "$0")/wait_for.sh"

start_xvfb() {
	Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$tmp/display" \
		>"$tmp/xvfb.log" 2>&1 &
	xvfb_pid=$!
	wait_for 10 grep -q '[0-9]' "$tmp/display" || fail "Xvfb did not start"
	display=:$(head -n 1 "$tmp/display")
	wait_for 10 xdpyinfo -display "$display" >/dev/null 2>&1 ||
		fail "Xvfb on $display does not accept clients"
	echo "Xvfb on $display"
}

# The demo's window id, once it is mapped. By class (the program's name):
# xdotool cannot read the title when SDL sets it as UTF8_STRING, which it
# does in a UTF-8 locale.
window_id() {
	win=$(DISPLAY=$display xdotool search --onlyvisible --class layercast 2>/dev/null | head -n 1)
	[ -n "$win" ]
}

window_size() {
	DISPLAY=$display xwininfo -id "$win" |
		awk '/Width:/ { w = $2 } /Height:/ { h = $2 } END { print w "x" h }'
}

size_is() {
	[ "$(window_size)" = "$1" ]
}

# shot FILE: screenshot of the window; prints "WxH luma_mean luma_sd colours".
shot() {
	DISPLAY=$display import -silent -window "$win" "$1" 2>/dev/null || return 1
	convert "$1" -format '%wx%h ' -write info:- -colorspace Gray \
		-format '%[fx:mean] %[fx:standard_deviation] ' info:- 2>/dev/null &&
		convert "$1" -format '%k\n' info:- 2>/dev/null
}

# looks_alive WxH: the window has that size, shows a frame that is not
# black and has varied pixels (luma standard deviation: 0 for a flat frame,
# about 0.09 for the on-screen display alone on black, about 0.3 for the
# test scene; colours: 2 for the display on black, thousands for the
# scene).
looks_alive() {
	local want=$1 got
	size_is "$want" || return 1
	got=$(shot "$png" | tr '\n' ' ') || return 1
	read -r dim mean sd colours <<<"$got"
	[ "$dim" = "$want" ] &&
		awk -v m="$mean" -v s="$sd" 'BEGIN { exit !(m > 0.05 && s > 0.15) }' &&
		[ "${colours:-0}" -ge 32 ]
}

start_xvfb

# SDL's software renderer, presented with plain X11 calls, unless told
# otherwise: Xvfb has no GPU, so anything accelerated there is Mesa's
# llvmpipe, whose uninstrumented threads make TSan report races in Mesa.
render="SDL_RENDER_DRIVER=${SDL_RENDER_DRIVER:-software}"
render+=" SDL_FRAMEBUFFER_ACCELERATION=${SDL_FRAMEBUFFER_ACCELERATION:-0}"
tmux -L "$sock" -f /dev/null new-session -d -s demo -x 132 -y 43 \
	"env DISPLAY=$display $render '$bin' demo 2>'$tmp/demo.err'; echo \$? >'$tmp/rc'" ||
	fail "tmux did not start"

wait_for 30 window_id || fail "no layercast window within 30 s"
echo "window $win: $(window_size)"

png=$tmp/top.png
wait_for 60 looks_alive 640x360 ||
	fail "top layer: want 640x360 with varied pixels, got $(window_size) [$dim mean $mean sd $sd colours $colours]"
echo "top layer: $dim, luma mean $mean sd $sd, $colours colours: $png"

# Cap the layer at the base layer: one '-' per layer above it (and spare).
tmux -L "$sock" send-keys -t demo -l -- ----- || fail "send-keys"
png=$tmp/base.png
wait_for 60 looks_alive 160x90 ||
	fail "base layer: want 160x90 with varied pixels, got $(window_size) [$dim mean $mean sd $sd colours $colours]"
echo "base layer: $dim, luma mean $mean sd $sd, $colours colours: $png"

tmux -L "$sock" send-keys -t demo -l q || fail "send-keys"
wait_for 20 test -s "$tmp/rc" || fail "the demo did not exit within 20 s of q"
rc=$(cat "$tmp/rc")
[ "$rc" = 0 ] || fail "the demo exited with status $rc"
echo "PASS: screenshots $tmp/top.png $tmp/base.png"
