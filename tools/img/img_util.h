/*
 * Helpers shared by the `hostel img` subcommands: error lines, qemu-img's
 * size syntax, -o option lists, the progress bar, opening images, and
 * walking a backing chain extent by extent.
 */
#ifndef HOSTEL_IMG_IMG_UTIL_H
#define HOSTEL_IMG_IMG_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "block/block.h"

/* Bytes moved per request by the copying commands (convert, commit, rebase, compare). */
#define IMG_CHUNK (2u << 20)

/* Exit status of a failed command (compare uses 2, check its own codes). */
#define IMG_EXIT_FAIL 1

typedef enum { IMG_OUT_HUMAN, IMG_OUT_JSON } ImgOutput;

/* One subcommand: argv[0] is its name. Returns the exit status. */
typedef struct ImgCommand {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;   /* synopsis and options, printed by --help */
    const char *summary; /* one line for `hostel img --help` */
} ImgCommand;

extern const ImgCommand img_cmd_create, img_cmd_info, img_cmd_check, img_cmd_convert,
    img_cmd_resize, img_cmd_snapshot, img_cmd_commit, img_cmd_rebase, img_cmd_compare, img_cmd_map,
    img_cmd_measure;

/* Print "hostel img: MESSAGE" on stderr; returns IMG_EXIT_FAIL. */
int img_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same for an Error the block layer filled. */
int img_fail(const Error *err);
/* "hostel img: CMD: MESSAGE (see 'hostel img CMD --help')"; returns IMG_EXIT_FAIL. */
int img_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The usage error for a getopt result of '?' or ':' (argv[optind - 1] is the culprit). */
int img_bad_option(const char *cmd, int c, char **argv);
/* Reset getopt for a new parse; option strings then start with ':'. */
void img_getopt_reset(void);

/* Parse a size the way qemu-img does (util/size.h's rules, a plain number is bytes). */
bool img_parse_size(const char *s, uint64_t *out);

/* A size for people, as qemu-img prints it: "196 KiB", "1 GiB", "0 B". */
void img_size_str(uint64_t bytes, char *buf, size_t len);

/* "--output" argument: human or json.  Returns false for anything else. */
bool img_parse_output(const char *arg, ImgOutput *out);

/*
 * Image creation options (-o k=v,... and the flags that set the same
 * fields).  Strings point into buf, which img_create_opts_free releases.
 */
typedef struct ImgCreateOpts {
    BlockCreateOpts o;
    bool size_set; /* size=N given in -o */
    bool help;     /* -o help: list the options */
    unsigned set;  /* which options -o named (bit per option) */
    char *buf;     /* the -o text, split in place */
} ImgCreateOpts;

/* Append one -o argument (several -o accumulate, as with qemu-img). */
int img_create_opts_add(ImgCreateOpts *c, const char *text, Error *err);
/* Parse the accumulated -o text into c->o. */
int img_create_opts_parse(ImgCreateOpts *c, Error *err);
/* Check the options against the format, as qemu-img does before creating. */
int img_create_opts_check(const ImgCreateOpts *c, const char *format, Error *err);
/* Print the options a format accepts (for -o help). */
void img_create_opts_help(const char *format);
void img_create_opts_free(ImgCreateOpts *c);

/* The progress bar of -p: "    (42.00/100%)\r" on stdout, as qemu-img prints it. */
typedef struct ImgProgress {
    bool enabled;
    double shown; /* last percentage printed */
} ImgProgress;

void img_progress_start(ImgProgress *p, bool enabled);
void img_progress_update(ImgProgress *p, uint64_t done, uint64_t total);
void img_progress_end(ImgProgress *p);

/* How to open an image. */
enum {
    IMG_OPEN_RW = 1 << 0,         /* read-write (locks the image exclusively) */
    IMG_OPEN_NO_BACKING = 1 << 1, /* leave the backing chain closed */
    IMG_OPEN_SHARE = 1 << 2,      /* -U: do not lock (read-only opens only) */
    IMG_OPEN_REPAIR = 1 << 3,     /* check -r: open even an image marked corrupt */
};

BlockDev *img_open(const char *path, const char *format, unsigned flags, Error *err);

/* Number of images in bd's chain (bd itself included). */
unsigned img_chain_length(const BlockDev *bd);

/*
 * The status of [offset, offset+len) through the chain, with the chain's
 * bottom reporting zeroes: *flags has BLOCK_ST_ZERO where no layer defines
 * the data, and *depth is the defining layer (the bottom one for holes, as
 * qemu-img map counts).  Holes in a raw layer's host file read as
 * zeroes (ALLOCATED | ZERO), found with SEEK_HOLE as qemu-img does.
 * Returns 0 or -1 with err filled.
 */
int img_chain_status(BlockDev *bd, uint64_t offset, uint64_t len, uint64_t *pnum, unsigned *flags,
                     uint64_t *host_off, unsigned *depth, Error *err);

/* The layer at depth d below bd (0 = bd), or NULL. */
BlockDev *img_chain_layer(BlockDev *bd, unsigned d);

/* The format of the image at path, found by opening it read-only; NULL if it cannot be opened. */
const char *img_probe_format(const char *path, Error *err);

/* Print qemu-img's "ID TAG VM SIZE DATE VM CLOCK ICOUNT" table (img_info.c). */
void img_snapshot_table(const BlockSnapshot *sn, int count);

/* A JSON string of s, bytes as they are (file names need not be UTF-8, as with qemu-img). */
json_t *img_json_str(const char *s);
/* Print v as qemu-img does (4-space indent, keys in order, a newline) on stdout; frees v. */
void img_json_print(json_t *v);

/* Smaller of two sizes. */
static inline uint64_t img_min(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

#endif
