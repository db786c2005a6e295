/*
 * Workload "list": pointer chasing over a linked list whose nodes are
 * linked in a shuffled order, so every step is a dependent load to an
 * unpredictable address (1 MiB of nodes: past L1, within the host's L2).
 * Measures load latency through the emulator's memory path and the cost
 * of short dependent basic blocks.
 */
#include "bench.h"

#define LIST_NODES (1u << 16)
#define LIST_STEPS (LIST_NODES * 4)

typedef struct ListNode {
    struct ListNode *next;
    uint64_t value;
} ListNode;

const uint32_t bench_reps = 400;

/* Fisher-Yates shuffle of 0..n-1 into order. */
static void list_shuffle(uint32_t *order, uint32_t n, uint64_t *seed)
{
    for (uint32_t i = 0; i < n; i++)
        order[i] = i;
    for (uint32_t i = n - 1; i > 0; i--) {
        uint32_t j = (uint32_t)(bench_rand(seed) % (i + 1));
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* Builds a circular list through the nodes in shuffled order. */
static ListNode *list_build(uint64_t *seed)
{
    ListNode *nodes = bench_alloc(LIST_NODES * sizeof(ListNode));
    uint32_t *order = bench_alloc(LIST_NODES * sizeof(uint32_t));
    list_shuffle(order, LIST_NODES, seed);
    for (uint32_t i = 0; i < LIST_NODES; i++) {
        ListNode *n = &nodes[order[i]];
        n->next = &nodes[order[(i + 1) % LIST_NODES]];
        n->value = bench_rand(seed) >> 8;
    }
    return nodes;
}

/* Walks steps nodes from start; returns a hash of the values seen, rewriting each value. */
static uint64_t list_walk(ListNode *start, uint32_t steps)
{
    uint64_t h = 0;
    ListNode *n = start;
    for (uint32_t i = 0; i < steps; i++) {
        h = (h << 5) + h + n->value;
        if ((i & 15) == 0)
            n->value ^= h & 0xff;
        n = n->next;
    }
    return h;
}

uint64_t bench_run(uint32_t reps)
{
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    ListNode *nodes = list_build(&seed);
    uint64_t sum = BENCH_HASH_INIT;
    for (uint32_t r = 0; r < reps; r++) {
        ListNode *start = &nodes[(r * 7919u) % LIST_NODES];
        sum = bench_mix(sum, list_walk(start, LIST_STEPS));
    }
    return sum;
}
