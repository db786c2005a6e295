/*
 * The network definitions in the state directory (network.h): DIR/networks
 * read at open, each document written atomically, the checks of one
 * network against the others, and the defaults of a new one.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mgmt/fileio.h"
#include "mgmt/network.h"
#include "mgmt/store.h"
#include "util/log.h"

#define NET_DOC_MAX_BYTES (64u << 10) /* a network document larger than this is not read */

struct MgmtNetworks {
    char dir[PATH_MAX]; /* DIR/networks */
    MgmtNetwork *nets;  /* sorted by name */
    size_t n;
    char (*broken)[MGMT_NET_NAME_MAX + 1]; /* names whose documents did not read */
    size_t nbroken;
};

static size_t find_index(const MgmtNetworks *n, const char *name, bool *found)
{
    size_t i = 0;
    while (i < n->n && strcmp(n->nets[i].name, name) < 0)
        i++;
    *found = i < n->n && strcmp(n->nets[i].name, name) == 0;
    return i;
}

/* Keep a copy of net (replacing the one of its name). Returns 0 or -EIO. */
static int keep(MgmtNetworks *n, const MgmtNetwork *net, Error *err)
{
    bool found;
    size_t i = find_index(n, net->name, &found);
    if (!found) {
        MgmtNetwork *v = realloc(n->nets, (n->n + 1) * sizeof(*v));
        if (!v)
            return mgmt_net_fail(err, -EIO, "out of memory");
        n->nets = v;
        memmove(&v[i + 1], &v[i], (n->n - i) * sizeof(*v));
        n->n++;
    }
    n->nets[i] = *net;
    return 0;
}

static bool broken_has(const MgmtNetworks *n, const char *name)
{
    for (size_t i = 0; i < n->nbroken; i++)
        if (strcmp(n->broken[i], name) == 0)
            return true;
    return false;
}

static void broken_add(MgmtNetworks *n, const char *file)
{
    void *v = realloc(n->broken, (n->nbroken + 1) * sizeof(*n->broken));
    if (!v)
        return;
    n->broken = v;
    snprintf(n->broken[n->nbroken], sizeof(n->broken[0]), "%.*s", (int)(strlen(file) - 5), file);
    n->nbroken++;
}

/* One file of DIR/networks: a network kept, or logged and skipped. */
static void load_entry(MgmtNetworks *n, const char *file)
{
    size_t len = strlen(file);
    char path[PATH_MAX + 256];
    if (file[0] == '.' || len <= 5 || strcmp(file + len - 5, ".json") != 0)
        return;
    snprintf(path, sizeof(path), "%s/%s", n->dir, file);
    MgmtNetwork *net = calloc(1, sizeof(*net));
    Error why = {0};
    struct stat st;
    json_error_t je;
    json_t *doc = NULL;
    if (!net)
        return;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > NET_DOC_MAX_BYTES)
        error_set(&why, "not a regular file of at most %u bytes", NET_DOC_MAX_BYTES);
    else if (!(doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je)))
        error_set(&why, "line %d: %s", je.line, je.text);
    else if (mgmt_network_from_json(doc, true, net, &why) == 0 &&
             (strlen(net->name) != len - 5 || strncmp(file, net->name, len - 5) != 0))
        error_set(&why, "name: '%s' is not the file's name", net->name);
    json_decref(doc);
    if (why.msg[0] || keep(n, net, &why) < 0) {
        log_warn("%s is broken and skipped (kept on disk): %s", path, why.msg);
        broken_add(n, file);
    }
    free(net);
}

int mgmt_networks_open(MgmtNetworks **out, const char *state_dir, Error *err)
{
    MgmtNetworks *n = calloc(1, sizeof(*n));
    if (!n)
        return mgmt_net_fail(err, -EIO, "out of memory");
    int len = snprintf(n->dir, sizeof(n->dir), "%s/networks", state_dir);
    DIR *dir = NULL;
    if (len < 0 || (size_t)len >= sizeof(n->dir) || (mkdir(n->dir, 0750) < 0 && errno != EEXIST) ||
        !(dir = opendir(n->dir))) {
        error_set_errno(err, errno ? errno : ENAMETOOLONG, "cannot use %.200s", n->dir);
        free(n);
        return -EIO;
    }
    struct dirent *d;
    while ((d = readdir(dir)) != NULL) {
        if (d->d_name[0] == '.' && strstr(d->d_name, ".json.tmp-"))
            unlinkat(dirfd(dir), d->d_name, 0); /* left by an interrupted write */
        else
            load_entry(n, d->d_name);
    }
    closedir(dir);
    *out = n;
    return 0;
}

void mgmt_networks_close(MgmtNetworks *n)
{
    if (!n)
        return;
    free(n->nets);
    free(n->broken);
    free(n);
}

size_t mgmt_networks_count(const MgmtNetworks *n)
{
    return n->n;
}

const MgmtNetwork *mgmt_networks_at(const MgmtNetworks *n, size_t i)
{
    return i < n->n ? &n->nets[i] : NULL;
}

const MgmtNetwork *mgmt_networks_find(const MgmtNetworks *n, const char *name)
{
    bool found;
    size_t i = find_index(n, name, &found);
    return found ? &n->nets[i] : NULL;
}

/* ---- clashes between networks ---- */

/* "tcp:ADDR:PORT" of a normal forward (the part the host binds) into buf; its address and port. */
static void forward_host(const char *fwd, char *proto, unsigned *port, char *addr, size_t size)
{
    unsigned p = 0;
    char a[MGMT_NET_ADDR_TEXT] = "";
    sscanf(fwd, "%3[a-z]:%15[0-9.]:%u-", proto, a, &p);
    *port = p;
    snprintf(addr, size, "%s", a);
}

static bool forwards_clash(const char *f1, const char *f2)
{
    char p1[4] = "", p2[4] = "", a1[MGMT_NET_ADDR_TEXT], a2[MGMT_NET_ADDR_TEXT];
    unsigned port1, port2;
    forward_host(f1, p1, &port1, a1, sizeof(a1));
    forward_host(f2, p2, &port2, a2, sizeof(a2));
    return strcmp(p1, p2) == 0 && port1 == port2 &&
           (strcmp(a1, a2) == 0 || strcmp(a1, "0.0.0.0") == 0 || strcmp(a2, "0.0.0.0") == 0);
}

/* A clash of net's forwards with each other or with o's (o may be net: its own list). */
static int forward_conflict(const MgmtNetwork *net, const MgmtNetwork *o, Error *err)
{
    for (unsigned i = 0; i < net->nforwards; i++) {
        for (unsigned k = 0; k < (o == net ? i : o->nforwards); k++) {
            if (!forwards_clash(net->forwards[i], o->forwards[k]))
                continue;
            if (o == net)
                return mgmt_net_fail(err, -EBUSY, "forwards: '%s' and '%s' take the same host port",
                                     net->forwards[k], net->forwards[i]);
            return mgmt_net_fail(err, -EBUSY,
                                 "forwards: '%s' takes a host port network '%s' forwards ('%s')",
                                 net->forwards[i], o->name, o->forwards[k]);
        }
    }
    return 0;
}

static int pair_conflict(const MgmtNetwork *net, const MgmtNetwork *o, Error *err)
{
    char a[40], b[40];
    if (mgmt_subnet_overlap(&net->subnet, &o->subnet)) {
        mgmt_subnet_format(&net->subnet, a, sizeof(a));
        mgmt_subnet_format(&o->subnet, b, sizeof(b));
        return mgmt_net_fail(err, -EBUSY, "subnet: %s overlaps network '%s' (%s)", a, o->name, b);
    }
    if (net->kind == MGMT_NET_VXLAN && o->kind == MGMT_NET_VXLAN &&
        net->vxlan_port == o->vxlan_port &&
        (strcmp(net->local, o->local) == 0 || strcmp(net->local, "0.0.0.0") == 0 ||
         strcmp(o->local, "0.0.0.0") == 0))
        return mgmt_net_fail(err, -EBUSY, "vxlan.port: network '%s' uses UDP port %u on %s already",
                             o->name, o->vxlan_port, o->local);
    if (net->kind == MGMT_NET_BRIDGED && o->kind == MGMT_NET_BRIDGED &&
        strcmp(net->bridge, o->bridge) == 0)
        return mgmt_net_fail(err, -EBUSY, "bridge: network '%s' is the bridge %s already", o->name,
                             o->bridge);
    return forward_conflict(net, o, err);
}

int mgmt_networks_conflict(const MgmtNetworks *n, const MgmtNetwork *net, Error *err)
{
    int rc = forward_conflict(net, net, err);
    for (size_t i = 0; rc == 0 && i < n->n; i++)
        if (strcmp(n->nets[i].name, net->name) != 0)
            rc = pair_conflict(net, &n->nets[i], err);
    return rc;
}

int mgmt_networks_complete(const MgmtNetworks *n, MgmtNetwork *net, const MgmtSubnet *extra,
                           size_t nextra, Error *err)
{
    if ((net->nat || net->kind == MGMT_NET_INTERNAL) && !net->subnet.prefix) {
        MgmtSubnet *taken = calloc(n->n + nextra + 1, sizeof(*taken));
        if (!taken)
            return mgmt_net_fail(err, -EIO, "out of memory");
        size_t t = 0;
        for (size_t i = 0; i < n->n; i++)
            taken[t++] = n->nets[i].subnet;
        for (size_t i = 0; i < nextra; i++)
            taken[t++] = extra[i];
        net->subnet = mgmt_net_pick_subnet(net->name, taken, t);
        free(taken);
        if (!net->subnet.prefix)
            return mgmt_net_fail(err, -EBUSY, "subnet: every 10.X.Y.0/24 is taken: give one");
    }
    if (!net->created[0]) {
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(net->created, sizeof(net->created), "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    return mgmt_networks_conflict(n, net, err);
}

/* ---- writes ---- */

int mgmt_networks_put(MgmtNetworks *n, const MgmtNetwork *net, bool create, Error *err)
{
    if (create && (mgmt_networks_find(n, net->name) || broken_has(n, net->name))) {
        if (broken_has(n, net->name))
            error_set(err, "networks/%s.json exists but is broken: repair or remove it first",
                      net->name);
        else
            error_set(err, "a network named '%s' exists", net->name);
        return -EEXIST;
    }
    json_t *doc = mgmt_network_to_json(net, true);
    char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL, *line = NULL;
    json_decref(doc);
    if (!text || asprintf(&line, "%s\n", text) < 0) {
        free(text);
        return mgmt_net_fail(err, -EIO, "out of memory");
    }
    free(text);
    char path[PATH_MAX + 80];
    snprintf(path, sizeof(path), "%s/%s.json", n->dir, net->name);
    int rc = mgmt_write_atomic(path, line, strlen(line), 0640, err);
    free(line);
    if (rc < 0)
        return -EIO;
    return keep(n, net, err);
}

int mgmt_networks_remove(MgmtNetworks *n, const char *name, Error *err)
{
    bool found;
    size_t i = find_index(n, name, &found);
    char path[PATH_MAX + 80];
    if (!found)
        return mgmt_net_fail(err, -ENOENT, "no network named '%s'", name);
    snprintf(path, sizeof(path), "%s/%s.json", n->dir, name);
    if (unlink(path) < 0 && errno != ENOENT) {
        error_set_errno(err, errno, "cannot remove %.200s", path);
        return -EIO;
    }
    memmove(&n->nets[i], &n->nets[i + 1], (n->n - i - 1) * sizeof(*n->nets));
    n->n--;
    return 0;
}
