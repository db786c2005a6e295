#!/usr/bin/env bash
# CPU benchmark runner: times every workload ELF of bench/cpu under hostel
# and under qemu-system-riscv64 (TCG, virt board) in one run, and prints a
# table of guest instructions, seconds, MIPS and the hostel/QEMU ratio,
# with geometric means.  See docs/bench.md.
#
#   bench/cpu/run.sh [-n N] [--quick] [--qemu-only] [--only W,W...] [BUILD_DIR]
#
# BUILD_DIR (default: build) holds the meson build (ELFs in bench/cpu/).
# hostel is $HOSTEL_BIN or BUILD_DIR/hostel; QEMU is $QEMU_BIN or
# qemu-system-riscv64 from PATH.  Each time is the best of N runs (default 3)
# on a monotonic clock.  The instruction count is hostel's (--stats); QEMU's
# MIPS is derived from the same count.  Exits 1 if any workload fails its
# self-check (or does not run) on either emulator, 2 on a usage error.
set -u -o pipefail

ALL_WORKLOADS="list matmul crc32 interp divide stream randmem nbody raytrace"
INT_WORKLOADS="list matmul crc32 interp divide"   # the integer mix (own geomean)
MEM_WORKLOADS="stream randmem"
RUN_TIMEOUT=${BENCH_TIMEOUT:-300}   # seconds allowed for one run of one workload

usage() {
    echo "usage: run.sh [-n N] [--quick] [--qemu-only] [--only W,W...] [BUILD_DIR]" >&2
    echo "workloads: $ALL_WORKLOADS" >&2
    exit 2
}

die() {
    echo "run.sh: $*" >&2
    exit 2
}

# Runs "$@" once with its stdout+stderr in $OUT_FILE; prints "STATUS SECONDS".
# The clock is Python's perf_counter (monotonic), read around the child only.
TIMER_PY='
import subprocess, sys, time
out, timeout, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
with open(out, "wb") as f:
    t0 = time.perf_counter()
    try:
        status = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                                timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        status = 124
    except OSError as e:
        f.write(("cannot run %s: %s\n" % (cmd[0], e)).encode())
        status = 127
    t1 = time.perf_counter()
print(status, "%.6f" % (t1 - t0))
'
timed_run() {
    python3 -c "$TIMER_PY" "$OUT_FILE" "$RUN_TIMEOUT" "$@"
}

failure_reason() {
    case $1 in
    1) echo "checksum mismatch" ;;
    2) echo "out of guest memory" ;;
    3) echo "unexpected trap" ;;
    4) echo "internal self-test failed" ;;
    124) echo "timed out after ${RUN_TIMEOUT}s" ;;
    *) echo "exit status $1" ;;
    esac
}

# best_of EMU ELF: runs the ELF N times under EMU (hostel|qemu); sets BEST
# (seconds) and COUNT (instructions, hostel only); returns 1 (after reporting) on failure.
best_of() {
    local emu=$1 elf=$2 i status secs count
    BEST="" COUNT=""
    for ((i = 0; i < RUNS; i++)); do
        if [[ $emu == hostel ]]; then
            read -r status secs < <(timed_run "$HOSTEL" run --bios none -m 256M --stats -k "$elf")
        else
            read -r status secs < <(timed_run "$QEMU" -M virt -bios none -m 256M -nographic \
                -monitor none -kernel "$elf")
        fi
        if [[ $status != 0 ]]; then
            echo "FAIL: $(basename "$elf") under $emu: $(failure_reason "$status")" >&2
            sed 's/^/  | /' "$OUT_FILE" | tail -n 20 >&2
            return 1
        fi
        if [[ $emu == hostel ]]; then
            count=$(sed -n 's/.*instructions: *\([0-9][0-9]*\).*/\1/p' "$OUT_FILE" | tail -n 1)
            if [[ -z $count ]]; then
                echo "FAIL: hostel --stats printed no 'instructions: N' line" >&2
                return 1
            fi
            if [[ -n $COUNT && $count != "$COUNT" ]]; then
                echo "warning: $(basename "$elf"): instruction count changed between runs" \
                    "($COUNT, then $count)" >&2
            fi
            COUNT=$count
        fi
        BEST=$(awk -v a="$secs" -v b="$BEST" 'BEGIN { print (b == "" || a < b) ? a : b }')
    done
}

parse_args() {
    RUNS=3 QUICK=0 QEMU_ONLY=0 WORKLOADS=$ALL_WORKLOADS BUILD=build
    while [[ $# -gt 0 ]]; do
        case $1 in
        -n) [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || die "-n needs a positive integer"
            RUNS=$2; shift ;;
        --quick) QUICK=1 ;;
        --qemu-only) QEMU_ONLY=1 ;;
        --only) [[ $# -ge 2 ]] || usage
            WORKLOADS=${2//,/ }; shift ;;
        -h | --help) usage ;;
        -*) echo "run.sh: unknown option '$1'" >&2; usage ;;
        *) BUILD=$1 ;;
        esac
        shift
    done
    local w
    for w in $WORKLOADS; do
        [[ " $ALL_WORKLOADS " == *" $w "* ]] || die "unknown workload '$w' (known: $ALL_WORKLOADS)"
    done
}

find_tools() {
    [[ -d $BUILD ]] ||
        die "build directory '$BUILD' not found (meson setup $BUILD && ninja -C $BUILD)"
    HOSTEL=${HOSTEL_BIN:-$BUILD/hostel}
    QEMU=${QEMU_BIN:-qemu-system-riscv64}
    if [[ $QEMU_ONLY == 0 && ! -x $HOSTEL ]]; then
        die "hostel not found at '$HOSTEL' (build it, set HOSTEL_BIN, or use --qemu-only)"
    fi
    command -v "$QEMU" > /dev/null || die "QEMU not found: '$QEMU' (set QEMU_BIN)"
    command -v python3 > /dev/null || die "python3 is needed for the monotonic timer"
    SUFFIX=""
    [[ $QUICK == 1 ]] && SUFFIX=-quick
    local w
    for w in $WORKLOADS; do
        [[ -f $BUILD/bench/cpu/$w$SUFFIX.elf ]] || die "$BUILD/bench/cpu/$w$SUFFIX.elf missing" \
            "(ninja -C $BUILD; needs riscv64-linux-gnu-gcc)"
    done
}

print_header() {
    echo "CPU benchmark: best of $RUNS run(s)$([[ $QUICK == 1 ]] && echo ', quick mode')"
    echo "host:   $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)," \
        "$(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "qemu:   $("$QEMU" --version | head -n 1)"
    [[ $QEMU_ONLY == 0 ]] && echo "hostel: $HOSTEL"
    echo
    printf '%-10s %-5s %15s %9s %9s %9s %9s %9s %8s\n' workload class instructions \
        "hostel s" "hostel" "qemu s" "qemu" "hostel/" "speed"
    printf '%-10s %-5s %15s %9s %9s %9s %9s %9s %8s\n' "" "" "" "" MIPS "" MIPS qemu "% qemu"
}

workload_class() {
    if [[ " $INT_WORKLOADS " == *" $1 "* ]]; then
        echo int
    elif [[ " $MEM_WORKLOADS " == *" $1 "* ]]; then
        echo mem
    else
        echo fp
    fi
}

# Prints one row from $w, $INSNS, $H_SECS, $Q_SECS (any may be "" when unavailable);
# appends "class ratio hmips qmips" to $RESULTS when both times exist.
print_row() {
    awk -v w="$w" -v c="$(workload_class "$w")" -v n="$INSNS" -v h="$H_SECS" -v q="$Q_SECS" '
    function num(x, fmt) { return x == "" ? "-" : sprintf(fmt, x) }
    BEGIN {
        hm = (n != "" && h != "") ? n / h / 1e6 : ""
        qm = (n != "" && q != "") ? n / q / 1e6 : ""
        r = (h != "" && q != "") ? h / q : ""
        p = (r != "") ? 100 / r : ""
        printf "%-10s %-5s %15s %9s %9s %9s %9s %9s %8s\n", w, c, (n == "" ? "-" : n),
            num(h, "%.3f"), num(hm, "%.1f"), num(q, "%.3f"), num(qm, "%.1f"),
            (r == "" ? "-" : sprintf("%.2fx", r)), num(p, "%.1f%%")
    }'
    if [[ -n $H_SECS && -n $Q_SECS && -n $INSNS ]]; then
        RESULTS+="$(workload_class "$w") $INSNS $H_SECS $Q_SECS"$'\n'
    fi
}

# Prints geometric-mean rows over the integer-mix workloads and over all.
print_geomeans() {
    [[ -n $RESULTS ]] || return 0
    echo
    printf '%s' "$RESULTS" | awk '
    function row(name, k) {
        if (cnt[k] == 0) return
        r = exp(lr[k] / cnt[k])
        printf "%-16s %15s %9s %9.1f %9s %9.1f %9.2fx %7.1f%%\n", name, cnt[k] " workloads", "",
            exp(lh[k] / cnt[k]), "", exp(lq[k] / cnt[k]), r, 100 / r
    }
    {
        for (k = 0; k < 2; k++) {
            if (k == 0 && $1 != "int") continue
            cnt[k]++
            lh[k] += log($2 / $3 / 1e6); lq[k] += log($2 / $4 / 1e6); lr[k] += log($3 / $4)
        }
    }
    END { row("geomean (int)", 0); row("geomean (all)", 1) }'
}

main() {
    parse_args "$@"
    find_tools
    OUT_FILE=$(mktemp "${TMPDIR:-/tmp}/hostel-bench.XXXXXX")
    trap 'rm -f "$OUT_FILE"' EXIT
    print_header
    local w elf failed=0
    RESULTS=""
    for w in $WORKLOADS; do
        elf=$BUILD/bench/cpu/$w$SUFFIX.elf
        H_SECS="" Q_SECS="" INSNS=""
        if [[ $QEMU_ONLY == 0 ]]; then
            if best_of hostel "$elf"; then H_SECS=$BEST INSNS=$COUNT; else failed=1; fi
        fi
        if best_of qemu "$elf"; then Q_SECS=$BEST; else failed=1; fi
        print_row
    done
    print_geomeans
    if [[ $failed != 0 ]]; then
        echo "run.sh: at least one workload FAILED (see above)" >&2
        exit 1
    fi
}

main "$@"
