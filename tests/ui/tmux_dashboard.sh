#!/usr/bin/env bash
# ui_dashboard: the ncurses dashboard of `layercast demo --no-video`, driven
# through a real terminal (tmux send-keys / capture-pane):
#  1. the peer table fills with the demo's relays and the source;
#  2. l: the state turns "left", the table empties, the status line says so;
#  3. j: the viewer joins again and its neighbours come back;
#  4. s: the sort column moves (its heading gets the '*');
#  5. ?: the help overlay lists the keys;
#  6. resized to 80x24 the layout fits (status line on the last row, short
#     peer ids); at 160x50 it uses the room (full ids, extra columns, more
#     peer rows);
#  7. q: the demo exits with status 0.
# Every wait polls a condition with a bound (capture-pane every 0.2 s).
#
#   tmux_dashboard.sh LAYERCAST
set -u

bin=${1:?usage: tmux_dashboard.sh LAYERCAST}
command -v tmux >/dev/null || { echo "SKIP: tmux not installed"; exit 77; }

tmp=$(mktemp -d /tmp/lc_ui_dashboard.XXXXXX)
sock=lc_ui_dashboard_$$
T() { tmux -L "$sock" "$@"; }

cleanup() {
	T kill-server 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

screen() { T capture-pane -p -t demo; }

fail() {
	echo "FAIL: $*"
	echo "--- screen"
	screen
	echo "--- demo stderr"
	tail -n 30 "$tmp/demo.err" 2>/dev/null
	trap - EXIT
	T kill-server 2>/dev/null
	echo "files: $tmp"
	exit 1
}

. "$(dirname "$0")/wait_for.sh"

shows() { screen | grep -q -- "$1"; }
lacks() { ! screen | grep -q -- "$1"; }
# Rows of the peer table: lines with an address and a link direction.
peer_rows() { screen | grep -cE ' 127\.0\.0\.1:[0-9]+ +(out|in) '; }
peers_at_least() { [ "$(peer_rows)" -ge "$1" ]; }
no_peers() { [ "$(peer_rows)" -eq 0 ]; }
exited() { [ -s "$tmp/status" ]; }

# A UTF-8 terminal of 100x30; the demo's exit status goes to a file.
T -f /dev/null new-session -d -s demo -x 100 -y 30 \
	"LANG=C.UTF-8 '$bin' demo --no-video 2>'$tmp/demo.err'; echo \$? >'$tmp/status'; sleep 60" ||
	fail "tmux did not start"

# 1. The source and the three relays are the viewer's neighbours.
wait_for 20 peers_at_least 4 || fail "the peer table did not fill (4 rows)"
wait_for 20 shows "state playing" || fail "the viewer does not play"
wait_for 20 shows "lag [0-9.]* s" || fail "no lag figure: nothing played"
shows "stream layercast" || fail "no stream in the header"
screen | grep -qE ' source *$' || fail "the source is not marked in the peer table"
shows "L0 " || fail "no per-layer rates"
shows "size history" || fail "no churn section"
echo "ok: $(peer_rows) peers, playing"

# 2. Leave.
T send-keys -t demo l
wait_for 5 shows "state left" || fail "no 'left' state after l"
wait_for 5 no_peers || fail "the peer table did not empty after l"
shows "left the swarm" || fail "no status message after l"
echo "ok: left"

# 3. Join again.
T send-keys -t demo j
wait_for 10 peers_at_least 4 || fail "the peers did not come back after j"
shows "joining the swarm" || fail "no status message after j"
echo "ok: joined again"

# 4. Sort: the heading's '*' moves from "peer" to "address".
shows "peer\*" || fail "no sort mark on the first column"
T send-keys -t demo s
wait_for 5 shows "address\*" || fail "s did not move the sort column"
echo "ok: sorted by address"

# 5. Help.
T send-keys -t demo '?'
wait_for 5 shows "leave the swarm (BYE to all" || fail "no help overlay after ?"
T send-keys -t demo Escape
wait_for 5 lacks "leave the swarm (BYE to all" || fail "Esc did not close the help"
echo "ok: help"

# 6. Resize: 80x24 fits, 160x50 uses the room.
T resize-window -t demo -x 80 -y 24
wait_for 5 bash -c "[ \$(tmux -L '$sock' capture-pane -p -t demo | wc -l) -eq 24 ]" ||
	fail "the pane is not 80x24"
wait_for 5 bash -c "tmux -L '$sock' capture-pane -p -t demo | tail -n 1 | grep -q 'q quit'" ||
	fail "at 80x24 the status line is not on the last row"
screen | grep -qE '^ [0-9a-f]{8} +127\.0\.0\.1' || fail "at 80 columns the peer ids are not short"
lacks "adv kb/s" || fail "80 columns show the wide columns"
echo "ok: 80x24"
T resize-window -t demo -x 160 -y 50
wait_for 5 shows "adv kb/s" || fail "at 160 columns no extra columns"
screen | grep -qE '^ [0-9a-f]{16} +127\.0\.0\.1' || fail "at 160 columns the peer ids are short"
wait_for 5 bash -c "tmux -L '$sock' capture-pane -p -t demo | tail -n 1 | grep -q 'q quit'" ||
	fail "at 160x50 the status line is not on the last row"
echo "ok: 160x50"

# 7. Quit.
T send-keys -t demo q
wait_for 15 exited || fail "the demo did not exit after q"
status=$(cat "$tmp/status")
[ "$status" = 0 ] || fail "the demo exited with status $status"
echo "ok: q exits 0"
echo "all checks passed"
