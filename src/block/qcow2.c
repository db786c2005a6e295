/* qcow2: placeholder until the driver lands (probe only). */
#include "block/block.h"

#include <string.h>

#include "block/file.h"

static int qcow2_probe(const uint8_t *buf, size_t len)
{
    return len >= 4 && memcmp(buf, "QFI\xfb", 4) == 0 ? 100 : 0;
}

static BlockDev *qcow2_open(BlockFile *f, const BlockOpenOpts *o, Error *err)
{
    error_set(err, "%s: qcow2 images are not supported yet", f->path);
    block_file_close(f);
    return NULL;
}

const BlockDriver block_qcow2_driver = {
    .format = "qcow2",
    .probe = qcow2_probe,
    .open = qcow2_open,
};
