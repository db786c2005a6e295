/*
 * `hostel switch`: run one virtual switch, the process behind a hosteld
 * network (docs/net.md, "The switch process").  The command line and the
 * configuration file are read here; everything else is switchd_serve()
 * (src/switchd/serve.h) over the switch daemon (src/net/switchd.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "switchd/config.h"
#include "switchd/serve.h"
#include "util/log.h"

enum { OPT_CONFIG = 256, OPT_CONTROL, OPT_LISTEN, OPT_PID_FILE };

static void switch_help(FILE *out)
{
    fprintf(
        out,
        "usage: hostel switch --config FILE --control PATH [--listen PATH] [--pid-file PATH]\n"
        "\n"
        "Run a virtual switch: an Ethernet learning bridge with 802.1Q VLANs whose ports\n"
        "are VMs' network cards (SOCK_SEQPACKET sockets, one frame per message) and\n"
        "uplinks (a NAT through libslirp, a VXLAN tunnel to other hosts, a host tap).\n"
        "hosteld runs one per network; it also runs alone. It stops on 'quit' (control\n"
        "socket), SIGTERM or SIGINT.\n"
        "\n"
        "options:\n"
        "      --config FILE     the switch's JSON configuration: {\"name\": \"lan\",\n"
        "                        \"ageing\": 300, \"fdb-max\": 4096, \"uplinks\": [\n"
        "                          {\"kind\": \"slirp\", \"name\": \"nat\", \"subnet\": \"10.77.0.0/24\",\n"
        "                           \"hostfwd\": [\"tcp:127.0.0.1:8080-10.77.0.15:80\"]},\n"
        "                          {\"kind\": \"vxlan\", \"vni\": 42, \"local\": \"0.0.0.0\",\n"
        "                           \"port\": 4789, \"peers\": [\"192.0.2.2\", \"192.0.2.3:4790\"]},\n"
        "                          {\"kind\": \"tap\", \"name\": \"host\", \"ifname\": \"hn-lan\"}]}\n"
        "                        (everything but name may be left out)\n"
        "      --control PATH    the control socket (JSON lines, as a VM's: docs/control.md):\n"
        "                        add-port (with the port's socket passed by SCM_RIGHTS),\n"
        "                        remove-port, set-port, query-ports, query-fdb,\n"
        "                        query-status, quit\n"
        "      --listen PATH     also accept SOCK_SEQPACKET connections here, each a port\n"
        "                        listen-N on VLAN 1 until it hangs up\n"
        "                        (hostel run --net socket,path=PATH)\n"
        "      --pid-file PATH   write the process id there once the control socket listens\n"
        "  -h, --help            show this help and exit\n"
        "\n"
        "See docs/net.md, \"The switch process\", for the commands and counters.\n"
        "\n"
        "exit status: 0 after quit or a signal; 1 when the switch cannot start (an uplink,\n"
        "a socket path in use); 2 for a bad command line or configuration.\n");
}

/* Ports are descriptors: allow as many as the hard limit does. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static int switch_run(int argc, char **argv)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, OPT_CONFIG},
                                             {"control", required_argument, NULL, OPT_CONTROL},
                                             {"listen", required_argument, NULL, OPT_LISTEN},
                                             {"pid-file", required_argument, NULL, OPT_PID_FILE},
                                             {"help", no_argument, NULL, 'h'},
                                             {0}};
    SwitchdServeOptions o = {.version = HOSTEL_VERSION};
    const char *config = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'h': switch_help(stdout); return 0;
        case OPT_CONFIG: config = optarg; break;
        case OPT_CONTROL: o.control = optarg; break;
        case OPT_LISTEN: o.listen = optarg; break;
        case OPT_PID_FILE: o.pid_file = optarg; break;
        case ':': return cli_usage("switch", "%s needs a value", argv[optind - 1]);
        default: return cli_usage("switch", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage("switch", "unexpected argument '%s'", argv[optind]);
    if (!config || !o.control)
        return cli_usage("switch", "--config FILE and --control PATH are required");
    SwitchdConfig cfg;
    Error err = {0};
    if (switchd_config_load(&cfg, config, &err) < 0) {
        fprintf(stderr, "hostel switch: %s\n", err.msg);
        return CLI_EXIT_USAGE;
    }
    log_set_name(cfg.name);
    raise_fd_limit();
    if (switchd_serve(&cfg, &o, &err) < 0)
        return cli_fail(&err);
    return 0;
}

const Command cmd_switch = {
    .name = "switch",
    .run = switch_run,
    .help = switch_help,
    .summary = "run a virtual switch (the process behind a hosteld network)",
};
