/*
 * Metrics (docs/mgmt.md "Metrics"): a running VM's counters in its state
 * (GET /1.0/vms/NAME/state "stats"), the host's capacity and what the VMs
 * commit of it (GET /1.0/host), and every VM's counters in the Prometheus
 * text format (GET /metrics).
 *
 * The counters come from each VMM's query-stats, one control call with a
 * short timeout.  /metrics and a VM's state run without the API's lock
 * (their routes are marked unlocked): the definitions are copied under
 * the lock, then the VMMs are asked in parallel by a few worker threads
 * against one deadline, so a VMM that does not answer costs at most
 * STATS_TIMEOUT_MS and the whole scrape at most COLLECT_DEADLINE_MS.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mgmt/api_int.h"
#include "util/clocks.h"
#include "mgmt/prom.h"

#define STATS_TIMEOUT_MS 1000    /* one VMM's answer to query-stats, at most */
#define COLLECT_DEADLINE_MS 1000 /* every VMM's answers for one scrape, at most */
#define COLLECT_WORKERS 16       /* VMMs asked at once */

/* What one VM contributes to the host's figures and to /metrics. */
typedef struct VmSample {
    char name[MGMT_NAME_MAX + 1];
    unsigned cpus;
    uint64_t memory;   /* bytes of RAM defined */
    const char *state; /* api_vm_state's word */
    json_t *rt;        /* the runtime's state (pid, cpu_s, memory_rss, restarts...), or NULL */
    json_t *stats;     /* the VMM's query-stats, or NULL (not running, no answer in time) */
} VmSample;

/* The samples of every defined VM, and the workers' shared cursor. */
typedef struct Collect {
    Api *api;
    VmSample *s;
    size_t n;
    size_t next; /* the next sample a worker takes (under lock) */
    pthread_mutex_t lock;
    double deadline; /* monotonic seconds */
} Collect;

/* Every state word a VM can be in (api_vm_state), for counts that include zeros. */
static const char *const state_words[] = {"stopped", "starting", "running",
                                          "paused",  "stopping", "suspended"};

/* A VMM process exists for the VM in this state (its counters can be asked). */
static bool state_has_vmm(const char *state)
{
    return strcmp(state, "running") == 0 || strcmp(state, "paused") == 0;
}

/* ---- one VM's counters ---- */

/* The VMM's query-stats within timeout_ms, or NULL (not running, no answer, an error). */
static json_t *vm_stats(Api *api, const char *name, unsigned timeout_ms)
{
    json_t *ret = NULL;
    Error err = {0};
    if (!api->runtime ||
        mgmt_runtime_call(api->runtime, name, "query-stats", NULL, &ret, timeout_ms, &err) < 0)
        return NULL;
    return ret;
}

void api_vm_state_add_stats(Api *api, const char *name, json_t *state)
{
    const char *status = json_string_value(json_object_get(state, "status"));
    if (!status || !state_has_vmm(status))
        return;
    json_t *stats = vm_stats(api, name, STATS_TIMEOUT_MS);
    if (stats)
        json_object_set_new(state, "stats", stats);
}

/* ---- collecting from every VM ---- */

/* Copy what the definitions say (the API's lock held).  Returns false if out of memory. */
static bool collect_definitions(Collect *c)
{
    size_t n = mgmt_store_count(c->api->store);
    c->s = calloc(n ? n : 1, sizeof(*c->s));
    if (!c->s)
        return false;
    for (size_t i = 0; i < n; i++) {
        const MgmtVm *vm = mgmt_store_at(c->api->store, i);
        VmSample *s = &c->s[i];
        snprintf(s->name, sizeof(s->name), "%s", vm->name);
        s->cpus = vm->config.nharts;
        s->memory = vm->config.ram_size;
        s->state = api_vm_state(c->api, vm->name);
    }
    c->n = n;
    return true;
}

static void *collect_worker(void *opaque)
{
    Collect *c = opaque;
    for (;;) {
        pthread_mutex_lock(&c->lock);
        size_t i = c->next++;
        pthread_mutex_unlock(&c->lock);
        if (i >= c->n)
            return NULL;
        VmSample *s = &c->s[i];
        if (c->api->runtime)
            s->rt = mgmt_runtime_state_json(c->api->runtime, s->name);
        double left_ms = (c->deadline - clock_mono_s()) * 1000;
        if (!state_has_vmm(s->state) || left_ms < 1)
            continue;
        s->stats = vm_stats(c->api, s->name,
                            left_ms < STATS_TIMEOUT_MS ? (unsigned)left_ms : STATS_TIMEOUT_MS);
    }
}

/*
 * Sample every defined VM: the definitions under the API's lock, then
 * (with_stats) the runtime's state and the VMMs' counters without it, in
 * parallel.  Returns false if out of memory.
 */
static bool collect(Api *api, Collect *c, bool with_stats)
{
    *c = (Collect){.api = api};
    pthread_mutex_lock(&api->lock);
    bool ok = collect_definitions(c);
    pthread_mutex_unlock(&api->lock);
    if (!ok || !with_stats)
        return ok;
    c->deadline = clock_mono_s() + COLLECT_DEADLINE_MS / 1000.0;
    pthread_mutex_init(&c->lock, NULL);
    pthread_t t[COLLECT_WORKERS];
    size_t started = 0;
    while (started < COLLECT_WORKERS && started < c->n &&
           pthread_create(&t[started], NULL, collect_worker, c) == 0)
        started++;
    collect_worker(c); /* this thread works too (and does it all if none could start) */
    for (size_t i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_destroy(&c->lock);
    return true;
}

static void collect_free(Collect *c)
{
    for (size_t i = 0; i < c->n; i++) {
        json_decref(c->s[i].rt);
        json_decref(c->s[i].stats);
    }
    free(c->s);
}

/* ---- the host ---- */

/* Host memory from /proc/meminfo: total and available bytes (0 when unknown). */
static void host_memory(uint64_t *total, uint64_t *available)
{
    char line[256];
    unsigned long long kb;
    *total = *available = 0;
    FILE *f = fopen("/proc/meminfo", "re");
    if (!f)
        return;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
            *total = kb * 1024;
        else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            *available = kb * 1024;
    }
    fclose(f);
}

/* Our own resident set (bytes), from /proc/self/statm; 0 when unknown. */
static uint64_t self_rss(void)
{
    unsigned long long size, resident = 0;
    FILE *f = fopen("/proc/self/statm", "re");
    if (f) {
        if (fscanf(f, "%llu %llu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static unsigned host_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* {"cpus", "memory"} summed over the samples for which running says so. */
static json_t *committed(const Collect *c, bool only_running)
{
    uint64_t cpus = 0, memory = 0;
    for (size_t i = 0; i < c->n; i++) {
        const VmSample *s = &c->s[i];
        bool on = strcmp(s->state, "stopped") != 0 && strcmp(s->state, "suspended") != 0;
        if (only_running && !on)
            continue;
        cpus += s->cpus;
        memory += s->memory;
    }
    return json_pack("{s:I, s:I}", "cpus", (json_int_t)cpus, "memory", (json_int_t)memory);
}

static json_t *state_counts(const Collect *c)
{
    json_t *j = json_object();
    for (size_t w = 0; j && w < sizeof(state_words) / sizeof(state_words[0]); w++) {
        json_int_t n = 0;
        for (size_t i = 0; i < c->n; i++)
            n += strcmp(c->s[i].state, state_words[w]) == 0;
        json_object_set_new(j, state_words[w], json_integer(n));
    }
    return j;
}

void api_h_host_get(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    Collect c;
    uint64_t total, available;
    double load[3] = {0, 0, 0};
    (void)req;
    (void)args;
    if (!collect(api, &c, false)) {
        api_error(r, 500, "out of memory");
        return;
    }
    host_memory(&total, &available);
    if (getloadavg(load, 3) < 0)
        load[0] = load[1] = load[2] = 0;
    api_reply_json(
        r, 200,
        json_pack("{s:i, s:{s:I, s:I}, s:[f, f, f], s:{s:I, s:o}, s:{s:o, s:o}, s:{s:I, s:I}}",
                  "cpus", (int)host_cpus(), "memory", "total", (json_int_t)total, "available",
                  (json_int_t)available, "load", load[0], load[1], load[2], "vms", "defined",
                  (json_int_t)c.n, "by_state", state_counts(&c), "committed", "running",
                  committed(&c, true), "defined", committed(&c, false), "hosteld", "pid",
                  (json_int_t)getpid(), "memory_rss", (json_int_t)self_rss()));
    collect_free(&c);
}

/* ---- /metrics ---- */

/* A number member of obj as a double; false when absent. */
static bool num(const json_t *obj, const char *key, double *v)
{
    json_t *j = json_object_get(obj, key);
    if (!json_is_number(j))
        return false;
    *v = json_number_value(j);
    return true;
}

/* One sample per VM of the family name: member key of the runtime state (rt) or of the stats. */
static void vm_family(PromText *t, const Collect *c, const char *name, const char *type,
                      const char *help, bool from_stats, const char *key)
{
    prom_family(t, name, type, help);
    for (size_t i = 0; i < c->n; i++) {
        const char *labels[] = {"vm", c->s[i].name, NULL};
        double v;
        if (num(from_stats ? c->s[i].stats : c->s[i].rt, key, &v))
            prom_sample(t, name, labels, v);
    }
}

/* One sample per device of every VM: list ("disks", "nics") of its stats, member key. */
static void device_family(PromText *t, const Collect *c, const char *name, const char *help,
                          const char *list, const char *label, const char *key)
{
    prom_family(t, name, "counter", help);
    for (size_t i = 0; i < c->n; i++) {
        json_t *devs = json_object_get(c->s[i].stats, list), *d;
        size_t k;
        json_array_foreach(devs, k, d)
        {
            char dev[16];
            const char *id = json_string_value(json_object_get(d, "mac"));
            snprintf(dev, sizeof(dev), "vd%c", (char)('a' + (k < 26 ? k : 25)));
            const char *labels[] = {"vm", c->s[i].name, label, id ? id : dev, NULL};
            double v;
            if (num(d, key, &v))
                prom_sample(t, name, labels, v);
        }
    }
}

static void write_vm_families(PromText *t, const Collect *c)
{
    prom_family(t, "hostel_vm_up", "gauge", "1 when the VM's VMM runs (running or paused), else 0");
    for (size_t i = 0; i < c->n; i++) {
        const char *labels[] = {"vm", c->s[i].name, NULL};
        prom_sample(t, "hostel_vm_up", labels, state_has_vmm(c->s[i].state));
    }
    vm_family(t, c, "hostel_vm_cpu_seconds_total", "counter",
              "Host CPU time used by the VM's VMM process (user + system)", false, "cpu_s");
    vm_family(t, c, "hostel_vm_memory_rss_bytes", "gauge",
              "Resident set size of the VM's VMM process", false, "memory_rss");
    vm_family(t, c, "hostel_vm_restarts_total", "counter",
              "Times the daemon restarted the VM after its VMM ended", false, "restarts");
    vm_family(t, c, "hostel_vm_ram_touched_bytes", "gauge",
              "Guest RAM resident in host memory (pages the guest touched)", true, "ram-touched");
    vm_family(t, c, "hostel_vm_instructions_total", "counter",
              "Guest instructions retired since the VMM started", true, "instructions");
    static const struct {
        const char *name, *help, *list, *label, *key;
    } devs[] = {
        {"hostel_vm_disk_read_bytes_total", "Bytes the guest read from the disk", "disks", "disk",
         "read-bytes"},
        {"hostel_vm_disk_read_ops_total", "Reads the guest completed on the disk", "disks", "disk",
         "read-ops"},
        {"hostel_vm_disk_write_bytes_total", "Bytes the guest wrote to the disk", "disks", "disk",
         "write-bytes"},
        {"hostel_vm_disk_write_ops_total", "Writes the guest completed on the disk", "disks",
         "disk", "write-ops"},
        {"hostel_vm_net_rx_bytes_total", "Ethernet bytes delivered to the guest's card", "nics",
         "nic", "rx-bytes"},
        {"hostel_vm_net_rx_packets_total", "Frames delivered to the guest's card", "nics", "nic",
         "rx-packets"},
        {"hostel_vm_net_tx_bytes_total", "Ethernet bytes the guest's card sent", "nics", "nic",
         "tx-bytes"},
        {"hostel_vm_net_tx_packets_total", "Frames the guest's card sent", "nics", "nic",
         "tx-packets"},
    };
    for (size_t i = 0; i < sizeof(devs) / sizeof(devs[0]); i++)
        device_family(t, c, devs[i].name, devs[i].help, devs[i].list, devs[i].label, devs[i].key);
}

static void write_host_families(PromText *t, const Collect *c)
{
    uint64_t total, available;
    host_memory(&total, &available);
    prom_family(t, "hostel_host_cpus", "gauge", "CPUs online on the host");
    prom_sample(t, "hostel_host_cpus", NULL, host_cpus());
    prom_family(t, "hostel_host_memory_bytes", "gauge", "Host memory in total (MemTotal)");
    prom_sample(t, "hostel_host_memory_bytes", NULL, (double)total);
    prom_family(t, "hostel_host_memory_available_bytes", "gauge",
                "Host memory available (MemAvailable)");
    prom_sample(t, "hostel_host_memory_available_bytes", NULL, (double)available);
    prom_family(t, "hostel_vms", "gauge", "Defined VMs by state");
    for (size_t w = 0; w < sizeof(state_words) / sizeof(state_words[0]); w++) {
        const char *labels[] = {"state", state_words[w], NULL};
        unsigned n = 0;
        for (size_t i = 0; i < c->n; i++)
            n += strcmp(c->s[i].state, state_words[w]) == 0;
        prom_sample(t, "hostel_vms", labels, n);
    }
}

void api_h_metrics_get(Api *api, const ApiRequest *req, const ApiArgs *args, ApiResponse *r)
{
    Collect c;
    PromText t;
    (void)req;
    (void)args;
    if (!collect(api, &c, true)) {
        api_error(r, 500, "out of memory");
        return;
    }
    char *text = NULL;
    if (prom_open(&t) == 0) {
        write_vm_families(&t, &c);
        write_host_families(&t, &c);
        text = prom_take(&t);
    }
    collect_free(&c);
    if (!text) {
        api_error(r, 500, "out of memory");
        return;
    }
    api_reply_text(r, 200, text);
    r->content_type = PROM_CONTENT_TYPE;
}
