# test/scripts/checks.sh - the tally of a test script's checks (sourced by
# metrics.sh, console.sh, standby.sh): ok NAME, bad NAME, and check NAME
# EXPECTED ACTUAL, each printing an "ok - " or "not ok - " line and
# counting it in checks and fails.
checks=0
fails=0
ok() { checks=$((checks + 1)); echo "ok - $1"; }
bad() { checks=$((checks + 1)); fails=$((fails + 1)); echo "not ok - $1"; }
check() {	# check NAME EXPECTED ACTUAL
	if [ "$2" == "$3" ]; then ok "$1"; else bad "$1: expected [$2], got [$3]"; fi
}
