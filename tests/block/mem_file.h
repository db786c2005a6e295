/*
 * An in-memory BlockFile for tests and fuzz targets: the "host file" is a
 * growable buffer, so an image can be opened without touching the
 * filesystem (block_open_file()).
 *
 * The bytes live in a MemStore that outlives the BlockFiles opened on it:
 * a format's close() closes its BlockFile, and a test can reopen the same
 * store afterwards (close + open without a real file).  The store has a
 * size cap so a hostile image cannot make a test grow it without bound;
 * writes or truncates past the cap fail with ENOSPC.
 */
#ifndef HOSTEL_TESTS_BLOCK_MEM_FILE_H
#define HOSTEL_TESTS_BLOCK_MEM_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "block/file.h"

typedef struct MemStore MemStore;

/* A store holding a copy of data[0..len) that may grow to max_len bytes (NULL: out of memory). */
MemStore *mem_store_new(const void *data, size_t len, uint64_t max_len);
/* Drop the caller's reference (files still open keep the store alive). */
void mem_store_unref(MemStore *s);
/* The current bytes (valid until the next write or truncate). */
const uint8_t *mem_store_data(const MemStore *s, size_t *len);
/* Counters: bytes and calls that went through files opened on s. */
uint64_t mem_store_bytes_read(const MemStore *s);

/* A BlockFile on s (takes its own reference; NULL: out of memory). */
BlockFile *mem_file_open(MemStore *s, const char *name, bool read_only);

/* The store under a BlockFile made by mem_file_open, or NULL for another kind of file. */
MemStore *mem_file_store(BlockFile *f);

#endif
