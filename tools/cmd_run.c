/*
 * `hostel run`: parse lkvm-shaped flags into a VmConfig, build the machine
 * (or restore it from a state file), wrap it in a VMM (console on this
 * terminal or on a console socket, console log, control socket, snapshots
 * under $XDG_STATE_HOME), run it and
 * map how it ended to the exit status.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/block.h"
#include "cidata.h"
#include "cli.h"
#include "control/control.h"
#include "machine/boot.h"
#include "machine/machine.h"
#include "machine/machine_state.h"
#include "machine/vmconfig.h"
#include "util/compiler.h"
#include "util/error.h"
#include "util/io.h"
#include "util/log.h"
#include "util/size.h"
#include "state/channel.h"
#include "vmm/console.h"
#include "vmm/migrate_tls.h"
#include "vmm/migrate_uri.h"
#include "vmm/vmm.h"

enum { EXIT_USAGE = CLI_EXIT_USAGE, EXIT_LIMIT = 124 };

/* ---- signals: the only state outside a handler's locals ---- */

static volatile bool *signal_stop_flag;     /* the running machine's stop flag */
static Machine *signal_machine;             /* woken from its idle wait */
static volatile sig_atomic_t signal_caught; /* number of the signal that stopped it */

static void on_stop_signal(int sig)
{
    signal_caught = sig;
    if (signal_stop_flag)
        *signal_stop_flag = true;
    if (signal_machine)
        machine_kick(signal_machine); /* async-signal-safe: an eventfd write */
}

/* SIGINT/SIGTERM stop the machine (a second one kills); SIGPIPE is ignored. */
static void install_signal_handlers(Machine *m, volatile bool *stop)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    signal_stop_flag = stop;
    signal_machine = m;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* ---- argument parsing helpers ---- */

/* Parse a decimal unsigned number that must fill the whole string. */
static bool parse_u64(const char *s, uint64_t *out, char **end)
{
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, end, 10);
    if (errno)
        return false;
    *out = v;
    return true;
}

/* A size of run's options (docs/cli.md "Sizes"): a plain number is MiB, "512MiB" is allowed. */
static bool parse_size(const char *s, uint64_t *bytes)
{
    return size_parse(s, SIZE_PLAIN_MIB | SIZE_LONG_UNITS, bytes, NULL) == 0;
}

/* ---- hostel run ---- */

/* The console kept by the VMM (docs/vmm.md "The console socket"). */
typedef struct RunConsole {
    const char *socket; /* --console-socket: serve the console there, not on stdio */
    const char *log;    /* --console-log: append the console's output there */
    uint64_t log_size;  /* --console-log-size: rotate past this (0 = the default) */
} RunConsole;

typedef struct RunOptions {
    VmConfig vm;              /* the machine: --config, then -m -c -d --net -k -i -p --bios */
    MachineHost host;         /* what the process lends it: console output, --max-insns */
    int in_fd;                /* console input (the VMM reads it) */
    const char *dump_dtb;     /* --dump-dtb */
    const char *config;       /* --config: the definition the flags start from */
    bool print_config;        /* --print-config */
    const char *machine_flag; /* the first flag that describes the machine (not with --restore) */
    const char *shape_flag;   /* the first such flag but -d and --net (not with --incoming) */
    bool net_given;           /* a --net was given: no default card */
    bool net_none;            /* --net none was given */
    bool ram_given;           /* -m was given */
    const char *cloud_init;   /* --cloud-init: the NoCloud seed's files */
    bool layout_changed;      /* -d or --net changed the disks or cards */
    bool input;               /* --input: a virtio keyboard and tablet */
    VmVnc vnc;                /* --display vnc=...: the VNC server ("" = none) */
    bool stats;               /* --stats */
    const char *name;         /* --name */
    const char *control;      /* --control: the control socket's path */
    const char *restore;      /* --restore: a state file to continue */
    const char *incoming;     /* --incoming: wait for a migration stream there */
    const char *tls_creds;    /* --tls-creds: the incoming stream comes over TLS */
    const char *snapshot_dir; /* --snapshot-dir: where the live snapshots go */
    const char *exit_file;    /* --exit-file: how the run ended, as JSON, written at exit */
    RunConsole console;       /* --console-socket, --console-log, --console-log-size */
    char default_paths[3][4096]; /* the default guest's files, when -k is absent */
} RunOptions;

enum {
    OPT_BIOS = 256,
    OPT_STATS,
    OPT_MAX_INSNS,
    OPT_DUMP_DTB,
    OPT_NET,
    OPT_NAME,
    OPT_CONTROL,
    OPT_RESTORE,
    OPT_INCOMING,
    OPT_TLS_CREDS,
    OPT_LOG_LEVEL,
    OPT_LOG_FORMAT,
    OPT_CONFIG,
    OPT_PRINT_CONFIG,
    OPT_SNAPSHOT_DIR,
    OPT_EXIT_FILE,
    OPT_CONSOLE_SOCKET,
    OPT_CONSOLE_LOG,
    OPT_CONSOLE_LOG_SIZE,
    OPT_DISPLAY,
    OPT_INPUT,
    OPT_VNC,
    OPT_CONSOLE,
    OPT_CLOUD_INIT,
};

#define DEFAULT_CMDLINE "console=ttyS0 earlycon=sbi"
#define DEFAULT_GUEST_HINT "build it with 'make guest' (or run 'make run')"

static const struct option run_long_options[] = {
    {"kernel", required_argument, NULL, 'k'},
    {"initrd", required_argument, NULL, 'i'},
    {"disk", required_argument, NULL, 'd'},
    {"net", required_argument, NULL, OPT_NET},
    {"display", required_argument, NULL, OPT_DISPLAY},
    {"input", no_argument, NULL, OPT_INPUT},
    {"vnc", required_argument, NULL, OPT_VNC},
    {"cloud-init", required_argument, NULL, OPT_CLOUD_INIT},
    {"params", required_argument, NULL, 'p'},
    {"bios", required_argument, NULL, OPT_BIOS},
    {"dump-dtb", required_argument, NULL, OPT_DUMP_DTB},
    {"name", required_argument, NULL, OPT_NAME},
    {"control", required_argument, NULL, OPT_CONTROL},
    {"restore", required_argument, NULL, OPT_RESTORE},
    {"incoming", required_argument, NULL, OPT_INCOMING},
    {"tls-creds", required_argument, NULL, OPT_TLS_CREDS},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"print-config", no_argument, NULL, OPT_PRINT_CONFIG},
    {"snapshot-dir", required_argument, NULL, OPT_SNAPSHOT_DIR},
    {"exit-file", required_argument, NULL, OPT_EXIT_FILE},
    {"console", required_argument, NULL, OPT_CONSOLE},
    {"console-socket", required_argument, NULL, OPT_CONSOLE_SOCKET},
    {"console-log", required_argument, NULL, OPT_CONSOLE_LOG},
    {"console-log-size", required_argument, NULL, OPT_CONSOLE_LOG_SIZE},
    {"mem", required_argument, NULL, 'm'},
    {"cpus", required_argument, NULL, 'c'},
    {"stats", no_argument, NULL, OPT_STATS},
    {"max-insns", required_argument, NULL, OPT_MAX_INSNS},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void run_help(FILE *out)
{
    fprintf(out,
            "usage: hostel run [options] [-k KERNEL]\n"
            "\n"
            "Run a guest on a QEMU virt-compatible RV64GC machine.  With no -k, boots the\n"
            "first disk if it has a partition table, as a PC does: Debian's OpenSBI and\n"
            "U-Boot (packages opensbi, u-boot-qemu) boot its extlinux.conf or EFI loader\n"
            "(default RAM 1G then; docs/images.md); else the default guest that\n"
            "guest/build.sh built under ~/.cache/hostel/guest.\n"
            "A Linux Image is entered in S-mode with SBI served by hostel itself, unless\n"
            "--bios gives M-mode firmware (OpenSBI).  An ELF file is run bare-metal:\n"
            "entered in M-mode at its entry point (as with --bios none).\n"
            "\n"
            "options:\n"
            "  -k, --kernel FILE   Linux Image, or bare-metal ELF program\n"
            "  -i, --initrd FILE   initramfs for the kernel\n"
            "  -d, --disk FILE[,OPT...]  disk image as virtio-blk (/dev/vda, vdb...; up to 6);\n"
            "                      the format (raw or qcow2, with its backing chain) is\n"
            "                      probed; options: ro (read-only), format=raw|qcow2 (say\n"
            "                      it for images a guest writes raw: see docs/img.md),\n"
            "                      l2-cache-size=SIZE (qcow2 metadata cache, default 1M);\n"
            "                      an image can have one writer\n"
            "      --net user[,hostfwd=tcp:ADDR:HOSTPORT-:GUESTPORT]...[,mac=MAC]\n"
            "                      virtio-net card on user-mode networking (the default:\n"
            "                      plain 'user'): the guest gets 10.0.2.15 by DHCP and\n"
            "                      reaches the host at 10.0.2.2; hostfwd forwards a host\n"
            "                      port to a guest port;\n"
            "      --net tap,ifname=NAME[,mac=MAC] | tap,fd=N[,mac=MAC]\n"
            "                      virtio-net card on the host's tap interface NAME\n"
            "                      (make it with: ip tuntap add dev NAME mode tap user\n"
            "                      $USER), or on an open tap inherited as fd N; the guest\n"
            "                      is on whatever network the tap is;\n"
            "      --net socket,path=PATH[,mac=MAC] | socket,fd=N[,mac=MAC]\n"
            "                      virtio-net card on a unix SOCK_SEQPACKET socket, one\n"
            "                      Ethernet frame per message: connect to the listener\n"
            "                      PATH (e.g. hostel switch --listen PATH; tried again\n"
            "                      every second while nobody listens, the link down), or\n"
            "                      use the connected socket inherited as fd N (N >= 3;\n"
            "                      the two ends of a socketpair join two VMs directly);\n"
            "      --net network,name=NET,fd=N[,vlan=V|,trunk=V:V...[,native=V]]\n"
            "                      [,isolated][,spoof-check=off][,rate=MBIT][,flood=PPS]\n"
            "                      a port of hosteld's network NET: hosteld passes its\n"
            "                      socket as fd N (as socket,fd=N); the other options are\n"
            "                      the switch port's, for hosteld;\n"
            "                      each --net adds a card (eth0, eth1...; up to 6, default\n"
            "                      MACs 52:54:00:12:34:56, :57...); '--net none': no card\n"
            "                      (docs/net.md)\n"
            "      --display none | headless[,width=W,height=H]\n"
            "              | vnc=HOST:PORT|unix:PATH[,width=W,height=H,password-file=F]\n"
            "                      headless: a virtio-gpu display (default 1024x768, W and\n"
            "                      H 16 to 4095) without a viewer; vnc=: with a VNC server\n"
            "                      there and the --input devices; TCP beyond loopback needs\n"
            "                      password-file= (VNC auth, first line, 8 bytes count)\n"
            "                      (docs/display.md)\n"
            "      --vnc HOST:PORT|unix:PATH[,password-file=F]\n"
            "                      a VNC server for the display the machine has (from\n"
            "                      --config, --restore or --incoming; hosteld's way), as\n"
            "                      --display vnc= without changing the machine\n"
            "      --cloud-init USER-DATA[,meta-data=FILE][,network-config=FILE]\n"
            "                      a cloud-init NoCloud seed (a read-only FAT disk labelled\n"
            "                      CIDATA, made with mkfs.vfat and mcopy, kept by content\n"
            "                      in ~/.cache/hostel/cidata) as the last disk: hostname,\n"
            "                      users, SSH keys, first-boot commands; without meta-data,\n"
            "                      instance-id from the content and local-hostname from\n"
            "                      --name (docs/images.md)\n"
            "      --input         a virtio-input keyboard and tablet (absolute pointer)\n"
            "                      in two free virtio slots, for a display's front end\n"
            "                      (docs/display.md)\n"
            "  -p, --params TEXT   kernel command line (default with the default guest:\n"
            "                      \"" DEFAULT_CMDLINE "\")\n"
            "      --bios FILE     M-mode firmware run first (e.g. OpenSBI fw_dynamic.bin;\n"
            "                      the default for a disk boot); 'none' runs an ELF -k\n"
            "                      bare-metal\n"
            "      --dump-dtb FILE write the device tree the guest would get, then exit\n"
            "      --name NAME     the VM's name (letters, digits, '.', '_', '-'; up to 64),\n"
            "                      shown in hostel's messages as hostel[NAME]; the VM\n"
            "                      listens on the control socket\n"
            "                      $XDG_RUNTIME_DIR/hostel/NAME.sock (or /run/hostel/NAME.sock)\n"
            "                      for 'hostel ctl|pause|resume NAME' (docs/control.md)\n"
            "      --control PATH  the control socket's path instead\n"
            "      --snapshot-dir DIR  where live snapshots are kept (default with --name:\n"
            "                      $XDG_STATE_HOME/hostel/snapshots/NAME)\n"
            "      --exit-file FILE  at exit, write how the run ended to FILE as JSON\n"
            "                      ({\"status\", \"reason\", \"message\"}: docs/cli.md)\n"
            "      --incoming URI  wait for a live migration (unix:PATH, tcp:HOST:PORT or\n"
            "                      fd:N), then run the VM it brings (docs/migration.md;\n"
            "                      no -k/-i/-p/-m/-c with it); -d and --net replace, in\n"
            "                      order, its disks' paths and its cards (a tap of this\n"
            "                      host...): their formats and MACs stay\n"
            "      --tls-creds DIR with --incoming: the stream comes over TLS; DIR holds\n"
            "                      ca-cert.pem, server-cert.pem and server-key.pem, and the\n"
            "                      source must show a certificate ca-cert.pem signed\n"
            "      --restore FILE  continue a VM saved by 'hostel suspend' (docs/state.md):\n"
            "                      RAM, harts, devices, disks and network come from FILE\n"
            "                      (no -k/-i/-p/-d/--net/-m/-c with it)\n"
            "  -m, --mem SIZE      guest RAM with a K/M/G/T suffix (default 128M, 1G for a\n"
            "                      disk boot through firmware; minimum 16M); a plain\n"
            "                      number is MiB\n"
            "  -c, --cpus N        number of harts, 1 to 8 (default 1)\n"
            "      --config FILE   start from the VM definition in FILE (JSON, as\n"
            "                      --print-config writes it: docs/cli.md); -m, -c, -k, -i,\n"
            "                      -p and --bios override it, -d and --net add to it\n"
            "      --print-config  print the VM definition the options give (JSON) and\n"
            "                      exit without running\n"
            "\n"
            "console: the guest's serial port is this terminal, in raw mode; type\n"
            "C-a x to quit, C-a h for help.  One console only (docs/vmm.md):\n"
            "      --console serial|virtio  which device is the console: serial (the\n"
            "                      default; alias ttyS0) is the 16550 UART and the SBI\n"
            "                      console, virtio (alias hvc0) virtio-console's console\n"
            "                      port, a Linux hvc (hvc0 on distribution kernels, hvc1\n"
            "                      with the default guest's SBI console); the other one is\n"
            "                      not attached.  Or (docs/vmm.md \"The console socket\"):\n"
            "      --console-socket PATH  serve the console on a unix socket (mode 0600)\n"
            "                      to any number of clients, with the last 1 MiB of\n"
            "                      output as history; one client at a time types.\n"
            "                      stdin is then not read and stdout gets no console\n"
            "                      output (hosteld starts VMs so)\n"
            "      --console-log FILE  append all console output to FILE (mode 0600),\n"
            "                      rotated to FILE.1 (one old generation kept) when it\n"
            "                      reaches --console-log-size\n"
            "      --console-log-size SIZE  default 4M; a plain number is MiB\n"
            "      --stats         at exit, print instructions, seconds and MIPS to stderr\n"
            "      --max-insns N   stop after about N instructions (exit status 124)\n"
            "      --log-level LEVEL, --log-format FMT  as before the command (hostel --help)\n"
            "  -h, --help          show this help and exit\n"
            "\n"
            "exit status: the guest's result (0 = pass, N = the failure code it gave the\n"
            "test finisher or HTIF); 1 = the guest could not be started; 2 = bad command\n"
            "line; 124 = --max-insns reached; 128+N = stopped by signal N.\n");
}

/* Report a bad command line in one line; returns EXIT_USAGE. */
static int run_usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "hostel run: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see 'hostel run --help')\n");
    return EXIT_USAGE;
}

/* Describe the option getopt_long could not take (unknown or missing argument). */
static int run_bad_option(int c, char **argv)
{
    const char *arg = argv[optind - 1]; /* right for long options */
    char shortopt[3] = {'-', (char)optopt, '\0'};
    if ((c == '?' && optopt) || (c == ':' && strncmp(arg, "--", 2) != 0))
        arg = shortopt; /* a short option, maybe inside a cluster */
    if (c == ':')
        return run_usage_error("option '%s' needs an argument", arg);
    return run_usage_error("unknown option '%s'", arg);
}

static int run_set_cpus(RunOptions *o, const char *arg)
{
    uint64_t n;
    char *end;
    if (!parse_u64(arg, &n, &end) || *end || n == 0)
        return run_usage_error("-c '%s': expected a number of harts", arg);
    if (n > MACHINE_MAX_HARTS)
        return run_usage_error("-c '%s': 1 to 8 harts are supported", arg);
    o->vm.nharts = (unsigned)n;
    return 0;
}

/* One ",key[=value]" of -d; 0, or the usage exit status. */
static int run_disk_option(VmDisk *d, char *opt, const char *arg)
{
    if (strcmp(opt, "ro") == 0 || strcmp(opt, "rw") == 0) {
        d->read_only = opt[1] == 'o';
    } else if (strncmp(opt, "format=", 7) == 0) {
        if (strcmp(opt + 7, "raw") != 0 && strcmp(opt + 7, "qcow2") != 0)
            return run_usage_error("-d '%s': format is raw or qcow2", arg);
        d->format = opt + 7;
    } else if (strncmp(opt, "l2-cache-size=", 14) == 0) {
        if (!parse_size(opt + 14, &d->l2_cache_bytes) || d->l2_cache_bytes > (1ull << 32))
            return run_usage_error("-d '%s': l2-cache-size is a size up to 4G (e.g. 4M)", arg);
    } else {
        return run_usage_error("-d '%s': unknown disk option (ro, rw, format=, l2-cache-size=)",
                               arg);
    }
    return 0;
}

/* -d PATH[,ro][,format=F][,l2-cache-size=S]: cut in place, then copied into the definition. */
static int run_add_disk(RunOptions *o, char *arg)
{
    if (o->vm.ndisks == MACHINE_MAX_DISKS)
        return run_usage_error("-d '%s': at most 6 disks", arg);
    VmDisk disk = {.path = arg}, *d = &disk;
    for (char *comma = strchr(arg, ','); comma;) {
        *comma = '\0';
        char *opt = comma + 1, *next = strchr(opt, ',');
        if (next)
            *next = '\0';
        int rc = run_disk_option(d, opt, opt);
        if (next)
            *next = ',';
        if (rc)
            return rc;
        comma = next;
    }
    if (!*arg)
        return run_usage_error("-d '%s': expected an image path", arg);
    Error err = {0};
    if (vmconfig_add_disk(&o->vm, d, &err) < 0)
        return run_usage_error("%s", err.msg);
    o->layout_changed = true;
    return 0;
}

/* --net SPEC: each adds a card; 'none' (alone) means no card, not even --config's. */
static int run_add_net(RunOptions *o, const char *arg)
{
    Error err = {0};
    NetConfig nic;
    if (net_config_parse_nic(&nic, arg, o->vm.nnics, &err) < 0)
        return run_usage_error("%s", err.msg);
    bool none = nic.kind == NET_NONE;
    if (o->net_given && (none || o->net_none))
        return run_usage_error("--net '%s': '--net none' (no card) cannot be given with "
                               "another --net",
                               arg);
    o->net_given = true;
    o->net_none = none;
    o->layout_changed = true;
    if (none) {
        o->vm.nnics = 0;
        return 0;
    }
    if (vmconfig_add_nic(&o->vm, &nic, &err) < 0) {
        char msg[sizeof(err.msg) + 64];
        snprintf(msg, sizeof(msg), "--net '%.40s': %s", arg, err.msg);
        return run_usage_error("%s", msg);
    }
    return 0;
}

/*
 * --vnc HOST:PORT|unix:PATH[,password-file=F]: the VNC server of --display
 * vnc= for the display the machine has already (not a machine flag: it
 * goes with --restore and --incoming too).
 */
static int run_set_vnc(RunOptions *o, const char *arg)
{
    char spec[sizeof(o->vnc.listen) + sizeof(o->vnc.password_file) + 32];
    VmDisplay unused;
    Error err = {0};
    if (strstr(arg, "width=") || strstr(arg, "height="))
        return run_usage_error("--vnc '%s': the display's size is the machine's (--display)", arg);
    if (snprintf(spec, sizeof(spec), "vnc=%s", arg) >= (int)sizeof(spec))
        return run_usage_error("--vnc '%.60s...': too long", arg);
    if (vmconfig_display_parse_vnc(&unused, &o->vnc, spec, &err) < 0)
        return run_usage_error("--vnc: %s", err.msg);
    return 0;
}

/* --display none|headless|vnc=ADDR[,width=W,height=H,password-file=F]: the last one counts. */
static int run_set_display(RunOptions *o, const char *arg)
{
    Error err = {0};
    if (vmconfig_display_parse_vnc(&o->vm.display, &o->vnc, arg, &err) < 0)
        return run_usage_error("%s", err.msg);
    o->layout_changed = true;
    return 0;
}

/* --console serial|virtio (ttyS0, hvc0): which device is the console. */
static int run_set_console_kind(RunOptions *o, const char *arg)
{
    Error err = {0};
    if (vmconfig_console_parse(&o->vm.console, arg, &err) < 0)
        return run_usage_error("%s", err.msg);
    return 0;
}

/* --name: a VM name fit for messages and socket paths. */
static int run_set_name(RunOptions *o, const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64 ||
        strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789._-") != n ||
        name[0] == '.')
        return run_usage_error("--name '%s': use 1 to 64 letters, digits, '.', '_' or '-' "
                               "(not starting with '.')",
                               name);
    log_set_name(name);
    o->name = name;
    return 0;
}

/* --console-socket PATH, --console-log FILE (non-empty), --console-log-size SIZE (>= 1K). */
static int run_set_console(RunConsole *con, int c, const char *arg)
{
    if (c == OPT_CONSOLE_LOG_SIZE) {
        if (!parse_size(arg, &con->log_size) || con->log_size < 1024)
            return run_usage_error("--console-log-size '%s': a size of at least 1K (e.g. 4M)", arg);
        return 0;
    }
    if (!*arg)
        return run_usage_error("%s '': expected a path",
                               c == OPT_CONSOLE_SOCKET ? "--console-socket" : "--console-log");
    *(c == OPT_CONSOLE_SOCKET ? &con->socket : &con->log) = arg;
    return 0;
}

/* Set one of the definition's strings (-k, -i, -p, --bios); 0 or an exit status. */
static int run_set_string(char **slot, const char *arg)
{
    Error err = {0};
    if (vmconfig_set_string(slot, arg, &err) < 0)
        return run_usage_error("%s", err.msg);
    return 0;
}

/* The flag of option c when it describes the machine (refused with --restore), else NULL. */
static const char *run_machine_flag(int c)
{
    switch (c) {
    case 'k': return "-k";
    case 'i': return "-i";
    case 'p': return "-p";
    case 'd': return "-d";
    case 'm': return "-m";
    case 'c': return "-c";
    case OPT_BIOS: return "--bios";
    case OPT_NET: return "--net";
    case OPT_DISPLAY: return "--display";
    case OPT_INPUT: return "--input";
    case OPT_CONSOLE: return "--console";
    case OPT_CLOUD_INIT: return "--cloud-init";
    case OPT_DUMP_DTB: return "--dump-dtb";
    case OPT_CONFIG: return "--config";
    default: return NULL;
    }
}

/* A path option's value (not empty); 0 or the usage exit status. */
static int run_set_path(const char **dst, const char *value, const char *opt)
{
    if (!*value)
        return run_usage_error("%s: expected a path", opt);
    *dst = value;
    return 0;
}

/* Apply one parsed option; returns 0 or an exit status. */
static int run_apply_option(RunOptions *o, int c, char **argv)
{
    char *end;
    if (!o->machine_flag)
        o->machine_flag = run_machine_flag(c);
    if (!o->shape_flag && c != 'd' && c != OPT_NET)
        o->shape_flag = run_machine_flag(c);
    switch (c) {
    case 'k': return run_set_string(&o->vm.boot.kernel, optarg);
    case 'i': return run_set_string(&o->vm.boot.initrd, optarg);
    case 'd': return run_add_disk(o, optarg);
    case OPT_CLOUD_INIT: return run_set_path(&o->cloud_init, optarg, "--cloud-init");
    case OPT_NET: return run_add_net(o, optarg);
    case OPT_DISPLAY: return run_set_display(o, optarg);
    case OPT_INPUT: o->input = true; return 0;
    case OPT_VNC: return run_set_vnc(o, optarg);
    case OPT_CONSOLE: return run_set_console_kind(o, optarg);
    case 'p': return run_set_string(&o->vm.boot.cmdline, optarg);
    case OPT_CONFIG: return 0; /* read before every other option: run_read_config */
    case OPT_PRINT_CONFIG: o->print_config = true; return 0;
    case OPT_DUMP_DTB: o->dump_dtb = optarg; return 0;
    case OPT_NAME: return run_set_name(o, optarg);
    case OPT_RESTORE: o->restore = optarg; return 0;
    case OPT_INCOMING: o->incoming = optarg; return 0;
    case OPT_TLS_CREDS: o->tls_creds = optarg; return 0;
    case OPT_SNAPSHOT_DIR: return run_set_path(&o->snapshot_dir, optarg, "--snapshot-dir");
    case OPT_EXIT_FILE: return run_set_path(&o->exit_file, optarg, "--exit-file");
    case OPT_CONSOLE_SOCKET:
    case OPT_CONSOLE_LOG:
    case OPT_CONSOLE_LOG_SIZE: return run_set_console(&o->console, c, optarg);
    case OPT_CONTROL:
        if (!*optarg)
            return run_usage_error("--control '%s': expected a socket path", optarg);
        o->control = optarg;
        return 0;
    case 'c': return run_set_cpus(o, optarg);
    case OPT_STATS: o->stats = true; return 0;
    case 'm':
        o->ram_given = true;
        if (!parse_size(optarg, &o->vm.ram_size))
            return run_usage_error("-m '%s': not a size (examples: 512M, 2G)", optarg);
        return 0;
    case OPT_BIOS: return run_set_string(&o->vm.boot.bios, optarg);
    case OPT_MAX_INSNS:
        if (!parse_u64(optarg, &o->host.max_insns, &end) || *end || !o->host.max_insns)
            return run_usage_error("--max-insns '%s': expected a positive number", optarg);
        return 0;
    case OPT_LOG_LEVEL: return cli_log_option("run", "--log-level", optarg) == 1 ? 0 : EXIT_USAGE;
    case OPT_LOG_FORMAT: return cli_log_option("run", "--log-format", optarg) == 1 ? 0 : EXIT_USAGE;
    case 'h': run_help(stdout); return -1;
    default: return run_bad_option(c, argv);
    }
}

/* Point -k/-i (and -p if absent) at the default guest's cached build. */
static int run_default_guest(RunOptions *o)
{
    static const char *const names[] = {"Image", "initramfs.cpio.gz"};
    const char *cache = getenv("HOSTEL_CACHE"), *home = getenv("HOME");
    char dir[3000];
    if (cache && *cache)
        snprintf(dir, sizeof(dir), "%s/guest", cache);
    else
        snprintf(dir, sizeof(dir), "%s/.cache/hostel/guest", home ? home : ".");
    for (int i = 0; i < 2; i++) {
        snprintf(o->default_paths[i], sizeof(o->default_paths[i]), "%s/%s", dir, names[i]);
        if (access(o->default_paths[i], R_OK) != 0) {
            fprintf(stderr, "hostel: no -k given and the default guest is missing (%s): %s\n",
                    o->default_paths[i], DEFAULT_GUEST_HINT);
            return 1;
        }
    }
    VmBoot *b = &o->vm.boot;
    if (vmconfig_set_string(&b->kernel, o->default_paths[0], NULL) < 0 ||
        (!b->initrd && vmconfig_set_string(&b->initrd, o->default_paths[1], NULL) < 0) ||
        (!b->cmdline && vmconfig_set_string(&b->cmdline, DEFAULT_CMDLINE, NULL) < 0)) {
        fprintf(stderr, "hostel: out of memory\n");
        return 1;
    }
    return 0;
}

/*
 * No -k: when the first disk looks bootable (a partition table: the boot
 * signature), boot it through firmware as a PC does (Debian's OpenSBI, or
 * --bios, with Debian's U-Boot as its payload); else the default guest.
 * Returns 0 or an exit status.
 */
static int run_default_boot(RunOptions *o)
{
    VmBoot *b = &o->vm.boot;
    bool firmware = false;
    if (!b->initrd && o->vm.ndisks > 0 && !(b->bios && strcmp(b->bios, "none") == 0)) {
        Error err = {0};
        int r = block_probe_bootable(o->vm.disks[0].path, o->vm.disks[0].format, &err);
        if (r < 0) {
            fprintf(stderr, "hostel: %s\n", err.msg);
            return 1;
        }
        firmware = r == 1;
    }
    if (!firmware)
        return run_default_guest(o);
    if (vmconfig_boot_firmware(b, NULL) < 0) {
        fprintf(stderr, "hostel: out of memory\n");
        return 1;
    }
    const char *const fw[] = {b->bios, b->kernel};
    for (int i = 0; i < 2; i++)
        if (access(fw[i], R_OK) != 0) {
            fprintf(stderr,
                    "hostel: %s boots through firmware and %s is missing: install Debian's "
                    "opensbi and u-boot-qemu (scripts/deps.sh) or give -k\n",
                    o->vm.disks[0].path, fw[i]);
            return 1;
        }
    if (!o->ram_given && !o->config)
        o->vm.ram_size = VMCONFIG_FIRMWARE_RAM;
    return 0;
}

/* --cloud-init: the NoCloud seed, made or found in the cache, as the last disk (read-only). */
static int run_add_cloud_init(RunOptions *o)
{
    char path[4096];
    Error err = {0};
    if (cidata_make(o->cloud_init, o->name, path, sizeof(path), &err) < 0) {
        fprintf(stderr, "hostel: %s\n", err.msg);
        return 1;
    }
    VmDisk seed = {.path = path, .read_only = true, .format = "raw"};
    if (vmconfig_add_disk(&o->vm, &seed, &err) < 0)
        return run_usage_error("--cloud-init: %s", err.msg);
    o->layout_changed = true;
    return 0;
}

/* --restore takes the machine from the file: options that describe one cannot be given. */
static int run_check_restore(const RunOptions *o)
{
    if (o->restore && o->incoming)
        return run_usage_error("%s: --restore and --incoming exclude each other", "--incoming");
    if (o->restore && o->machine_flag)
        return run_usage_error("%s: the machine comes from the state file given to --restore",
                               o->machine_flag);
    if (o->incoming && o->shape_flag)
        return run_usage_error("%s: the machine comes from the migration stream (--incoming; "
                               "only -d and --net may replace its disks' paths and its cards)",
                               o->shape_flag);
    if (o->incoming && o->net_none)
        return run_usage_error("%s: a migrating VM keeps its cards (--incoming)", "--net none");
    return 0;
}

/* --config FILE: the definition the other options start from. Returns 0 or an exit status. */
static int run_load_config(RunOptions *o, const char *path)
{
    json_error_t jerr;
    Error err = {0};
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j) {
        fprintf(stderr, "hostel run: --config %s: %s\n", path, jerr.text);
        return EXIT_USAGE;
    }
    vmconfig_free(&o->vm);
    int rc = vmconfig_from_json(j, &o->vm, &err);
    json_decref(j);
    if (rc < 0) {
        fprintf(stderr, "hostel run: --config %s: %s\n", path, err.msg);
        return EXIT_USAGE;
    }
    return 0;
}

/*
 * First pass over the options: read --config (wherever it stands) so that
 * the other options, applied in the second pass, change its definition.
 */
static int run_read_config(RunOptions *o, int argc, char **argv)
{
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":k:i:d:p:m:c:h", run_long_options, NULL)) != -1) {
        if (c != OPT_CONFIG)
            continue;
        if (o->config)
            return run_usage_error("--config '%s': only one --config", optarg);
        o->config = optarg;
    }
    return o->config ? run_load_config(o, o->config) : 0;
}

/* A network card runs on the socket hosteld hands over: without its fd= there is none. */
static int run_check_network_fds(const RunOptions *o)
{
    for (unsigned i = 0; !o->print_config && i < o->vm.nnics; i++)
        if (o->vm.nics[i].kind == NET_NETWORK && o->vm.nics[i].fd < 0)
            return run_usage_error("%s", "--net network: a network's port is handed over by "
                                         "hosteld (fd=N); without hosteld use --net "
                                         "socket,path=PATH");
    return 0;
}

/* The default card (net_config_default's, if it is one) when no --net or --config says. */
static int run_finish_devices(RunOptions *o)
{
    Error err = {0};
    NetConfig def;
    net_config_default(&def);
    if (!o->net_given && !o->config && def.kind != NET_NONE) {
        vmconfig_add_nic(&o->vm, &def, NULL);
        o->layout_changed = true;
    }
    if ((o->layout_changed || !o->config) && vmconfig_default_layout(&o->vm, &err) < 0)
        return run_usage_error("%s", err.msg);
    if ((o->input || o->vnc.listen[0]) && vmconfig_add_input(&o->vm, &err) < 0)
        return run_usage_error(o->input ? "--input: %s" : "--display vnc=: %s", err.msg);
    if (vmconfig_check(&o->vm, &err) < 0)
        return run_usage_error("%s", err.msg);
    return run_check_network_fds(o);
}

/* Parse run's command line into o; returns 0, -1 (help shown: exit 0) or an exit status. */
static int run_parse(RunOptions *o, int argc, char **argv)
{
    int r = run_read_config(o, argc, argv), c;
    if (r != 0)
        return r;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":k:i:d:p:m:c:h", run_long_options, NULL)) != -1) {
        r = run_apply_option(o, c, argv);
        if (r != 0)
            return r;
    }
    if (optind < argc)
        return run_usage_error("unexpected argument '%s'", argv[optind]);
    if (o->tls_creds && !o->incoming)
        return run_usage_error("%s: only with --incoming", "--tls-creds");
    if (o->restore || o->incoming)
        return run_check_restore(o);
    if (!o->vm.boot.kernel && (r = run_default_boot(o)) != 0)
        return r;
    if (o->cloud_init && (r = run_add_cloud_init(o)) != 0)
        return r;
    return run_finish_devices(o);
}

static void run_print_stats(const VmmStats *st)
{
    double mips = st->seconds > 0 ? (double)st->instret / st->seconds / 1e6 : 0;
    fprintf(stderr, "instructions: %" PRIu64 "\nseconds: %.3f\nMIPS: %.1f\n", st->instret,
            st->seconds, mips);
}

/* Map how the run ended to hostel's exit status, with a line for non-guest stops. */
static int run_exit_status(const RunOptions *o, const VmmStats *st, int guest_status)
{
    switch (st->why) {
    case VMM_STOP_GUEST: return guest_status;
    case VMM_STOP_QUIT: fprintf(stderr, "\nhostel: quit (C-a x)\n"); return 0;
    case VMM_STOP_CONTROL:
        fprintf(stderr, st->suspended  ? "\nhostel: suspended (continue with hostel run "
                                         "--restore FILE)\n"
                        : st->migrated ? "\nhostel: migrated (the VM runs at the destination)\n"
                                       : "\nhostel: quit (control socket)\n");
        return 0;
    case VMM_STOP_LIMIT:
        fprintf(stderr,
                "hostel: stopped after %" PRIu64 " instructions (--max-insns %" PRIu64 ")\n",
                st->instret, o->host.max_insns);
        return EXIT_LIMIT;
    case VMM_STOP_HOST:
    default:
        fprintf(stderr, "hostel: stopped by signal %d\n", (int)signal_caught);
        return 128 + (int)signal_caught;
    }
}

/* Does path start with the ELF magic? (Unreadable files say no: loading reports them.) */
static bool file_is_elf(const char *path)
{
    char magic[4] = {0};
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(magic, 1, sizeof(magic), f) : 0;
    if (f)
        fclose(f);
    return n == 4 && memcmp(magic, "\177ELF", 4) == 0;
}

/* ELF kernels without firmware run bare-metal; anything else boots as Linux. */
static bool run_is_bare_metal(const VmBoot *b)
{
    if (b->bios && strcmp(b->bios, "none") == 0)
        return true;
    return !b->bios && file_is_elf(b->kernel);
}

/* Load what the options name into m. Returns 0, or -1 with err filled. */
static int run_load(Machine *m, const RunOptions *o, Error *err)
{
    const VmBoot *b = &o->vm.boot;
    MachineBoot boot = {
        .kernel = b->kernel, .initrd = b->initrd, .cmdline = b->cmdline, .bios = b->bios};
    if (o->dump_dtb)
        return machine_dump_dtb(m, &boot, o->dump_dtb, err);
    if (run_is_bare_metal(b)) {
        if (b->initrd)
            return error_set(err, "-i needs a Linux kernel: %s is run bare-metal", b->kernel);
        return machine_load_kernel(m, b->kernel, err);
    }
    return machine_boot(m, &boot, err);
}

/*
 * Where a named VM's snapshots live: $XDG_STATE_HOME/hostel/snapshots/NAME
 * (~/.local/state/... when XDG_STATE_HOME is unset or not absolute).
 */
static int run_snapshot_dir(const char *name, char *dir, size_t size, Error *err)
{
    const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    int n = state && state[0] == '/' ? snprintf(dir, size, "%s/hostel/snapshots/%s", state, name)
                                     : snprintf(dir, size, "%s/.local/state/hostel/snapshots/%s",
                                                home ? home : "/tmp", name);
    if (n < 0 || (size_t)n >= size)
        return error_set(err, "snapshot directory path too long");
    return 0;
}

/* Console output to the terminal beside the log (--console-log without --console-socket). */
static void run_stdout_out(void *opaque, const uint8_t *buf, size_t len)
{
    io_write_all(*(const int *)opaque, buf, len); /* a vanished terminal: dropped */
}

/*
 * The VMM around m: console input (or the console socket), the console log,
 * and the control socket named by --name or --control, if any.  Returns
 * NULL with err filled.
 */
static Vmm *run_vmm(Machine *m, const RunOptions *o, Error *err)
{
    char path[4096], snapdir[4096];
    VmmConfig c = {.name = o->name,
                   .version = HOSTEL_VERSION,
                   .in_fd = o->console.socket ? -1 : o->in_fd,
                   .console_socket = o->console.socket,
                   .console_log = o->console.log,
                   .console_log_size = o->console.log_size,
                   .vnc_listen = o->vnc.listen[0] ? o->vnc.listen : NULL,
                   .vnc_password_file = o->vnc.password_file[0] ? o->vnc.password_file : NULL};
    if (o->console.log && !o->console.socket) {
        c.console_out = run_stdout_out; /* the log is a copy: the terminal still shows it all */
        c.console_opaque = (void *)&o->host.out_fd;
    }
    if (o->control)
        snprintf(path, sizeof(path), "%s", o->control);
    else if (o->name && (control_socket_path(o->name, path, sizeof(path), err) < 0 ||
                         control_socket_dir_create(err) < 0))
        return NULL;
    if (o->name || o->control)
        c.control_path = path;
    if (o->snapshot_dir)
        c.snapshot_dir = o->snapshot_dir;
    else if (o->name && run_snapshot_dir(o->name, snapdir, sizeof(snapdir), err) < 0)
        return NULL;
    else if (o->name)
        c.snapshot_dir = snapdir;
    return vmm_new(m, &c, err);
}

/*
 * --restore: build the machine the state file describes and load the state
 * into it.  *fp stays open for the machine's life: its configuration (disk
 * paths) points into it.
 */
static Machine *run_restore(const RunOptions *o, MachineStateFile **fp, Error *err)
{
    MachineStateFile *f = *fp = machine_state_open(o->restore, err);
    if (!f)
        return NULL;
    Machine *m = machine_new(machine_state_config(f), &o->host, err);
    if (m && machine_restore(m, f, true, err) < 0) {
        machine_free(m);
        m = NULL;
    }
    return m;
}

/* The incoming migration's connection: the socket, and its TLS session with --tls-creds. */
typedef struct Incoming {
    int conn; /* -1: none accepted */
    MigrateTls *tls;
} Incoming;

/* The channel the stream is read from: over TLS, or a descriptor of its own. */
static int run_incoming_channel(const RunOptions *o, Incoming *in, StreamChannel *ch, Error *err)
{
    if (o->tls_creds) {
        if (!(in->tls = migrate_tls_open(o->tls_creds, true, NULL, in->conn, err)))
            return -1;
        migrate_tls_channel(in->tls, ch);
        return 0;
    }
    int mine = fcntl(in->conn, F_DUPFD_CLOEXEC, 0);
    if (mine < 0)
        return error_set_errno(err, errno, "%s", o->incoming);
    if (stream_channel_for_fd(ch, mine, true, err) < 0) {
        close(mine);
        return -1;
    }
    return 0;
}

/*
 * With --incoming, -d and --net replace, in order, the stream's disks'
 * paths and its cards' host side (a tap of this host, a network's
 * descriptor): the guest keeps its disks' formats and its cards' MACs.
 */
static int run_incoming_overrides(const RunOptions *o, VmConfig *cfg, Error *err)
{
    unsigned nnics = o->net_given ? o->vm.nnics : 0;
    if (o->vm.ndisks > cfg->ndisks || nnics > cfg->nnics)
        return error_set(err,
                         "the migrating VM has %u disk(s) and %u card(s): -d given %u "
                         "time(s), --net %u",
                         cfg->ndisks, cfg->nnics, o->vm.ndisks, nnics);
    for (unsigned i = 0; i < o->vm.ndisks; i++)
        if (vmconfig_set_string(&cfg->disks[i].path, o->vm.disks[i].path, err) < 0)
            return -1;
    for (unsigned i = 0; i < nnics; i++) {
        NetConfig nic = o->vm.nics[i];
        memcpy(nic.mac, cfg->nics[i].mac, sizeof(nic.mac));
        cfg->nics[i] = nic;
    }
    return 0;
}

/*
 * --incoming: listen, accept one connection, read and check the whole
 * migration stream, then build the machine its configuration section
 * describes and load the state (nothing is opened, disks included, before
 * the stream has passed every check).  in: the connection, for the
 * confirmation (run_incoming_reply).
 */
static Machine *run_incoming(const RunOptions *o, MachineStateFile **fp, Incoming *in, Error *err)
{
    MigrateUri u;
    StreamChannel ch;
    signal(SIGPIPE, SIG_IGN); /* a source gone: the reply's write fails, nothing more */
    if (migrate_uri_parse(o->incoming, &u, err) < 0)
        return NULL;
    int lfd = migrate_uri_listen(&u, err);
    if (lfd < 0)
        return NULL;
    log_debug("waiting for a migration on %s", o->incoming);
    int fd = migrate_uri_accept(&u, lfd, err);
    if (lfd != fd)
        close(lfd);
    if (fd < 0)
        return NULL;
    in->conn = fd;
    if (run_incoming_channel(o, in, &ch, err) < 0)
        return NULL;
    MachineStateFile *f = *fp = machine_state_open_channel(&ch, o->incoming, err);
    if (!f)
        return NULL;
    VmConfig cfg;
    if (vmconfig_copy(&cfg, machine_state_config(f), err) < 0)
        return NULL;
    Machine *m = NULL;
    if (run_incoming_overrides(o, &cfg, err) == 0)
        m = machine_new(&cfg, &o->host, err);
    vmconfig_free(&cfg);
    if (m && machine_restore(m, f, false, err) < 0) {
        machine_free(m);
        m = NULL;
    }
    return m;
}

static bool incoming_write(Incoming *in, const char *buf, size_t len)
{
    return in->tls ? migrate_tls_write(in->tls, buf, len) == 0 : io_write_all(in->conn, buf, len);
}

/*
 * The destination's one line to the source: running (the source may end),
 * or why the stream was refused (the source goes on).  Returns 0, or -1
 * when the source cannot be told it may end: this side must not run then.
 */
static int run_incoming_reply(Incoming *in, const Error *failed, Error *err)
{
    if (in->conn < 0)
        return 0;
    json_t *j = failed ? json_pack("{s:s, s:s}", "migrate", "error", "desc", failed->msg)
                       : json_pack("{s:s}", "migrate", "running");
    char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
    int rc = 0;
    if (!line || !incoming_write(in, line, strlen(line)) || !incoming_write(in, "\n", 1))
        rc = failed ? 0
                    : error_set(err,
                                "%s: the source went away before it was told: not "
                                "running the VM here",
                                "migration");
    free(line);
    json_decref(j);
    migrate_tls_close(in->tls);
    in->tls = NULL;
    close(in->conn);
    in->conn = -1;
    return rc;
}

/* Run the VMM on this terminal; the status vmm_run returned (err filled when < 0). */
static int run_vmm_on_console(Vmm *v, const RunOptions *o, VmmStats *st, Error *err)
{
    Console con;
    Machine *m = vmm_machine(v);
    console_open(&con, o->console.socket ? -1 : o->in_fd, o->host.out_fd);
    vmm_set_console(v, o->console.socket ? NULL : &con);
    install_signal_handlers(m, machine_stop_flag(m));
    int status = vmm_run(v, err);
    console_close(&con);
    vmm_set_console(v, NULL);
    signal_stop_flag = NULL;
    vmm_stats(v, st);
    return status;
}

/* How the run ended, in the words of --exit-file. */
static const char *run_exit_reason(const VmmStats *st)
{
    switch (st->why) {
    case VMM_STOP_GUEST: return "guest";
    case VMM_STOP_QUIT: return "quit";
    case VMM_STOP_CONTROL: return st->suspended ? "suspended" : st->migrated ? "migrated" : "quit";
    case VMM_STOP_LIMIT: return "limit";
    case VMM_STOP_HOST:
    default: return "signal";
    }
}

/*
 * --exit-file: {"status": EXIT-STATUS, "reason": WHY, "message": TEXT}
 * written whole (a temporary file renamed) just before the process ends,
 * so whoever started it learns how it ended without being its parent.
 */
static void run_write_exit_file(const RunOptions *o, int status, const char *reason,
                                const char *message)
{
    char tmp[4200];
    if (!o->exit_file || snprintf(tmp, sizeof(tmp), "%s.tmp", o->exit_file) >= (int)sizeof(tmp))
        return;
    json_t *j = json_pack("{s:i, s:s, s:s}", "status", status, "reason", reason, "message",
                          message ? message : "");
    FILE *f = j ? fopen(tmp, "w") : NULL;
    bool ok = f && json_dumpf(j, f, JSON_COMPACT) == 0;
    if (f && (fclose(f) != 0 || !ok || rename(tmp, o->exit_file) != 0))
        unlink(tmp);
    if (!f && j)
        log_warn("--exit-file %s: %s", o->exit_file, strerror(errno));
    json_decref(j);
}

/* Build the machine and its VMM, run it, and report. */
static int run_machine(const RunOptions *o)
{
    Error err = {0};
    MachineStateFile *saved = NULL;
    Vmm *v = NULL;
    Incoming in = {.conn = -1};
    bool given = o->restore || o->incoming;
    Machine *m = o->incoming  ? run_incoming(o, &saved, &in, &err)
                 : o->restore ? run_restore(o, &saved, &err)
                              : machine_new(&o->vm, &o->host, &err);
    if (!m || (!given && run_load(m, o, &err) < 0) ||
        (!o->dump_dtb && !(v = run_vmm(m, o, &err))) || run_incoming_reply(&in, NULL, &err) < 0) {
        run_incoming_reply(&in, &err, NULL);
        vmm_free(v);
        run_write_exit_file(o, 1, "error", err.msg);
        cli_fail(&err);
        machine_free(m);
        machine_state_close(saved);
        return 1;
    }
    if (o->dump_dtb) {
        machine_free(m);
        return 0;
    }
    if (o->incoming && vmm_announce(v, &err) < 0) /* switches learn the VM's new port */
        log_warn("announce-self: %s", err.msg);
    VmmStats st;
    int status = run_vmm_on_console(v, o, &st, &err);
    vmm_free(v);
    machine_free(m);
    machine_state_close(saved);
    if (o->stats)
        run_print_stats(&st);
    if (status < 0) {
        run_write_exit_file(o, 1, "error", err.msg);
        return cli_fail(&err);
    }
    int code = run_exit_status(o, &st, status);
    run_write_exit_file(o, code, run_exit_reason(&st), NULL);
    return code;
}

/* --print-config: the definition as JSON on stdout (the state file's, with --restore). */
static int run_print_config(const RunOptions *o)
{
    Error err = {0};
    MachineStateFile *f = o->restore ? machine_state_open(o->restore, &err) : NULL;
    json_t *j = o->restore && !f ? NULL : vmconfig_to_json(f ? machine_state_config(f) : &o->vm);
    machine_state_close(f);
    if (!j) {
        if (!err.msg[0])
            error_set(&err, "out of memory");
        return cli_fail(&err);
    }
    json_dumpf(j, stdout, JSON_INDENT(2));
    putchar('\n');
    json_decref(j);
    return 0;
}

static int run_main(int argc, char **argv)
{
    RunOptions o = {0};
    vmconfig_default(&o.vm);
    machine_host_default(&o.host);
    o.in_fd = 0;
    int r = run_parse(&o, argc, argv);
    if (r == 0)
        r = o.print_config ? run_print_config(&o) : run_machine(&o);
    vmconfig_free(&o.vm);
    return r < 0 ? 0 : r;
}

const Command cmd_run = {
    .name = "run",
    .run = run_main,
    .help = run_help,
    .summary = "run a guest: Linux (the default guest) or a bare-metal ELF",
};
