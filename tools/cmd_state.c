/*
 * `hostel state show` and `hostel clone`: the commands that work on state
 * files and disks locally, without a running VM.
 */
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "machine/machine_state.h"
#include "vmm/vmm.h"

static void state_help(FILE *out)
{
    fprintf(out, "usage: hostel state show FILE|-\n"
                 "\n"
                 "Check a state file (written by 'hostel suspend' or a snapshot) and print it\n"
                 "as JSON: format version, the saved configuration, each device's fields, RAM.\n"
                 "With -, the state stream is read from standard input (a file or a pipe).\n");
}

static void clone_help(FILE *out)
{
    fprintf(
        out,
        "usage: hostel clone [--linked] VM NEW\n"
        "       hostel clone [--full] SRC NEW\n"
        "\n"
        "VM a VM hosteld knows (or REMOTE:VM): NEW is a new VM defined in hosteld\n"
        "with VM's definition and a copy of its disks (with --linked, qcow2 overlays\n"
        "over them, and VM moves onto overlays of its own), a new UUID and new MAC\n"
        "addresses.  A running VM is suspended for the clone and resumed; its clone\n"
        "is then suspended where VM was, and 'hostel start NEW' resumes it.\n"
        "\n"
        "Otherwise, make a new VM or disk from the file SRC.  SRC a disk image: NEW is a qcow2 overlay\n"
        "backed by SRC (a linked clone: SRC must not be written afterwards), or with\n"
        "--full a thin qcow2 copy of its content.  SRC a state file (hostel suspend):\n"
        "NEW is a state file of a VM with the same memory whose writable disks are\n"
        "cloned as above (NEW.vda.qcow2, ...) and whose network card has a new MAC\n"
        "address; a linked clone also moves SRC onto overlays (SRC.vda.qcow2, ...),\n"
        "so the original disks become shared read-only bases.  Restore each with\n"
        "'hostel run --restore FILE --name NAME'.\n");
}

static int state_main(int argc, char **argv)
{
    if (cli_is_help(argc, argv)) {
        state_help(stdout);
        return 0;
    }
    if (argc != 3 || strcmp(argv[1], "show") != 0)
        return cli_usage("state", "expected show FILE");
    Error err = {0};
    json_t *doc = strcmp(argv[2], "-") == 0 ? machine_state_describe_fd(0, "-", &err)
                                            : machine_state_describe(argv[2], &err);
    if (!doc)
        return cli_fail(&err);
    json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    putchar('\n');
    json_decref(doc);
    return 0;
}

/* A clone's completion, waited for on the main thread. */
typedef struct CloneWait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool finished;
    bool ok;
    Error err;
} CloneWait;

static void clone_done(void *opaque, const VmmResult *r, const Error *err)
{
    CloneWait *w = opaque;
    pthread_mutex_lock(&w->lock);
    w->ok = r != NULL;
    if (err)
        w->err = *err;
    w->finished = true;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* vmm_clone, waiting for its completion: 0, or -1 with err filled. */
static int clone_wait(const char *src, const char *dst, bool full, Error *err)
{
    CloneWait w = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    if (vmm_clone(src, dst, full, clone_done, &w, err) < 0)
        return -1;
    pthread_mutex_lock(&w.lock);
    while (!w.finished)
        pthread_cond_wait(&w.cond, &w.lock);
    pthread_mutex_unlock(&w.lock);
    if (!w.ok)
        *err = w.err;
    return w.ok ? 0 : -1;
}

static int clone_main(int argc, char **argv)
{
    if (cli_is_help(argc, argv)) {
        clone_help(stdout);
        return 0;
    }
    bool linked = argc > 1 && strcmp(argv[1], "--linked") == 0;
    if (argc == 3 + linked && argv[1 + linked][0] != '-' && mgmt_cli_knows(argv[1 + linked]))
        return mgmt_cli_clone(argv[1 + linked], argv[2 + linked], linked); /* a VM of hosteld */
    if (linked && argc == 4 && mgmt_cli_knows(argv[2]))
        return mgmt_cli_clone(argv[2], argv[3], true);
    bool full = argc > 1 && strcmp(argv[1], "--full") == 0;
    if (argc != 3 + full || argv[1 + full][0] == '-')
        return cli_usage("clone", "expected [--full] SRC NEW, or [--linked] VM NEW");
    Error err = {0};
    if (clone_wait(argv[1 + full], argv[2 + full], full, &err) < 0)
        return cli_fail(&err);
    return 0;
}

const Command cmd_state = {
    .name = "state",
    .run = state_main,
    .help = state_help,
    .summary = "check and print a state file as JSON",
};

const Command cmd_clone = {
    .name = "clone",
    .run = clone_main,
    .help = clone_help,
    .summary = "a linked or full clone of a suspended VM or a disk",
};
