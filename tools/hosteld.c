/*
 * hosteld: the management daemon (docs/mgmt.md).  main() opens the state
 * directory (src/mgmt/store.c), makes the API (src/mgmt/api.c), binds the
 * unix socket itself and hands it to libmicrohttpd, then waits for SIGTERM
 * or SIGINT.  This file is the HTTP adapter: it turns an MHD request into
 * an ApiRequest (with the caller's uid from SO_PEERCRED), collects the body
 * under a cap, and sends the ApiResponse.
 *
 * With --listen ADDR:PORT it also serves HTTPS (never plain HTTP on TCP):
 * the server's key and self-signed certificate are made on first start
 * (STATE_DIR/server.key and server.crt, src/mgmt/cert.c), every client is
 * asked for its certificate, and the API decides from the trust store
 * (src/mgmt/trust.c) whether it is served; this adapter only hands the
 * peer's certificate over.
 *
 * Threading: MHD runs its own polling thread (epoll); every handler call
 * happens there, and api_handle takes the API's lock besides.  A second
 * thread, the watchdog, enforces each request's deadline (below).  A
 * third, the stream hub (src/mgmt/hub.c), owns every websocket: when a
 * route answers 101 (GET /1.0/events with an upgrade), MHD sends the
 * handshake and hands us the socket (over HTTPS, MHD's end of a socketpair
 * it proxies through TLS), which goes straight to the hub (and out of the
 * watchdog's sight), so a stream never blocks MHD's threads.  The runtime's
 * and the operations' events go to the event bus (src/mgmt/events.c),
 * which the streams subscribe to.  We chose the
 * internal thread over MHD's external-select mode on our evloop because
 * nothing else runs in the daemon yet: it is the least code, and MHD keeps
 * its own timeouts.  When supervision arrives (its own evloop thread), the
 * API's lock is the one place the two meet.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <gnutls/gnutls.h>
#include <grp.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "util/clocks.h"
#include "mgmt/api.h"
#include "mgmt/events.h"
#include "mgmt/hub.h"
#include "mgmt/ops.h"
#include "mgmt/netrun.h"
#include "mgmt/runtime.h"
#include "mgmt/cert.h"
#include "mgmt/fileio.h"
#include "mgmt/trust.h"
#include "mgmt/store.h"
#include "util/log.h"
#include "util/ws.h"

#define DEFAULT_MAX_CONNECTIONS 1024 /* epoll: an idle connection costs a socket, not a thread */
#define DEFAULT_TIMEOUT_S 30
#define DEFAULT_RATE_LIMIT 50 /* mutating calls a second per client; bursts of twice that */
#define HEADER_MEMORY_LIMIT (64u << 10) /* per connection: request line + headers (MHD: 431/413) */
#define DEFAULT_STREAM_QUEUE_KIB 1024   /* what a websocket client may fall behind by */
#define MIN_STREAM_QUEUE_KIB 16
#define LISTEN_BACKLOG 1024 /* a burst of connects waits here, not EAGAIN */
#define LISTEN_MAX 4        /* --listen given at most this often */
/* GnuTLS priorities for HTTPS: its defaults, but TLS 1.2 and 1.3 only */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define DEFAULT_WEB_DIR "/usr/share/hostel/web"
/* what every answer says to a browser (docs/web.md, "Security model") */
#define CSP                                                                                        \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "        \
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "                    \
    "frame-ancestors 'none'; form-action 'self'"

typedef struct DaemonOptions {
    char state_dir[PATH_MAX];
    char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char guest_dir[PATH_MAX];
    char run_dir[PATH_MAX];  /* the VMs' sockets */
    char net_dir[PATH_MAX];  /* the networks' switches: net/ beside the API's socket */
    char vmm_path[PATH_MAX]; /* the hostel executable VMs run in */
    unsigned max_connections;
    unsigned timeout_s;
    unsigned rate_limit;            /* 0: none */
    const char *listen[LISTEN_MAX]; /* --listen ADDR:PORT (HTTPS), in argv */
    unsigned nlisten;
    unsigned token_ttl_s; /* --token-ttl, 0: the default */
    unsigned stream_queue_kib;
    char web_dir[PATH_MAX]; /* the web console's files ("" = none found) */
} DaemonOptions;

/* The server's TLS identity, in memory for MHD. */
typedef struct TlsIdentity {
    char *key, *crt; /* PEM */
} TlsIdentity;

/* One request being received: its body so far. */
typedef struct Pending {
    char *body;
    size_t len;
    bool too_large;    /* the body passed API_BODY_MAX: it is dropped, the answer is 413 */
    double wait_until; /* monotonic: a waiting request is answered by then (0: not waiting) */
    ApiStream stream;  /* a websocket's handlers between the 101 and the upgrade */
} Pending;

/* A request parked until an operation ends or its time is up (MHD_suspend_connection). */
typedef struct Waiter {
    struct MHD_Connection *c;
    double until;
    struct Waiter *next;
} Waiter;

/* The parked requests and the thread that resumes them (and ends web sessions on time). */
typedef struct Waiters {
    pthread_mutex_t lock;
    Waiter *head;
    MgmtOps *ops;
    Api *api;
    double swept; /* monotonic: the web sessions were last swept */
    bool stop;
    pthread_t thread;
} Waiters;

/* What the HTTP callbacks are given: the API, how the connection came, the shared helpers. */
typedef struct Server {
    Api *api;
    bool tls;
    Waiters *waiters;
    struct Watchdog *wd;
    MgmtHub *hub; /* the websockets */
} Server;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: hosteld [options]\n\n"
            "The hostel management daemon: keeps VM definitions and serves the REST API\n"
            "(docs/api.md) on a unix socket, and over HTTPS with --listen.\n\n"
            "options:\n"
            "  --state-dir DIR        definitions and the audit log (default /var/lib/hostel as\n"
            "                         root, else $XDG_DATA_HOME/hostel or ~/.local/share/hostel)\n"
            "  --socket PATH          the API's socket (default /run/hostel/hosteld.sock as root,\n"
            "                         else $XDG_RUNTIME_DIR/hostel/hosteld.sock)\n"
            "  --guest-dir DIR        the default guest, booted by VMs created without a kernel\n"
            "                         (default $HOSTEL_CACHE/guest or ~/.cache/hostel/guest)\n"
            "  --run-dir DIR          the VMs' control and console sockets (default: vms/\n"
            "                         beside the API's socket)\n"
            "  --vmm PATH             the hostel executable each VM runs in (default: the one\n"
            "                         beside hosteld)\n"
            "  --max-connections N    clients served at once; more wait (default %d)\n"
            "  --rate-limit N         changes (POST, PUT, PATCH, DELETE) a client may make a\n"
            "                         second, in bursts of 2N; more are answered 429\n"
            "                         (default %d; 0: no limit)\n"
            "  --timeout SECONDS      a request must arrive whole within SECONDS of the\n"
            "                         connection being ready for it, else the connection is\n"
            "                         dropped; so is one idle this long (default %d)\n"
            "  --listen ADDR:PORT     also serve HTTPS on ADDR:PORT (e.g. 0.0.0.0:8443,\n"
            "                         [::1]:8443; up to %d times): clients are served only\n"
            "                         with a trusted TLS client certificate ('hostel trust');\n"
            "                         the server's key and certificate are made on first start\n"
            "                         as STATE_DIR/server.key and server.crt\n"
            "  --token-ttl SECONDS    how long a join token is valid (default %d)\n"
            "  --stream-queue KIB     a websocket client (events, consoles) that falls this far\n"
            "                         behind in reading is dropped (default %d, at least %d)\n"
            "  --web-dir DIR          the web console's files, served at / and /ui/ (default:\n"
            "                         web/ beside hosteld if it exists, else\n"
            "                         " DEFAULT_WEB_DIR "; docs/web.md)\n",
            DEFAULT_MAX_CONNECTIONS, DEFAULT_RATE_LIMIT, DEFAULT_TIMEOUT_S, LISTEN_MAX,
            MGMT_TOKEN_TTL_DEFAULT, DEFAULT_STREAM_QUEUE_KIB, MIN_STREAM_QUEUE_KIB);
    cli_log_options_help(out);
    fprintf(out, "  -h, --help             this help\n");
}

static int bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "hosteld: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see 'hosteld --help')\n");
    return CLI_EXIT_USAGE;
}

/* ---- options ---- */

static int default_socket(char *buf, size_t size)
{
    const char *run = getenv("XDG_RUNTIME_DIR");
    int n;
    if (geteuid() == 0)
        n = snprintf(buf, size, "/run/hostel/hosteld.sock");
    else if (run && run[0] == '/')
        n = snprintf(buf, size, "%s/hostel/hosteld.sock", run);
    else
        return bad_usage("%s", "XDG_RUNTIME_DIR is not set: give --socket PATH");
    return n < 0 || (size_t)n >= size ? bad_usage("%s", "the socket path is too long") : 0;
}

static int set_path(char *dst, size_t size, const char *value, const char *opt)
{
    if (!*value || strlen(value) >= size)
        return bad_usage("%s: empty or too long", opt);
    memcpy(dst, value, strlen(value) + 1);
    return 0;
}

static int set_count(unsigned *dst, const char *value, const char *opt)
{
    char *end;
    unsigned long v = strtoul(value, &end, 10);
    if (*end || end == value || v == 0 || v > 100000)
        return bad_usage("%s: not a number from 1 to 100000", opt);
    *dst = (unsigned)v;
    return 0;
}

enum {
    OPT_STATE = 256,
    OPT_SOCKET,
    OPT_GUEST,
    OPT_MAXCONN,
    OPT_TIMEOUT,
    OPT_LOGL,
    OPT_LOGF,
    OPT_RUNDIR,
    OPT_VMM,
    OPT_RATE,
    OPT_LISTEN,
    OPT_TTL,
    OPT_STREAMQ,
    OPT_WEBDIR,
};

static int add_listen(DaemonOptions *o, const char *value)
{
    if (o->nlisten == LISTEN_MAX)
        return bad_usage("--listen: at most %s addresses", "4");
    if (!strrchr(value, ':'))
        return bad_usage("--listen %s: expected ADDR:PORT", value);
    o->listen[o->nlisten++] = value;
    return 0;
}

static int parse_option(DaemonOptions *o, int c, const char *arg)
{
    switch (c) {
    case OPT_STATE: return set_path(o->state_dir, sizeof(o->state_dir), arg, "--state-dir");
    case OPT_SOCKET: return set_path(o->socket_path, sizeof(o->socket_path), arg, "--socket");
    case OPT_GUEST: return set_path(o->guest_dir, sizeof(o->guest_dir), arg, "--guest-dir");
    case OPT_RUNDIR: return set_path(o->run_dir, sizeof(o->run_dir), arg, "--run-dir");
    case OPT_VMM: return set_path(o->vmm_path, sizeof(o->vmm_path), arg, "--vmm");
    case OPT_RATE:
        if (strcmp(arg, "0") == 0) {
            o->rate_limit = 0;
            return 0;
        }
        return set_count(&o->rate_limit, arg, "--rate-limit");
    case OPT_MAXCONN: return set_count(&o->max_connections, arg, "--max-connections");
    case OPT_TIMEOUT: return set_count(&o->timeout_s, arg, "--timeout");
    case OPT_STREAMQ:
        if (set_count(&o->stream_queue_kib, arg, "--stream-queue") != 0)
            return CLI_EXIT_USAGE;
        return o->stream_queue_kib < MIN_STREAM_QUEUE_KIB
                   ? bad_usage("--stream-queue: at least %s KiB", "16")
                   : 0;
    case OPT_LISTEN: return add_listen(o, arg);
    case OPT_TTL: return set_count(&o->token_ttl_s, arg, "--token-ttl");
    case OPT_WEBDIR: return set_path(o->web_dir, sizeof(o->web_dir), arg, "--web-dir");
    case OPT_LOGL: return cli_log_option(NULL, "--log-level", arg) == 1 ? 0 : CLI_EXIT_USAGE;
    case OPT_LOGF: return cli_log_option(NULL, "--log-format", arg) == 1 ? 0 : CLI_EXIT_USAGE;
    case 'h': usage(stdout); return -1;
    default: fprintf(stderr, "(see 'hosteld --help')\n"); return CLI_EXIT_USAGE;
    }
}

/* SUB (vms, net) beside the API's socket into buf. */
static int beside_socket(const DaemonOptions *o, const char *sub, char *buf, size_t size)
{
    char dir[sizeof(o->socket_path)];
    snprintf(dir, sizeof(dir), "%s", o->socket_path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    int n = snprintf(buf, size, "%s/%s", slash ? dir : ".", sub);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* hostel beside this executable (a build tree, or /usr/bin). */
static int default_vmm(char *buf, size_t size)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    int m = snprintf(buf, size, "%s/hostel", self);
    return m < 0 || (size_t)m >= size || access(buf, X_OK) != 0 ? -1 : 0;
}

/* web/ beside this executable (a build tree) if it is a directory, else DEFAULT_WEB_DIR. */
static void default_web_dir(char *buf, size_t size)
{
    char self[PATH_MAX];
    struct stat st;
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash = n > 0 ? (self[n] = '\0', strrchr(self, '/')) : NULL;
    if (slash) {
        *slash = '\0';
        int m = snprintf(buf, size, "%s/web", self);
        if (m > 0 && (size_t)m < size && stat(buf, &st) == 0 && S_ISDIR(st.st_mode))
            return;
    }
    snprintf(buf, size, "%s", DEFAULT_WEB_DIR);
}

/* The defaults for what the command line left out. */
static int fill_defaults(DaemonOptions *o)
{
    Error err = {0};
    if (!o->state_dir[0] && mgmt_state_dir_default(o->state_dir, sizeof(o->state_dir), &err) < 0)
        return bad_usage("%s", err.msg);
    if (!o->guest_dir[0] && api_default_guest_dir(o->guest_dir, sizeof(o->guest_dir), &err) < 0)
        return bad_usage("%s", err.msg);
    if (!o->socket_path[0] && default_socket(o->socket_path, sizeof(o->socket_path)) != 0)
        return CLI_EXIT_USAGE;
    if (!o->run_dir[0] && beside_socket(o, "vms", o->run_dir, sizeof(o->run_dir)) != 0)
        return bad_usage("%s", "the run directory's path is too long: give --run-dir");
    if (beside_socket(o, "net", o->net_dir, sizeof(o->net_dir)) != 0)
        return bad_usage("%s", "the socket's path is too long");
    if (!o->vmm_path[0] && default_vmm(o->vmm_path, sizeof(o->vmm_path)) != 0)
        return bad_usage("%s", "cannot find the hostel executable beside hosteld: give --vmm");
    if (!o->web_dir[0])
        default_web_dir(o->web_dir, sizeof(o->web_dir));
    return 0;
}

/* Returns 0, -1 after --help, or an exit status. */
static int parse_options(DaemonOptions *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"state-dir", required_argument, NULL, OPT_STATE},
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"guest-dir", required_argument, NULL, OPT_GUEST},
        {"run-dir", required_argument, NULL, OPT_RUNDIR},
        {"vmm", required_argument, NULL, OPT_VMM},
        {"rate-limit", required_argument, NULL, OPT_RATE},
        {"max-connections", required_argument, NULL, OPT_MAXCONN},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"stream-queue", required_argument, NULL, OPT_STREAMQ},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"token-ttl", required_argument, NULL, OPT_TTL},
        {"web-dir", required_argument, NULL, OPT_WEBDIR},
        {"log-level", required_argument, NULL, OPT_LOGL},
        {"log-format", required_argument, NULL, OPT_LOGF},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    memset(o, 0, sizeof(*o));
    o->max_connections = DEFAULT_MAX_CONNECTIONS;
    o->timeout_s = DEFAULT_TIMEOUT_S;
    o->rate_limit = DEFAULT_RATE_LIMIT;
    o->stream_queue_kib = DEFAULT_STREAM_QUEUE_KIB;
    int c, r;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if ((r = parse_option(o, c, optarg)) != 0)
            return r;
    }
    if (optind < argc)
        return bad_usage("unexpected argument '%s'", argv[optind]);
    return fill_defaults(o);
}

/* ---- the socket ---- */

/* mkdir -p of path's parent directory (mode 0755 as root for /run/hostel, else 0700). */
static int make_parent(const char *path, Error *err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(dir, geteuid() == 0 ? 0755 : 0700) < 0 && errno != EEXIST)
            return error_set_errno(err, errno, "cannot create %s", dir);
        *p = c;
        if (!c)
            return 0;
    }
}

/* A socket file at path that nobody answers on is removed; a live one is an error. */
static int clear_stale(const struct sockaddr_un *sa, Error *err)
{
    struct stat st;
    if (lstat(sa->sun_path, &st) < 0)
        return 0;
    if (!S_ISSOCK(st.st_mode))
        return error_set(err, "%s exists and is not a socket", sa->sun_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int live = fd >= 0 && connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
    if (fd >= 0)
        close(fd);
    if (live)
        return error_set(err, "another hosteld listens on %s", sa->sun_path);
    unlink(sa->sun_path);
    return 0;
}

/* Mode 0660, and group hostel when that group exists (its members may connect). */
static int set_socket_access(const char *path, Error *err)
{
    struct group *g = getgrnam("hostel");
    if (g && chown(path, (uid_t)-1, g->gr_gid) < 0)
        return error_set_errno(err, errno, "cannot give %s to group hostel", path);
    if (chmod(path, 0660) < 0)
        return error_set_errno(err, errno, "cannot chmod %s", path);
    return 0;
}

/* Bind and listen on path. Returns the fd, or -1. */
static int listen_unix(const char *path, int backlog, Error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (make_parent(path, err) < 0 || clear_stale(&sa, err) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return error_set_errno(err, errno, "socket");
    mode_t old = umask(0117); /* never world-reachable, not even between bind and chmod */
    int r = bind(fd, (const struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0 || listen(fd, backlog) < 0) {
        error_set_errno(err, errno, "cannot listen on %s", path);
        close(fd);
        return -1;
    }
    if (set_socket_access(path, err) < 0) {
        close(fd);
        unlink(path);
        return -1;
    }
    return fd;
}

/* ---- HTTPS on TCP ---- */

/* Bind and listen on "HOST:PORT" ("[V6]:PORT" too).  Returns the fd, or -1. */
static int listen_tcp(const char *addr, int backlog, Error *err)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    int hl = (int)(colon - addr);
    if (addr[0] == '[' && hl >= 2 && addr[hl - 1] == ']')
        snprintf(host, sizeof(host), "%.*s", hl - 2, addr + 1);
    else
        snprintf(host, sizeof(host), "%.*s", hl, addr);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
    int rc = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai);
    if (rc != 0)
        return error_set(err, "--listen %s: %s", addr, gai_strerror(rc));
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, backlog) < 0) {
        error_set_errno(err, errno, "cannot listen on %s", addr);
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

static void tls_identity_free(TlsIdentity *id)
{
    free(id->key);
    free(id->crt);
    id->key = id->crt = NULL;
}

/*
 * The server's key and certificate (made on first start, CN = the host
 * name) into id, and what join tokens embed told to the API.  Returns 0,
 * or -1.
 */
static int tls_identity_load(Api *api, const DaemonOptions *o, TlsIdentity *id, Error *err)
{
    char key[PATH_MAX], crt[PATH_MAX], host[256] = "hosteld";
    size_t len;
    bool made;
    MgmtCert cert;
    if (snprintf(key, sizeof(key), "%s/server.key", o->state_dir) >= (int)sizeof(key) ||
        snprintf(crt, sizeof(crt), "%s/server.crt", o->state_dir) >= (int)sizeof(crt))
        return error_set(err, "the state directory's path is too long");
    gethostname(host, sizeof(host) - 1);
    if (mgmt_cert_ensure(key, crt, host, &made, err) < 0 ||
        mgmt_read_file(key, MGMT_CERT_MAX, &id->key, &len, err) < 0 ||
        mgmt_read_file(crt, MGMT_CERT_MAX, &id->crt, &len, err) < 0 ||
        mgmt_cert_parse(id->crt, len, true, &cert, err) < 0) {
        tls_identity_free(id);
        return -1;
    }
    if (made)
        log_info("made the server's certificate %s", crt);
    json_t *addrs = json_array();
    for (unsigned i = 0; addrs && i < o->nlisten; i++)
        json_array_append_new(addrs, json_string(o->listen[i]));
    log_info("server certificate fingerprint %s", cert.fingerprint);
    int r = api_set_server_identity(api, cert.fingerprint, addrs, err);
    mgmt_cert_free(&cert);
    if (r < 0)
        tls_identity_free(id);
    return r;
}

/* ---- the request deadline ---- */

/*
 * MHD's timeout is on idleness: a client that trickles a byte a second
 * would hold its connection for ever.  The watchdog gives every request a
 * deadline instead: from the moment a connection is ready for a request
 * (accepted, or its previous answer sent) the whole request must be in
 * within --timeout seconds, else the socket is shut down and MHD closes the
 * connection.  Each watched connection keeps a dup of its socket, so the
 * shutdown can never reach a file descriptor that was closed and reused.
 */
typedef struct Watch {
    int fd;       /* our dup of the connection's socket */
    double since; /* monotonic seconds: when it became ready for a request */
    bool dropped;
    bool upgraded; /* a websocket now: the stream hub's, no deadline */
    struct Watch *prev, *next;
} Watch;

typedef struct Watchdog {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    Watch *head;
    unsigned timeout_s;
    bool stop;
    pthread_t thread;
} Watchdog;

/* Shut down the connections past their deadline (the lock held). */
static void watchdog_scan(Watchdog *wd)
{
    double now = clock_mono_s();
    for (Watch *w = wd->head; w; w = w->next) {
        if (w->dropped || w->upgraded || now - w->since <= wd->timeout_s)
            continue;
        log_debug("http: a request took over %us to arrive: connection dropped", wd->timeout_s);
        shutdown(w->fd, SHUT_RDWR);
        w->dropped = true;
    }
}

static void *watchdog_run(void *opaque)
{
    Watchdog *wd = opaque;
    pthread_mutex_lock(&wd->lock);
    while (!wd->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&wd->wake, &wd->lock, &until);
        watchdog_scan(wd);
    }
    pthread_mutex_unlock(&wd->lock);
    return NULL;
}

static int watchdog_start(Watchdog *wd, unsigned timeout_s)
{
    memset(wd, 0, sizeof(*wd));
    wd->timeout_s = timeout_s;
    pthread_mutex_init(&wd->lock, NULL);
    pthread_cond_init(&wd->wake, NULL);
    return pthread_create(&wd->thread, NULL, watchdog_run, wd) == 0 ? 0 : -1;
}

static void watchdog_stop(Watchdog *wd)
{
    pthread_mutex_lock(&wd->lock);
    wd->stop = true;
    pthread_cond_signal(&wd->wake);
    pthread_mutex_unlock(&wd->lock);
    pthread_join(wd->thread, NULL);
    pthread_cond_destroy(&wd->wake);
    pthread_mutex_destroy(&wd->lock);
}

/* A connection opened: watch it (its context is the Watch). */
static void watch_add(Watchdog *wd, struct MHD_Connection *c, void **socket_context)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    Watch *w = calloc(1, sizeof(*w));
    if (!w || !ci || (w->fd = fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 0)) < 0) {
        free(w); /* not watched: MHD's idle timeout still applies */
        return;
    }
    w->since = clock_mono_s();
    pthread_mutex_lock(&wd->lock);
    w->next = wd->head;
    if (wd->head)
        wd->head->prev = w;
    wd->head = w;
    pthread_mutex_unlock(&wd->lock);
    *socket_context = w;
}

static void watch_remove(Watchdog *wd, Watch *w)
{
    pthread_mutex_lock(&wd->lock);
    if (w->prev)
        w->prev->next = w->next;
    else
        wd->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    pthread_mutex_unlock(&wd->lock);
    close(w->fd);
    free(w);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        watch_add(cls, c, socket_context);
    else if (*socket_context)
        watch_remove(cls, *socket_context);
}

/* The Watch of connection c (its socket context), or NULL when it is not watched. */
static Watch *watch_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* A request was answered: the connection's next request gets a fresh deadline. */
static void watch_rearm(Watchdog *wd, struct MHD_Connection *c)
{
    Watch *w = watch_of(c);
    if (!w)
        return;
    pthread_mutex_lock(&wd->lock);
    w->since = clock_mono_s();
    pthread_mutex_unlock(&wd->lock);
}

/* A waiting request is exempt from the request deadline (its wait has its own). */
static void watch_hold(Watchdog *wd, struct MHD_Connection *c)
{
    Watch *w = watch_of(c);
    if (!w)
        return;
    pthread_mutex_lock(&wd->lock);
    w->since = clock_mono_s() + 3600.0 * 24 * 365; /* watch_rearm puts it back after the answer */
    pthread_mutex_unlock(&wd->lock);
}

/* The connection became a websocket: no request deadline any more. */
static void watch_upgraded(Watchdog *wd, struct MHD_Connection *c)
{
    Watch *w = watch_of(c);
    if (!w)
        return;
    pthread_mutex_lock(&wd->lock);
    w->upgraded = true;
    pthread_mutex_unlock(&wd->lock);
}

/* ---- requests that wait (GET /1.0/operations/ID/wait) ---- */

static bool is_wait(const char *url)
{
    size_t n = strlen(url);
    return n > 5 && strcmp(url + n - 5, "/wait") == 0;
}

/* Park c until `until` or the end of an operation, whichever is first. */
static enum MHD_Result park(Server *srv, struct MHD_Connection *c, double until)
{
    Waiter *w = calloc(1, sizeof(*w));
    if (!w)
        return MHD_NO;
    w->c = c;
    w->until = until;
    MHD_suspend_connection(c);
    pthread_mutex_lock(&srv->waiters->lock);
    w->next = srv->waiters->head;
    srv->waiters->head = w;
    pthread_mutex_unlock(&srv->waiters->lock);
    return MHD_YES;
}

/* Resume the parked requests that are due (all of them when all). The lock held. */
static void waiters_resume(Waiters *ws, bool all, double *next)
{
    double now = clock_mono_s();
    *next = now + 1.0;
    for (Waiter **p = &ws->head; *p;) {
        Waiter *w = *p;
        if (all || w->until <= now) {
            *p = w->next;
            MHD_resume_connection(w->c); /* asked again: answered, or parked anew */
            free(w);
        } else {
            if (w->until < *next)
                *next = w->until;
            p = &w->next;
        }
    }
}

static void *waiters_run(void *opaque)
{
    Waiters *ws = opaque;
    uint64_t seen = mgmt_ops_generation(ws->ops);
    double next = clock_mono_s() + 1.0;
    for (;;) {
        double wait = next - clock_mono_s();
        uint64_t g = mgmt_ops_wait_change(ws->ops, seen, wait > 0 ? wait : 0);
        pthread_mutex_lock(&ws->lock);
        if (ws->stop) {
            pthread_mutex_unlock(&ws->lock);
            return NULL;
        }
        waiters_resume(ws, g != seen, &next); /* an operation ended: every waiter looks */
        seen = g;
        pthread_mutex_unlock(&ws->lock);
        if (clock_mono_s() - ws->swept >= 1.0) { /* ended sessions' streams close within ~1 s */
            ws->swept = clock_mono_s();
            api_web_sweep(ws->api);
        }
    }
}

static int waiters_start(Waiters *ws, MgmtOps *ops, Api *api)
{
    memset(ws, 0, sizeof(*ws));
    ws->ops = ops;
    ws->api = api;
    pthread_mutex_init(&ws->lock, NULL);
    return pthread_create(&ws->thread, NULL, waiters_run, ws) == 0 ? 0 : -1;
}

/* Resume every parked request (MHD must have none suspended when it stops), end the thread. */
static void waiters_stop(Waiters *ws)
{
    double next;
    pthread_mutex_lock(&ws->lock);
    ws->stop = true;
    waiters_resume(ws, true, &next);
    pthread_mutex_unlock(&ws->lock);
    pthread_join(ws->thread, NULL); /* it wakes within a second */
    pthread_mutex_destroy(&ws->lock);
}

/* ---- the HTTP adapter ---- */

/* The caller's uid (SO_PEERCRED on the connection's socket), or (uid_t)-1. */
static uid_t peer_uid(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return (uid_t)-1;
    return cred.uid;
}

/* The TCP client's address, numeric, into buf ("" when unknown). */
static void peer_addr(struct MHD_Connection *c, char *buf, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    buf[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    socklen_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                           : sizeof(struct sockaddr_in);
    if (getnameinfo(ci->client_addr, len, buf, (socklen_t)size, NULL, 0, NI_NUMERICHOST) != 0)
        buf[0] = '\0';
}

/* The TLS client's certificate (DER, owned by the session), or NULL with *len 0. */
static const unsigned char *peer_cert(struct MHD_Connection *c, size_t *len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    unsigned n = 0;
    const gnutls_datum_t *certs =
        ci && ci->tls_session ? gnutls_certificate_get_peers(ci->tls_session, &n) : NULL;
    *len = certs && n ? certs[0].size : 0;
    return certs && n ? certs[0].data : NULL;
}

typedef struct QueryBuf {
    char text[1024];
    size_t len;
} QueryBuf;

static enum MHD_Result add_query_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    QueryBuf *q = cls;
    int n = snprintf(q->text + q->len, sizeof(q->text) - q->len, "%s%s%s%s", q->len ? "&" : "", key,
                     value ? "=" : "", value ? value : "");
    if (n < 0 || (size_t)n >= sizeof(q->text) - q->len)
        return MHD_NO; /* too long: what was kept is enough to be refused */
    q->len += (size_t)n;
    return MHD_YES;
}

/* ---- websockets: the 101, then the socket goes to the stream hub ---- */

/* The stream hub gives an upgraded socket back: MHD closes it. */
static void release_upgraded(void *urh)
{
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
}

/* MHD sent the 101: the socket and the route's stream (kept in the request's Pending) go to the hub. */
static void on_upgraded(void *cls, struct MHD_Connection *c, void *req_cls, const char *extra,
                        size_t extra_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    const Server *srv = cls;
    Pending *p = req_cls;
    Error err = {0};
    watch_upgraded(srv->wd, c);
    ApiStream st = p->stream;
    p->stream.opaque = NULL;
    if (hub_adopt_tagged(srv->hub, sock, extra, extra_size, release_upgraded, urh, st.ops,
                         st.opaque, st.web_session, &err) < 0)
        log_warn("websocket: %s", err.msg);
}

/* A route accepted a websocket: 101 with the handshake, the stream kept for on_upgraded. */
static enum MHD_Result send_upgrade(const Server *srv, struct MHD_Connection *c, ApiResponse *r,
                                    Pending *p)
{
    struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgraded, (void *)srv);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
    MHD_add_response_header(resp, "Sec-WebSocket-Accept", r->ws_accept);
    if (r->ws_protocol[0])
        MHD_add_response_header(resp, "Sec-WebSocket-Protocol", r->ws_protocol);
    p->stream = r->stream;
    r->stream.opaque = NULL;
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Whether the request asks for a websocket (Upgrade: websocket, Connection: upgrade). */
static bool wants_websocket(struct MHD_Connection *c)
{
    return ws_header_has_token(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Upgrade"),
                               "websocket") &&
           ws_header_has_token(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Connection"),
                               "upgrade");
}

/* What every answer carries for browsers: the page's own CSP, no sniffing, no framing. */
static void add_security_headers(struct MHD_Response *resp, const ApiResponse *r)
{
    MHD_add_response_header(resp, "Content-Security-Policy", CSP);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                            r->static_file ? "no-cache" : "no-store");
    if (r->etag[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, r->etag);
    if (r->set_cookie[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->set_cookie);
}

static enum MHD_Result send_response(struct MHD_Connection *c, const ApiResponse *r)
{
    size_t len = r->body_len ? r->body_len : strlen(r->body);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)r->body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type ? r->content_type : "application/json");
    add_security_headers(resp, r);
    if (r->location[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
    if (r->allow[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->retry_after > 0) {
        char retry[16];
        snprintf(retry, sizeof(retry), "%d", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry);
    }
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Append a piece of the body, or drop it once the body is too large. */
static void take_upload(Pending *p, const char *data, size_t size)
{
    if (p->too_large || p->len + size > API_BODY_MAX) {
        p->too_large = true;
        return;
    }
    char *b = realloc(p->body, p->len + size);
    if (!b) {
        p->too_large = true;
        return;
    }
    memcpy(b + p->len, data, size);
    p->body = b;
    p->len += size;
}

/*
 * The whole request is in (or its body is too large: then it is answered
 * at once, and MHD closes the connection after the answer rather than
 * read the rest): hand it to the API.
 */
static enum MHD_Result answer(Server *srv, struct MHD_Connection *c, const char *url,
                              const char *method, Pending *p)
{
    QueryBuf q = {.len = 0};
    char addr[64] = "";
    q.text[0] = '\0';
    if (srv->tls)
        peer_addr(c, addr, sizeof(addr));
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_query_arg, &q);
    ApiRequest req = {
        .method = method,
        .path = url,
        .query = q.len ? q.text : NULL,
        .content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type"),
        /* too large: the API answers 413 (and audits it) from the length alone */
        .body = p->too_large ? NULL : p->body,
        .body_len = p->too_large ? (size_t)API_BODY_MAX + 1 : p->len,
        .uid = srv->tls ? (uid_t)-1 : peer_uid(c),
        .tls = srv->tls,
        .wait_over = p->wait_until > 0 && clock_mono_s() >= p->wait_until,
        .websocket = wants_websocket(c),
        .ws_key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Key"),
        .ws_version = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Version"),
        .ws_protocol = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Protocol"),
        .cookie = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Cookie"),
        .csrf = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Hostel-CSRF"),
        .origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin"),
        .host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"),
        .accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept"),
        .if_none_match = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match"),
        .peer_addr = addr[0] ? addr : NULL,
    };
    if (srv->tls)
        req.peer_cert = peer_cert(c, &req.peer_cert_len);
    ApiResponse resp;
    api_handle(srv->api, &req, &resp);
    if (resp.wait_s > 0 && !req.wait_over) { /* answered later: park the request */
        if (p->wait_until == 0)
            p->wait_until = clock_mono_s() + resp.wait_s;
        api_response_free(&resp);
        return park(srv, c, p->wait_until);
    }
    enum MHD_Result ret = resp.status == 101 && resp.stream.ops ? send_upgrade(srv, c, &resp, p)
                                                                : send_response(c, &resp);
    api_response_free(&resp);
    return ret;
}

/* Content-Length announces more than we take. */
static bool announced_too_large(struct MHD_Connection *c)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    return cl && strtoull(cl, NULL, 10) > API_BODY_MAX;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    Pending *p = *req_cls;
    if (!p) { /* the headers are in, the body (if any) is not */
        if (!(p = calloc(1, sizeof(*p))))
            return MHD_NO;
        *req_cls = p;
        if (announced_too_large(c)) {
            p->too_large = true;
            return answer(cls, c, url, method, p);
        }
        if (is_wait(url)) { /* parked while it waits: its deadline is its own */
            watch_hold(((Server *)cls)->wd, c);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        take_upload(p, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    return answer(cls, c, url, method, p);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    watch_rearm(((Server *)cls)->wd, c);
    Pending *p = *req_cls;
    if (p) {
        if (p->stream.opaque && p->stream.discard) /* answered 101, never upgraded */
            p->stream.discard(p->stream.opaque);
        free(p->body);
        free(p);
    }
    *req_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    log_debug("http: %s", line);
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/*
 * MHD's unescaping of a URL's path and arguments (%HH), but a %00 becomes
 * DEL (0x7f), which every check refuses: a NUL would cut the C string
 * ("/ui/index.html%00.png" read as "/ui/index.html").
 */
static size_t unescape_url(void *cls, struct MHD_Connection *c, char *s)
{
    char *w = s;
    for (const char *r = s; *r; w++) {
        int hi = r[0] == '%' ? hex_value(r[1]) : -1, lo = hi >= 0 ? hex_value(r[2]) : -1;
        if (lo >= 0) {
            *w = (char)(hi * 16 + lo);
            if (!*w)
                *w = 0x7f;
            r += 3;
        } else {
            *w = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* MHD on the listening socket fd: plain HTTP (the unix socket), or HTTPS with id. */
static struct MHD_Daemon *start_http(const Server *srv, int fd, const DaemonOptions *o,
                                     const TlsIdentity *id)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE;
    void *f = (void *)srv;
    Watchdog *wd = srv->wd;
    if (!id)
        return MHD_start_daemon(
            flags, 0, NULL, NULL, on_request, (void *)f, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
            NULL, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, o->max_connections,
            MHD_OPTION_CONNECTION_TIMEOUT, o->timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
            (size_t)HEADER_MEMORY_LIMIT, MHD_OPTION_NOTIFY_COMPLETED, on_completed, f,
            MHD_OPTION_NOTIFY_CONNECTION, on_connection, wd, MHD_OPTION_UNESCAPE_CALLBACK,
            unescape_url, NULL, MHD_OPTION_END);
    /*
     * HTTPS_MEM_TRUST makes MHD ask every client for its certificate; our
     * own certificate is the (only) CA named, and GnuTLS verifies nothing
     * on the server side: clients are self-signed and trusted by
     * fingerprint, which the API checks on every request.
     */
    return MHD_start_daemon(
        flags | MHD_USE_TLS, 0, NULL, NULL, on_request, (void *)f, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
        o->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, o->timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_MEMORY_LIMIT,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, f, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        wd, MHD_OPTION_HTTPS_MEM_KEY, id->key, MHD_OPTION_HTTPS_MEM_CERT, id->crt,
        MHD_OPTION_HTTPS_MEM_TRUST, id->crt, MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape_url, NULL, MHD_OPTION_END);
}

/* The HTTPS listeners (--listen), all or none. */
typedef struct TlsFronts {
    struct MHD_Daemon *d[LISTEN_MAX];
    int fd[LISTEN_MAX];
    unsigned n;
    TlsIdentity id;
    Server front;
} TlsFronts;

static void tls_stop(TlsFronts *t)
{
    for (unsigned i = 0; i < t->n; i++) {
        if (t->d[i])
            MHD_stop_daemon(t->d[i]);
        close(t->fd[i]);
    }
    t->n = 0;
    tls_identity_free(&t->id);
}

static int tls_start(TlsFronts *t, const Server *base, const DaemonOptions *o, Error *err)
{
    memset(t, 0, sizeof(*t));
    t->front = *base;
    t->front.tls = true;
    for (unsigned i = 0; i < o->nlisten; i++) { /* a bad address fails before anything is made */
        if ((t->fd[i] = listen_tcp(o->listen[i], 128, err)) < 0) {
            tls_stop(t);
            return -1;
        }
        t->n++;
    }
    if (o->nlisten && tls_identity_load(base->api, o, &t->id, err) < 0) {
        tls_stop(t);
        return -1;
    }
    for (unsigned i = 0; i < t->n; i++) {
        if (!(t->d[i] = start_http(&t->front, t->fd[i], o, &t->id))) {
            tls_stop(t);
            return error_set(err, "cannot start HTTPS on %s", o->listen[i]);
        }
        log_info("listening on https://%s", o->listen[i]);
    }
    return 0;
}

/* ---- main ---- */

/* Where a web session's end goes: its streams are closed (once serve has a hub). */
typedef struct WebEnd {
    MgmtHub *hub;
} WebEnd;

static void on_web_session_end(void *ctx, unsigned id)
{
    WebEnd *we = ctx;
    if (we->hub)
        hub_close_tagged(we->hub, id, 1008, "the web session ended");
}

/* Serve until SIGTERM or SIGINT (blocked in every thread, taken here). */
static int serve(Api *api, MgmtOps *ops, const DaemonOptions *o, const sigset_t *stop,
                 WebEnd *web_end)
{
    Error err = {0};
    int fd = listen_unix(o->socket_path, LISTEN_BACKLOG, &err);
    if (fd < 0) {
        fprintf(stderr, "hosteld: %s\n", err.msg);
        return CLI_EXIT_FAIL;
    }
    Watchdog wd;
    Waiters ws;
    Server srv = {.api = api, .waiters = &ws, .wd = &wd};
    HubOptions ho = {.queue_max = (size_t)o->stream_queue_kib << 10};
    if (hub_new(&srv.hub, &ho, &err) < 0) {
        fprintf(stderr, "hosteld: %s\n", err.msg);
        close(fd);
        unlink(o->socket_path);
        return CLI_EXIT_FAIL;
    }
    if (watchdog_start(&wd, o->timeout_s) < 0 || waiters_start(&ws, ops, api) < 0) {
        fprintf(stderr, "hosteld: cannot start a thread\n");
        hub_free(srv.hub);
        close(fd);
        unlink(o->socket_path);
        return CLI_EXIT_FAIL;
    }
    api_attach_networks(api); /* the switches first: the VMs' cards are on them */
    api_attach_vms(api);      /* before anyone is served: no running VM is ever shown stopped */
    TlsFronts tls;
    web_end->hub = srv.hub; /* before anyone is served: a session's end closes its streams */
    /* HTTPS first: once the socket answers, the whole daemon is up */
    struct MHD_Daemon *d = NULL;
    if (tls_start(&tls, &srv, o, &err) < 0 || !(d = start_http(&srv, fd, o, NULL))) {
        if (!err.msg[0]) /* tls_start's failures say why; MHD's do not */
            snprintf(err.msg, sizeof(err.msg), "cannot start the HTTP server on %s",
                     o->socket_path);
        tls_stop(&tls); /* harmless after tls_start failed: it stopped what it had */
        fprintf(stderr, "hosteld: %s\n", err.msg);
        web_end->hub = NULL;
        hub_free(srv.hub);
        waiters_stop(&ws);
        watchdog_stop(&wd);
        close(fd);
        unlink(o->socket_path);
        return CLI_EXIT_FAIL;
    }
    log_info("listening on %s (state in %s)", o->socket_path, o->state_dir);
    api_autostart_vms(api);
    int sig = 0;
    sigwait(stop, &sig);
    log_info("signal %d: stopping (the VMs go on running)", sig);
    waiters_stop(&ws);
    hub_stop(srv.hub); /* every websocket is given back to MHD first */
    tls_stop(&tls);
    MHD_stop_daemon(d); /* closes every connection: the watches are gone */
    web_end->hub = NULL;
    hub_free(srv.hub);
    watchdog_stop(&wd);
    close(fd);
    unlink(o->socket_path);
    return 0;
}

/*
 * A lifecycle event ("vm-started"... of VM vm) or an operation's progress
 * ("operation-updated", metadata the operation): logged, and published on
 * the event bus (ctx) as type "lifecycle" with metadata.action, or type
 * "operation" with {"action", "operation"}.  The daemon's own doing: uid -1
 * (an operation's object names who asked).
 */
static void on_event(void *ctx, const char *type, const char *vm, json_t *metadata)
{
    char *text = metadata ? json_dumps(metadata, JSON_COMPACT) : NULL;
    log_info("event %s%s%s %s", type, vm ? " " : "", vm ? vm : "", text ? text : "");
    free(text);
    char resource[256];
    json_t *meta;
    if (vm) { /* a VM's, or a network's ("network-started"...) */
        snprintf(resource, sizeof(resource), "/" API_VERSION "/%s/%s",
                 strncmp(type, "network-", 8) == 0 ? "networks" : "vms", vm);
        meta = json_is_object(metadata) ? json_incref(metadata) : json_object();
        json_object_set_new(meta, "action", json_string(type));
        json_object_set_new(meta, "name", json_string(vm));
    } else {
        const char *id = json_string_value(json_object_get(metadata, "id"));
        snprintf(resource, sizeof(resource), "/" API_VERSION "/operations/%s", id ? id : "");
        meta = json_pack("{s:s, s:O?}", "action", type, "operation", metadata);
    }
    mgmt_events_emit(ctx, vm ? "lifecycle" : "operation", resource, (uid_t)-1, meta);
    json_decref(metadata);
}

/* A network's switch runs again after it died: the VMs on it get their ports back. */
static void on_switch_restarted(void *ctx, const char *network)
{
    mgmt_runtime_replug(ctx, network);
}

/* The networks, the runtime and the operations; 0, or -1 with err. */
static int open_runtime(const DaemonOptions *o, MgmtEvents *events, MgmtNetRun **nr,
                        MgmtRuntime **rt, MgmtOps **ops, Error *err)
{
    MgmtNetRunOptions no = {.state_dir = o->state_dir,
                            .run_dir = o->net_dir,
                            .vmm_path = o->vmm_path,
                            .notify = on_event,
                            .notify_ctx = events};
    if (make_parent(o->net_dir, err) < 0 || mgmt_netrun_new(nr, &no, err) < 0)
        return -1;
    MgmtRuntimeOptions ro = {.state_dir = o->state_dir,
                             .run_dir = o->run_dir,
                             .vmm_path = o->vmm_path,
                             .notify = on_event,
                             .notify_ctx = events,
                             .nic_hooks = &mgmt_netrun_nic_hooks,
                             .nic_ctx = *nr};
    if (make_parent(o->run_dir, err) < 0 || mgmt_runtime_new(rt, &ro, err) < 0)
        return -1;
    mgmt_netrun_on_restarted(*nr, on_switch_restarted, *rt);
    return mgmt_ops_new(ops, o->state_dir, on_event, events, err);
}

/* Connections hold two descriptors each (the socket and the watchdog's dup): allow them. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    DaemonOptions o;
    int r = parse_options(&o, argc, argv);
    if (r != 0)
        return r < 0 ? 0 : r;
    raise_fd_limit();
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    MgmtStore *store = NULL;
    MgmtEvents *events = NULL;
    MgmtRuntime *rt = NULL;
    MgmtNetRun *nr = NULL;
    MgmtOps *ops = NULL;
    Api *api = NULL;
    WebEnd web_end = {NULL};
    Error err = {0};
    if (mgmt_store_open(&store, o.state_dir, &err) < 0 ||
        mgmt_events_new(&events, MGMT_EVENTS_KEEP, &err) < 0 ||
        open_runtime(&o, events, &nr, &rt, &ops, &err) < 0) {
        fprintf(stderr, "hosteld: %s\n", err.msg);
        if (nr)
            mgmt_netrun_on_restarted(nr, NULL, NULL); /* before the runtime it calls goes */
        mgmt_runtime_free(rt);
        mgmt_netrun_free(nr);
        mgmt_events_free(events);
        mgmt_store_close(store);
        return CLI_EXIT_FAIL;
    }
    ApiOptions opt = {.runtime = rt,
                      .netrun = nr,
                      .ops = ops,
                      .guest_dir = o.guest_dir,
                      .server_version = HOSTEL_VERSION,
                      .rate_limit = o.rate_limit,
                      .rate_burst = 2.0 * o.rate_limit,
                      .token_ttl_s = o.token_ttl_s,
                      .events = events,
                      .web_dir = o.web_dir,
                      .web = {.on_end = on_web_session_end, .on_end_ctx = &web_end}};
    if (api_new(&api, store, &opt, &err) < 0) {
        fprintf(stderr, "hosteld: %s\n", err.msg);
        return CLI_EXIT_FAIL;
    }
    r = serve(api, ops, &o, &stop, &web_end);
    if (!mgmt_ops_free(ops, 10)) { /* an operation still runs: leave without freeing */
        log_warn("operations still running at exit: they are reported interrupted next time");
        return r;
    }
    api_free(api);
    mgmt_netrun_on_restarted(nr, NULL, NULL); /* netrun calls the runtime no more */
    mgmt_runtime_free(rt);                    /* first: its supervisor may still unplug a card */
    mgmt_netrun_free(nr);
    mgmt_events_free(events);
    mgmt_store_close(store);
    return r;
}
