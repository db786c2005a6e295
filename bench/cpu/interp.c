/*
 * Workload "interp": the two classic shapes of switch-driven code.
 *  - a stack-machine bytecode interpreter (dispatch through a switch in a
 *    loop, indirect jumps, a small operand stack in memory);
 *  - a tokenizer: a character-class state machine over 64 KiB of generated
 *    source text (identifiers, numbers, strings, operators, blanks).
 * Measures indirect branches, unpredictable conditional branches and
 * byte-sized memory accesses.
 */
#include "bench.h"

#define VM_MAX_CODE 64
#define VM_STACK 16
#define VM_LOOPS 20000
#define TOK_TEXT (64u * 1024)

const uint32_t bench_reps = 150;

enum {
    OP_PUSH,
    OP_LOAD,
    OP_STORE,
    OP_ADD,
    OP_MUL,
    OP_XOR,
    OP_AND,
    OP_SHR,
    OP_LT,
    OP_JZ,
    OP_JMP,
    OP_HALT
};

enum { VAR_X, VAR_I, VAR_N, VAR_ODD, VM_VARS };

typedef struct VmCode {
    uint32_t word[VM_MAX_CODE]; /* op in bits 0-7, argument in bits 8-31 */
    uint32_t len;
} VmCode;

static uint32_t vm_emit(VmCode *c, uint32_t op, uint32_t arg)
{
    c->word[c->len] = op | arg << 8;
    return c->len++;
}

static void vm_patch(VmCode *c, uint32_t at, uint32_t target)
{
    c->word[at] = (c->word[at] & 0xff) | target << 8;
}

/* i = 0; while (i < n) { x = x * 33 + i; x ^= x >> 7; if (x & 1) odd++; i++; } */
static void vm_assemble(VmCode *c)
{
    c->len = 0;
    vm_emit(c, OP_PUSH, 0), vm_emit(c, OP_STORE, VAR_I);
    uint32_t loop = vm_emit(c, OP_LOAD, VAR_I);
    vm_emit(c, OP_LOAD, VAR_N), vm_emit(c, OP_LT, 0);
    uint32_t exit_jump = vm_emit(c, OP_JZ, 0);
    vm_emit(c, OP_LOAD, VAR_X), vm_emit(c, OP_PUSH, 33), vm_emit(c, OP_MUL, 0);
    vm_emit(c, OP_LOAD, VAR_I), vm_emit(c, OP_ADD, 0), vm_emit(c, OP_STORE, VAR_X);
    vm_emit(c, OP_LOAD, VAR_X), vm_emit(c, OP_LOAD, VAR_X), vm_emit(c, OP_PUSH, 7);
    vm_emit(c, OP_SHR, 0), vm_emit(c, OP_XOR, 0), vm_emit(c, OP_STORE, VAR_X);
    vm_emit(c, OP_LOAD, VAR_X), vm_emit(c, OP_PUSH, 1), vm_emit(c, OP_AND, 0);
    uint32_t skip_jump = vm_emit(c, OP_JZ, 0);
    vm_emit(c, OP_LOAD, VAR_ODD), vm_emit(c, OP_PUSH, 1), vm_emit(c, OP_ADD, 0);
    vm_emit(c, OP_STORE, VAR_ODD);
    vm_patch(c, skip_jump, vm_emit(c, OP_LOAD, VAR_I));
    vm_emit(c, OP_PUSH, 1), vm_emit(c, OP_ADD, 0), vm_emit(c, OP_STORE, VAR_I);
    vm_emit(c, OP_JMP, loop);
    vm_patch(c, exit_jump, vm_emit(c, OP_HALT, 0));
}

/* Runs code until OP_HALT over the variables in var; returns the instructions executed. */
static uint64_t vm_run(const VmCode *c, uint64_t *var)
{
    uint64_t stack[VM_STACK], steps = 0;
    uint32_t sp = 0, pc = 0;
    for (;;) {
        uint32_t w = c->word[pc++], arg = w >> 8;
        steps++;
        switch (w & 0xff) {
        case OP_PUSH: stack[sp++] = arg; break;
        case OP_LOAD: stack[sp++] = var[arg]; break;
        case OP_STORE: var[arg] = stack[--sp]; break;
        case OP_ADD: sp--, stack[sp - 1] += stack[sp]; break;
        case OP_MUL: sp--, stack[sp - 1] *= stack[sp]; break;
        case OP_XOR: sp--, stack[sp - 1] ^= stack[sp]; break;
        case OP_AND: sp--, stack[sp - 1] &= stack[sp]; break;
        case OP_SHR: sp--, stack[sp - 1] >>= stack[sp] & 63; break;
        case OP_LT: sp--, stack[sp - 1] = stack[sp - 1] < stack[sp]; break;
        case OP_JZ: pc = stack[--sp] ? pc : arg; break;
        case OP_JMP: pc = arg; break;
        default: return steps;
        }
        if (sp >= VM_STACK || pc >= c->len)
            bench_fail(BENCH_FAIL_SELFTEST);
    }
}

enum { TOK_NONE, TOK_IDENT, TOK_NUMBER, TOK_STRING, TOK_OP, TOK_KINDS };
enum { CH_OTHER, CH_ALPHA, CH_DIGIT, CH_QUOTE, CH_OP, CH_BLANK };

static const char tok_ops[] = "+-*/=<>(){};,";

static uint8_t tok_class(uint8_t ch)
{
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_')
        return CH_ALPHA;
    if (ch >= '0' && ch <= '9')
        return CH_DIGIT;
    if (ch == '"')
        return CH_QUOTE;
    if (ch == ' ' || ch == '\n' || ch == '\t')
        return CH_BLANK;
    for (const char *o = tok_ops; *o; o++) {
        if (ch == (uint8_t)*o)
            return CH_OP;
    }
    return CH_OTHER;
}

/* Appends one random token (or blank run) of source text at p; returns its length. */
static uint32_t tok_gen_one(uint8_t *p, uint64_t *seed)
{
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";
    uint64_t r = bench_rand(seed);
    uint32_t len = 1 + (uint32_t)(r >> 8) % 8, kind = (uint32_t)r % 5;
    for (uint32_t i = 0; i < len; i++) {
        uint64_t c = bench_rand(seed) >> 16;
        if (kind == 0 || (kind == 3 && i > 0 && i < len - 1))
            p[i] = (uint8_t)alpha[c % (sizeof(alpha) - 1)];
        else if (kind == 1)
            p[i] = (uint8_t)('0' + c % 10);
        else if (kind == 2)
            p[i] = (uint8_t) " \n\t"[c % 3];
        else if (kind == 3)
            p[i] = '"';
        else
            p[i] = (uint8_t)tok_ops[c % (sizeof(tok_ops) - 1)];
    }
    return len;
}

static void tok_generate(uint8_t *text, uint64_t *seed)
{
    uint32_t at = 0;
    while (at + 8 <= TOK_TEXT) {
        at += tok_gen_one(text + at, seed);
        text[at++] = ' ';
    }
    while (at < TOK_TEXT)
        text[at++] = ' ';
}

/* Tokenizes text[0..n); returns a hash of the token kinds, lengths and number values. */
static uint64_t tok_scan(const uint8_t *text, uint32_t n, const uint8_t *cls)
{
    uint64_t h = BENCH_HASH_INIT, value = 0;
    uint32_t state = TOK_NONE, start = 0;
    for (uint32_t i = 0; i <= n; i++) {
        uint8_t c = i < n ? cls[text[i]] : CH_BLANK;
        switch (state) {
        case TOK_IDENT:
            if (c == CH_ALPHA || c == CH_DIGIT)
                continue;
            break;
        case TOK_NUMBER:
            if (c == CH_DIGIT) {
                value = value * 10 + (text[i] - '0');
                continue;
            }
            break;
        case TOK_STRING:
            if (c != CH_QUOTE && i < n)
                continue;
            i++; /* the closing quote belongs to the string */
            c = i < n ? cls[text[i]] : CH_BLANK;
            break;
        default: break;
        }
        if (state != TOK_NONE)
            h = bench_mix(h, (uint64_t)state << 56 | (uint64_t)(i - start) << 32 |
                                 (value & 0xffffffff));
        start = i, value = 0;
        switch (c) {
        case CH_ALPHA: state = TOK_IDENT; break;
        case CH_DIGIT: state = TOK_NUMBER, value = text[i] - '0'; break;
        case CH_QUOTE: state = TOK_STRING; break;
        case CH_OP: state = TOK_OP; break;
        default: state = TOK_NONE; break;
        }
    }
    return h;
}

uint64_t bench_run(uint32_t reps)
{
    uint64_t seed = 0x452821e638d01377ULL, sum = BENCH_HASH_INIT;
    uint8_t *text = bench_alloc(TOK_TEXT), cls[256];
    VmCode code;
    for (uint32_t i = 0; i < 256; i++)
        cls[i] = tok_class((uint8_t)i);
    tok_generate(text, &seed);
    vm_assemble(&code);
    for (uint32_t r = 0; r < reps; r++) {
        uint64_t var[VM_VARS] = {r, 0, VM_LOOPS + (r & 7), 0};
        uint64_t steps = vm_run(&code, var);
        sum = bench_mix(sum, bench_mix(var[VAR_X] ^ var[VAR_ODD] << 48, steps));
        text[(r * 331u) % TOK_TEXT] = (uint8_t)tok_ops[r % (sizeof(tok_ops) - 1)];
        sum = bench_mix(sum, tok_scan(text, TOK_TEXT, cls));
    }
    return sum;
}
