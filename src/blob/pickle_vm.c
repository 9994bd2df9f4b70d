/* pickle_vm.c - the restricted pickle machine (see pickle_vm.h), including
 * the one allow-listed loader that reads nested bytes: PyTorch's legacy
 * storage serialisation behind torch.storage._load_from_bytes. */
#include "pickle_vm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bounds on what one blob may make the machine hold. PyTorch's state_dict
 * pickles need a few hundred objects per tensor at most. */
#define MAX_STACK (1u << 16)
#define MAX_MARKS (1u << 12)
#define MAX_MEMO (1u << 20)
#define MAX_ARENA ((size_t)64 << 20)
#define MAX_LONG_BYTES 16

/* ---- arena ---------------------------------------------------------------------- */

typedef struct pk_chunk {
    struct pk_chunk *next;
    size_t used, cap;
    max_align_t data[];
} pk_chunk;

struct pk_arena {
    pk_chunk *head;
    size_t total;
};

pk_arena *pk_arena_new(void) { return calloc(1, sizeof(pk_arena)); }

void pk_arena_free(pk_arena *a) {
    if (!a) return;
    for (pk_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

static void *arena_alloc(pk_arena *a, size_t size) {
    size = (size + sizeof(max_align_t) - 1) / sizeof(max_align_t) * sizeof(max_align_t);
    if (size > MAX_ARENA || a->total + size > MAX_ARENA) return NULL;
    pk_chunk *c = a->head;
    if (!c || c->cap - c->used < size) {
        const size_t cap = size > (64u << 10) ? size : (64u << 10);
        if (!(c = malloc(sizeof *c + cap))) return NULL;
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += size;
    a->total += size;
    memset(p, 0, size);
    return p;
}

/* ---- the machine ------------------------------------------------------------------ */

typedef struct vm {
    pk_arena *arena;
    const uint8_t *buf;
    size_t len, pos, op_at;      /* op_at: offset of the opcode being run */
    pk_obj **stack;
    size_t sp, stack_cap;
    size_t marks[MAX_MARKS];
    size_t n_marks;
    pk_obj **memo;
    size_t memo_cap, memo_next;  /* memo_next: where MEMOIZE stores */
    int inner;                   /* running a legacy storage pickle: persistent ids allowed */
    pk_obj *persistent;          /* inner: the storage its persistent id made */
    const char *what;            /* "pickle" or "storage pickle", for messages */
    cassnn_err *err;
} vm;

static int fail(vm *m, const char *fmt, const char *detail) {
    char text[512];
    snprintf(text, sizeof text, fmt, detail);
    return cassnn_err_set(m->err, "%s: %s (opcode at byte %zu)", m->what, text, m->op_at);
}

static pk_obj *new_obj(vm *m, pk_kind kind) {
    pk_obj *o = arena_alloc(m->arena, sizeof *o);
    if (o) o->kind = kind;
    else fail(m, "%s", "too many objects (over the 64 MiB bound)");
    return o;
}

static int push(vm *m, pk_obj *o) {
    if (!o) return -1;
    if (m->sp == m->stack_cap) {
        if (m->sp == MAX_STACK) return fail(m, "%s", "stack deeper than 65536");
        const size_t cap = m->stack_cap ? 2 * m->stack_cap : 64;
        pk_obj **stack = realloc(m->stack, cap * sizeof *stack);
        if (!stack) return fail(m, "%s", "out of memory");
        m->stack = stack;
        m->stack_cap = cap;
    }
    m->stack[m->sp++] = o;
    return 0;
}

static pk_obj *pop(vm *m) {
    const size_t floor = m->n_marks ? m->marks[m->n_marks - 1] : 0;
    if (m->sp <= floor) {
        fail(m, "%s", "stack underflow");
        return NULL;
    }
    return m->stack[--m->sp];
}

static pk_obj *top(vm *m) {
    const size_t floor = m->n_marks ? m->marks[m->n_marks - 1] : 0;
    if (m->sp <= floor) {
        fail(m, "%s", "stack underflow");
        return NULL;
    }
    return m->stack[m->sp - 1];
}

static const uint8_t *take(vm *m, size_t n) {
    if (n > m->len - m->pos) {
        fail(m, "%s", "truncated");
        return NULL;
    }
    const uint8_t *p = m->buf + m->pos;
    m->pos += n;
    return p;
}

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Appends o to the items of a tuple/list or to a dict's keys/values. */
static int seq_append(vm *m, pk_obj *seq, pk_obj *o) {
    if (seq->u.seq.n == seq->u.seq.cap) {
        const size_t cap = seq->u.seq.cap ? 2 * seq->u.seq.cap : 4;
        pk_obj **items = arena_alloc(m->arena, cap * sizeof *items);
        if (!items) return fail(m, "%s", "too many objects (over the 64 MiB bound)");
        if (seq->u.seq.n) memcpy(items, seq->u.seq.items, seq->u.seq.n * sizeof *items);
        seq->u.seq.items = items;
        seq->u.seq.cap = cap;
    }
    seq->u.seq.items[seq->u.seq.n++] = o;
    return 0;
}

static int dict_set(vm *m, pk_obj *d, pk_obj *key, pk_obj *value) {
    if (key->kind != PK_STR && key->kind != PK_INT)
        return fail(m, "dict key of type %s (only str and int keys are read)", pk_kind_name(key->kind));
    if (d->u.dict.n == d->u.dict.cap) {
        const size_t cap = d->u.dict.cap ? 2 * d->u.dict.cap : 4;
        pk_obj **keys = arena_alloc(m->arena, cap * sizeof *keys);
        pk_obj **values = arena_alloc(m->arena, cap * sizeof *values);
        if (!keys || !values) return fail(m, "%s", "too many objects (over the 64 MiB bound)");
        if (d->u.dict.n) {
            memcpy(keys, d->u.dict.keys, d->u.dict.n * sizeof *keys);
            memcpy(values, d->u.dict.values, d->u.dict.n * sizeof *values);
        }
        d->u.dict.keys = keys;
        d->u.dict.values = values;
        d->u.dict.cap = cap;
    }
    d->u.dict.keys[d->u.dict.n] = key;
    d->u.dict.values[d->u.dict.n++] = value;
    return 0;
}

/* Pops everything above the last MARK, and the mark. */
static int pop_mark(vm *m, size_t *from) {
    if (!m->n_marks) return fail(m, "%s", "no MARK on the stack");
    *from = m->marks[--m->n_marks];
    return 0;
}

/* ---- globals ---------------------------------------------------------------------- */

static const struct {
    const char *type;
    const char *dtype;
    size_t elem;
} storage_types[] = {
    {"FloatStorage", "F32", 4}, {"DoubleStorage", "F64", 8}, {"HalfStorage", "F16", 2},
    {"BFloat16Storage", "BF16", 2}, {"LongStorage", "I64", 8}, {"IntStorage", "I32", 4},
    {"ShortStorage", "I16", 2}, {"CharStorage", "I8", 1}, {"ByteStorage", "U8", 1},
    {"BoolStorage", "BOOL", 1},
};

static int same(const uint8_t *p, size_t n, const char *s) {
    return n == strlen(s) && !memcmp(p, s, n);
}

static int push_global(vm *m, const uint8_t *module, size_t mlen, const uint8_t *name, size_t nlen) {
    pk_obj *g = new_obj(m, PK_GLOBAL);
    if (!g) return -1;
    if (same(module, mlen, "collections") && same(name, nlen, "OrderedDict"))
        g->u.global.which = PKG_ORDERED_DICT;
    else if (same(module, mlen, "torch._utils") && same(name, nlen, "_rebuild_tensor_v2"))
        g->u.global.which = PKG_REBUILD_TENSOR;
    else if (!m->inner && same(module, mlen, "torch.storage") && same(name, nlen, "_load_from_bytes"))
        g->u.global.which = PKG_LOAD_FROM_BYTES;
    else if (same(module, mlen, "_codecs") && same(name, nlen, "encode"))
        g->u.global.which = PKG_CODECS_ENCODE;
    else {
        for (size_t i = 0; m->inner && same(module, mlen, "torch") &&
                           i < sizeof storage_types / sizeof storage_types[0]; i++)
            if (same(name, nlen, storage_types[i].type)) {
                g->u.global.which = PKG_STORAGE_TYPE;
                strcpy(g->u.global.dtype, storage_types[i].dtype);
                g->u.global.elem = storage_types[i].elem;
                return push(m, g);
            }
        char text[160];
        snprintf(text, sizeof text, "%.*s.%.*s", (int)(mlen > 60 ? 60 : mlen), module,
                 (int)(nlen > 60 ? 60 : nlen), name);
        for (char *c = text; *c; c++)
            if ((unsigned char)*c < 32 || (unsigned char)*c > 126) *c = '?';
        return fail(m, "global '%s' is not allowed (only collections.OrderedDict, "
                       "torch._utils._rebuild_tensor_v2, torch.storage._load_from_bytes, "
                       "_codecs.encode and torch storage types are)", text);
    }
    return push(m, g);
}

/* ---- calls (REDUCE) ------------------------------------------------------------ */

static int load_legacy_storage(vm *outer, const uint8_t *buf, size_t len, pk_obj **out);

static int int_arg(vm *m, const pk_obj *o, const char *what, int64_t *out) {
    if (o->kind != PK_INT || o->u.i < 0 || o->u.i > (1LL << 40))
        return fail(m, "_rebuild_tensor_v2: %s is not a size", what);
    *out = o->u.i;
    return 0;
}

static pk_obj *rebuild_tensor(vm *m, const pk_obj *args) {
    const size_t n = args->u.seq.n;
    pk_obj *const *a = args->u.seq.items;
    if (n != 6 && n != 7) {
        fail(m, "%s", "_rebuild_tensor_v2 takes 6 or 7 arguments");
        return NULL;
    }
    if (a[0]->kind != PK_STORAGE || a[2]->kind != PK_TUPLE || a[3]->kind != PK_TUPLE ||
        a[4]->kind != PK_BOOL || a[5]->kind != PK_DICT || a[5]->u.dict.n != 0 ||
        (n == 7 && a[6]->kind != PK_NONE && a[6]->kind != PK_DICT)) {
        fail(m, "%s", "_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, "
                      "requires_grad, {}[, metadata])");
        return NULL;
    }
    const size_t ndim = a[2]->u.seq.n;
    if (ndim > BLOB_MAX_DIMS || a[3]->u.seq.n != ndim) {
        fail(m, "%s", "_rebuild_tensor_v2: size and stride differ in length or exceed 8 dimensions");
        return NULL;
    }
    pk_obj *t = new_obj(m, PK_TENSOR);
    if (!t) return NULL;
    pk_tensor *x = &t->u.tensor;
    x->storage = &a[0]->u.storage;
    x->ndim = (int)ndim;
    if (int_arg(m, a[1], "offset", &x->offset)) return NULL;
    /* the last element addressed must lie inside the storage */
    uint64_t last = (uint64_t)x->offset, numel = 1;
    for (size_t d = 0; d < ndim; d++) {
        if (int_arg(m, a[2]->u.seq.items[d], "a dimension", &x->shape[d]) ||
            int_arg(m, a[3]->u.seq.items[d], "a stride", &x->stride[d]))
            return NULL;
        numel *= (uint64_t)x->shape[d];
        if (numel > (1ULL << 40)) {
            fail(m, "%s", "_rebuild_tensor_v2: too many elements");
            return NULL;
        }
        if (x->shape[d] > 0) last += (uint64_t)(x->shape[d] - 1) * (uint64_t)x->stride[d];
    }
    if (numel > 0 && last >= x->storage->numel) {
        fail(m, "%s", "_rebuild_tensor_v2: the tensor reaches past the end of its storage");
        return NULL;
    }
    return t;
}

/* UTF-8 text of code points < 256 back to the bytes it encodes (latin-1). */
static pk_obj *codecs_encode(vm *m, const pk_obj *args) {
    pk_obj *const *a = args->u.seq.items;
    if (args->u.seq.n != 2 || a[0]->kind != PK_STR || !pk_str_is(a[1], "latin1")) {
        fail(m, "%s", "_codecs.encode is read only as encode(str, 'latin1')");
        return NULL;
    }
    uint8_t *out = arena_alloc(m->arena, a[0]->u.s.len + 1);
    pk_obj *b = new_obj(m, PK_BYTES);
    if (!out || !b) return NULL;
    size_t n = 0;
    const uint8_t *s = a[0]->u.s.p;
    for (size_t i = 0; i < a[0]->u.s.len; i++) {
        if (s[i] < 0x80) out[n++] = s[i];
        else if ((s[i] & 0xfe) == 0xc2 && i + 1 < a[0]->u.s.len && (s[i + 1] & 0xc0) == 0x80) {
            out[n++] = (uint8_t)((s[i] & 0x03) << 6 | (s[i + 1] & 0x3f));
            i++;
        } else {
            fail(m, "%s", "_codecs.encode: text is not latin-1");
            return NULL;
        }
    }
    b->u.s.p = out;
    b->u.s.len = n;
    return b;
}

static int reduce(vm *m) {
    pk_obj *args = pop(m), *callable = args ? pop(m) : NULL;
    if (!callable) return -1;
    if (callable->kind != PK_GLOBAL || args->kind != PK_TUPLE)
        return fail(m, "REDUCE of a %s (only allowed globals are called)", pk_kind_name(callable->kind));
    pk_obj *result = NULL;
    switch (callable->u.global.which) {
    case PKG_ORDERED_DICT:
        if (args->u.seq.n) return fail(m, "%s", "OrderedDict is read only when called with ()");
        if ((result = new_obj(m, PK_DICT))) result->u.dict.ordered = 1;
        break;
    case PKG_REBUILD_TENSOR: result = rebuild_tensor(m, args); break;
    case PKG_LOAD_FROM_BYTES:
        if (args->u.seq.n != 1 || args->u.seq.items[0]->kind != PK_BYTES)
            return fail(m, "%s", "_load_from_bytes takes one bytes argument");
        if (load_legacy_storage(m, args->u.seq.items[0]->u.s.p, args->u.seq.items[0]->u.s.len,
                                &result))
            return -1;
        break;
    case PKG_CODECS_ENCODE: result = codecs_encode(m, args); break;
    case PKG_STORAGE_TYPE: return fail(m, "%s", "a storage type is not called");
    }
    return result ? push(m, result) : -1;
}

/* BUILD: only an OrderedDict's attributes (a state_dict's _metadata). */
static int build(vm *m) {
    pk_obj *state = pop(m), *obj = state ? top(m) : NULL;
    if (!obj) return -1;
    if (obj->kind != PK_DICT || !obj->u.dict.ordered || state->kind != PK_DICT || obj->u.dict.attrs)
        return fail(m, "BUILD of a %s (only an OrderedDict's attributes are set)", pk_kind_name(obj->kind));
    for (size_t i = 0; i < state->u.dict.n; i++)
        if (state->u.dict.keys[i]->kind != PK_STR)
            return fail(m, "%s", "BUILD: attribute names must be str");
    obj->u.dict.attrs = state;
    return 0;
}

/* BINPERSID inside a legacy storage pickle: ('storage', torch.<T>Storage,
 * key, location, numel, None) names the storage whose bytes follow. */
static int persistent_load(vm *m) {
    pk_obj *pid = pop(m);
    if (!pid) return -1;
    if (!m->inner) return fail(m, "%s", "persistent id outside a storage (BINPERSID is not allowed)");
    pk_obj *const *a = pid->u.seq.items;
    if (pid->kind != PK_TUPLE || pid->u.seq.n != 6 || !pk_str_is(a[0], "storage") ||
        a[1]->kind != PK_GLOBAL || a[1]->u.global.which != PKG_STORAGE_TYPE ||
        a[2]->kind != PK_STR || a[3]->kind != PK_STR || a[4]->kind != PK_INT || a[4]->u.i < 0 ||
        a[5]->kind != PK_NONE)
        return fail(m, "%s", "persistent id is not ('storage', type, key, location, numel, None)");
    if (m->persistent) return fail(m, "%s", "more than one storage in a storage pickle");
    if ((uint64_t)a[4]->u.i > m->len) return fail(m, "%s", "storage larger than its blob");
    pk_obj *s = new_obj(m, PK_STORAGE);
    if (!s) return -1;
    strcpy(s->u.storage.dtype, a[1]->u.global.dtype);
    s->u.storage.elem = a[1]->u.global.elem;
    s->u.storage.numel = (uint64_t)a[4]->u.i;
    m->persistent = s;
    return push(m, s);
}

static pk_obj *string_obj(vm *m, pk_kind kind, size_t len) {
    const uint8_t *p = take(m, len);
    pk_obj *o = p ? new_obj(m, kind) : NULL;
    if (o) {
        o->u.s.p = p;
        o->u.s.len = len;
    }
    return o;
}

static pk_obj *int_obj(vm *m, int64_t v) {
    pk_obj *o = new_obj(m, PK_INT);
    if (o) o->u.i = v;
    return o;
}

/* LONG1 / LONG4: little-endian two's complement; what does not fit int64
 * (only PyTorch's magic number) is kept as bytes. */
static pk_obj *long_obj(vm *m, size_t n) {
    if (n > MAX_LONG_BYTES) {
        fail(m, "%s", "integer longer than 16 bytes");
        return NULL;
    }
    const uint8_t *p = take(m, n);
    if (!p) return NULL;
    if (n > 8) {
        pk_obj *o = new_obj(m, PK_BIGINT);
        if (o) {
            o->u.s.p = p;
            o->u.s.len = n;
        }
        return o;
    }
    uint64_t v = n ? le(p, (int)n) : 0;
    if (n && n < 8 && (p[n - 1] & 0x80)) v |= ~0ULL << (8 * n); /* sign-extend */
    return int_obj(m, (int64_t)v);
}

static int memo_put(vm *m, uint64_t index) {
    pk_obj *o = top(m);
    if (!o) return -1;
    if (index >= MAX_MEMO) return fail(m, "%s", "memo index over 2^20");
    if (index >= m->memo_cap) {
        size_t cap = m->memo_cap ? m->memo_cap : 64;
        while (cap <= index) cap *= 2;
        pk_obj **memo = realloc(m->memo, cap * sizeof *memo);
        if (!memo) return fail(m, "%s", "out of memory");
        memset(memo + m->memo_cap, 0, (cap - m->memo_cap) * sizeof *memo);
        m->memo = memo;
        m->memo_cap = cap;
    }
    m->memo[index] = o;
    return 0;
}

static int memo_get(vm *m, uint64_t index) {
    if (index >= m->memo_cap || !m->memo[index]) return fail(m, "%s", "memo index never stored");
    return push(m, m->memo[index]);
}

/* The opcodes, in the manner of kann's op table: one function per opcode or
 * family of opcodes and one row of `ops` below, so that reading one more
 * opcode is one function and one row. Each gets the opcode byte (families
 * tell their members apart by it) and returns 0, or -1 with m->err set. An
 * opcode without a row is refused: the table is the allow-list of opcodes. */
typedef int (*op_fn)(vm *m, uint8_t op);

/* The width of an opcode's little-endian length or value argument. */
static int arg_width(uint8_t op) {
    switch (op) {
    case 'M': return 2;
    case 'r': case 'j': case 'J': case 'B': case 'X': case 0x8b: return 4;
    case 0x8d: case 0x8e: case 0x95: return 8;
    default: return 1;
    }
}

static int take_arg(vm *m, uint8_t op, uint64_t *v) {
    const int n = arg_width(op);
    const uint8_t *p = take(m, (size_t)n);
    if (!p) return -1;
    *v = le(p, n);
    return 0;
}

static int op_proto(vm *m, uint8_t op) {
    uint64_t v;
    if (take_arg(m, op, &v)) return -1;
    if (v < 2 || v > 5) return fail(m, "protocol %s is not read (2 to 5 are)", v < 2 ? "0/1" : "> 5");
    return 0;
}

static int op_frame(vm *m, uint8_t op) { /* only a length hint */
    uint64_t v;
    if (take_arg(m, op, &v)) return -1;
    return v > m->len - m->pos ? fail(m, "%s", "frame longer than the blob") : 0;
}

static int op_mark(vm *m, uint8_t op) {
    (void)op;
    if (m->n_marks == MAX_MARKS) return fail(m, "%s", "too many MARKs");
    m->marks[m->n_marks++] = m->sp;
    return 0;
}

static int op_pop(vm *m, uint8_t op) {
    (void)op;
    return pop(m) ? 0 : -1;
}

static int op_pop_mark(vm *m, uint8_t op) {
    (void)op;
    size_t from = 0;
    if (pop_mark(m, &from)) return -1;
    m->sp = from;
    return 0;
}

static int op_memoize(vm *m, uint8_t op) {
    (void)op;
    return memo_put(m, m->memo_next++);
}

static int op_put(vm *m, uint8_t op) { /* BINPUT, LONG_BINPUT */
    uint64_t index;
    return take_arg(m, op, &index) || memo_put(m, index) ? -1 : 0;
}

static int op_get(vm *m, uint8_t op) { /* BINGET, LONG_BINGET */
    uint64_t index;
    return take_arg(m, op, &index) || memo_get(m, index) ? -1 : 0;
}

static int op_none(vm *m, uint8_t op) {
    (void)op;
    return push(m, new_obj(m, PK_NONE));
}

static int op_bool(vm *m, uint8_t op) { /* NEWTRUE, NEWFALSE */
    pk_obj *o = new_obj(m, PK_BOOL);
    if (!o) return -1;
    o->u.i = op == 0x88;
    return push(m, o);
}

static int op_int(vm *m, uint8_t op) { /* BININT (signed), BININT1, BININT2 */
    uint64_t v;
    if (take_arg(m, op, &v)) return -1;
    return push(m, int_obj(m, op == 'J' ? (int32_t)(uint32_t)v : (int64_t)v));
}

static int op_long(vm *m, uint8_t op) { /* LONG1, LONG4 */
    uint64_t n;
    return take_arg(m, op, &n) ? -1 : push(m, long_obj(m, n));
}

static int op_float(vm *m, uint8_t op) { /* BINFLOAT, big-endian */
    (void)op;
    const uint8_t *p = take(m, 8);
    pk_obj *o = p ? new_obj(m, PK_FLOAT) : NULL;
    if (!o) return -1;
    uint64_t bits = 0;
    for (int i = 0; i < 8; i++) bits = bits << 8 | p[i];
    memcpy(&o->u.f, &bits, 8);
    return push(m, o);
}

/* SHORT_BINUNICODE, BINUNICODE, BINUNICODE8 and the three BINBYTES. */
static int op_string(vm *m, uint8_t op) {
    const pk_kind kind = op == 'C' || op == 'B' || op == 0x8e ? PK_BYTES : PK_STR;
    uint64_t len;
    return take_arg(m, op, &len) ? -1 : push(m, string_obj(m, kind, len));
}

static int op_empty(vm *m, uint8_t op) { /* EMPTY_TUPLE, EMPTY_LIST, EMPTY_DICT */
    return push(m, new_obj(m, op == ')' ? PK_TUPLE : op == ']' ? PK_LIST : PK_DICT));
}

/* A tuple or list of the items from stack index `from` up; they leave the
 * stack and it takes their place. */
static int collect(vm *m, pk_kind kind, size_t from) {
    pk_obj *o = new_obj(m, kind);
    if (!o) return -1;
    for (size_t i = from; i < m->sp; i++)
        if (seq_append(m, o, m->stack[i])) return -1;
    m->sp = from;
    return push(m, o);
}

static int op_tuple_n(vm *m, uint8_t op) { /* TUPLE1..3 */
    const size_t n = (size_t)(op - 0x84);
    if (m->sp < n + (m->n_marks ? m->marks[m->n_marks - 1] : 0)) return fail(m, "%s", "stack underflow");
    return collect(m, PK_TUPLE, m->sp - n);
}

static int op_seq_from_mark(vm *m, uint8_t op) { /* TUPLE, LIST */
    size_t from = 0;
    return pop_mark(m, &from) ? -1 : collect(m, op == 't' ? PK_TUPLE : PK_LIST, from);
}

/* The key/value pairs from stack index `from` up (an even number: the
 * caller checks) into dict d; they leave the stack. */
static int set_pairs(vm *m, pk_obj *d, size_t from) {
    for (size_t i = from; i < m->sp; i += 2)
        if (dict_set(m, d, m->stack[i], m->stack[i + 1])) return -1;
    m->sp = from;
    return 0;
}

static int op_dict(vm *m, uint8_t op) { /* DICT from key/value pairs above MARK */
    (void)op;
    size_t from = 0;
    pk_obj *d;
    if (pop_mark(m, &from) || !(d = new_obj(m, PK_DICT))) return -1;
    if ((m->sp - from) % 2) return fail(m, "%s", "DICT with an odd number of items");
    return set_pairs(m, d, from) ? -1 : push(m, d);
}

static int op_append(vm *m, uint8_t op) {
    (void)op;
    pk_obj *o, *list;
    if (!(o = pop(m)) || !(list = top(m))) return -1;
    if (list->kind != PK_LIST) return fail(m, "APPEND to a %s", pk_kind_name(list->kind));
    return seq_append(m, list, o);
}

static int op_appends(vm *m, uint8_t op) {
    (void)op;
    size_t from = 0;
    if (pop_mark(m, &from)) return -1;
    if (from == 0 || m->stack[from - 1]->kind != PK_LIST)
        return fail(m, "%s", "APPENDS to something that is not a list");
    for (size_t i = from; i < m->sp; i++)
        if (seq_append(m, m->stack[from - 1], m->stack[i])) return -1;
    m->sp = from;
    return 0;
}

static int op_setitem(vm *m, uint8_t op) {
    (void)op;
    pk_obj *value, *key, *d;
    if (!(value = pop(m)) || !(key = pop(m)) || !(d = top(m))) return -1;
    if (d->kind != PK_DICT) return fail(m, "SETITEM on a %s", pk_kind_name(d->kind));
    return dict_set(m, d, key, value);
}

static int op_setitems(vm *m, uint8_t op) {
    (void)op;
    size_t from = 0;
    if (pop_mark(m, &from)) return -1;
    if (from == 0 || m->stack[from - 1]->kind != PK_DICT || (m->sp - from) % 2)
        return fail(m, "%s", "SETITEMS needs a dict and key/value pairs");
    return set_pairs(m, m->stack[from - 1], from);
}

static int op_global(vm *m, uint8_t op) { /* GLOBAL "module\nname\n" */
    (void)op;
    const uint8_t *module = m->buf + m->pos, *nl = memchr(module, '\n', m->len - m->pos);
    if (!nl) return fail(m, "%s", "truncated GLOBAL");
    const uint8_t *name = nl + 1, *nl2 = memchr(name, '\n', (size_t)(m->buf + m->len - name));
    if (!nl2) return fail(m, "%s", "truncated GLOBAL");
    m->pos = (size_t)(nl2 + 1 - m->buf);
    return push_global(m, module, (size_t)(nl - module), name, (size_t)(nl2 - name));
}

static int op_stack_global(vm *m, uint8_t op) {
    (void)op;
    pk_obj *name, *module;
    if (!(name = pop(m)) || !(module = pop(m))) return -1;
    if (name->kind != PK_STR || module->kind != PK_STR) return fail(m, "%s", "STACK_GLOBAL needs two str");
    return push_global(m, module->u.s.p, module->u.s.len, name->u.s.p, name->u.s.len);
}

static int op_reduce(vm *m, uint8_t op) {
    (void)op;
    return reduce(m);
}

static int op_build(vm *m, uint8_t op) {
    (void)op;
    return build(m);
}

static int op_persid(vm *m, uint8_t op) { /* BINPERSID */
    (void)op;
    return persistent_load(m);
}

/* Every opcode a PyTorch state_dict pickle uses (protocols 2 to 5), and no
 * other: STOP is the run loop's own. */
static const op_fn ops[256] = {
    [0x80] = op_proto,        [0x95] = op_frame,      ['('] = op_mark,
    ['0'] = op_pop,           ['1'] = op_pop_mark,    [0x94] = op_memoize,
    ['q'] = op_put,           ['r'] = op_put,         ['h'] = op_get,
    ['j'] = op_get,           ['N'] = op_none,        [0x88] = op_bool,
    [0x89] = op_bool,         ['J'] = op_int,         ['K'] = op_int,
    ['M'] = op_int,           [0x8a] = op_long,       [0x8b] = op_long,
    ['G'] = op_float,         [0x8c] = op_string,     ['X'] = op_string,
    [0x8d] = op_string,       ['C'] = op_string,      ['B'] = op_string,
    [0x8e] = op_string,       [')'] = op_empty,       [']'] = op_empty,
    ['}'] = op_empty,         [0x85] = op_tuple_n,    [0x86] = op_tuple_n,
    [0x87] = op_tuple_n,      ['t'] = op_seq_from_mark, ['l'] = op_seq_from_mark,
    ['d'] = op_dict,          ['a'] = op_append,      ['e'] = op_appends,
    ['s'] = op_setitem,       ['u'] = op_setitems,    ['c'] = op_global,
    [0x93] = op_stack_global, ['R'] = op_reduce,      ['b'] = op_build,
    ['Q'] = op_persid,
};

static int refuse_opcode(vm *m, uint8_t op) {
    char name[16];
    snprintf(name, sizeof name, op >= 32 && op < 127 ? "0x%02x '%c'" : "0x%02x", op, op);
    return fail(m, "opcode %s is not allowed (only the opcodes of PyTorch state_dict pickles are read)",
                name);
}

/* Runs one pickle from m->pos to its STOP. */
static int run(vm *m, pk_obj **out) {
    m->memo_next = 0;
    for (;;) {
        m->op_at = m->pos;
        const uint8_t *op = take(m, 1);
        if (!op) return -1;
        if (*op == '.') { /* STOP */
            if (m->sp != 1 || m->n_marks) return fail(m, "%s", "STOP with a stack that is not one value");
            *out = m->stack[0];
            m->sp = 0;
            return 0;
        }
        if (!ops[*op]) return refuse_opcode(m, *op);
        if (ops[*op](m, *op)) return -1;
    }
}

static int run_one(vm *m, size_t *pos, pk_obj **out) {
    m->pos = *pos;
    m->sp = 0;
    m->n_marks = 0;
    if (m->memo) memset(m->memo, 0, m->memo_cap * sizeof *m->memo);
    if (run(m, out)) return -1;
    *pos = m->pos;
    return 0;
}

static void vm_init(vm *m, pk_arena *a, const uint8_t *buf, size_t len, int inner, cassnn_err *err) {
    memset(m, 0, sizeof *m);
    m->arena = a;
    m->buf = buf;
    m->len = len;
    m->inner = inner;
    m->what = inner ? "pickle (storage)" : "pickle";
    m->err = err;
}

static void vm_done(vm *m) {
    free(m->stack);
    free(m->memo);
}

int pk_load(pk_arena *a, const uint8_t *buf, size_t len, pk_obj **out, cassnn_err *err) {
    vm m;
    vm_init(&m, a, buf, len, 0, err);
    size_t pos = 0;
    int rc = run_one(&m, &pos, out);
    if (rc == 0 && pos != len)
        rc = cassnn_err_set(err, "pickle: %zu bytes after STOP", len - pos);
    vm_done(&m);
    return rc;
}

/* torch.save(storage, f, _use_new_zipfile_serialization=False), the bytes
 * behind torch.storage._load_from_bytes: five protocol-2 pickles (the magic
 * number 0x1950a86a20f9469cfc6c, the version 1001, a sys_info dict, the
 * storage as a persistent id, the list of storage keys) and then, for the
 * storage, its element count as int64 and its raw little-endian bytes. */
static int load_legacy_storage(vm *outer, const uint8_t *buf, size_t len, pk_obj **out) {
    static const uint8_t magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    vm m;
    vm_init(&m, outer->arena, buf, len, 1, outer->err);
    size_t pos = 0;
    pk_obj *o[5];
    int rc = -1;
    for (int i = 0; i < 5; i++)
        if (run_one(&m, &pos, &o[i])) goto done;
    if (o[0]->kind != PK_BIGINT || o[0]->u.s.len != 10 || memcmp(o[0]->u.s.p, magic, 10)) {
        cassnn_err_set(m.err, "pickle (storage): not PyTorch's legacy format (magic number)");
        goto done;
    }
    if (o[1]->kind != PK_INT || o[1]->u.i != 1001) {
        cassnn_err_set(m.err, "pickle (storage): protocol version is not 1001");
        goto done;
    }
    const pk_obj *little = o[2]->kind == PK_DICT ? pk_dict_get(o[2], "little_endian") : NULL;
    if (!little || little->kind != PK_BOOL || !little->u.i) {
        cassnn_err_set(m.err, "pickle (storage): not a little-endian storage");
        goto done;
    }
    pk_obj *s = m.persistent;
    if (!s || o[3] != s || o[4]->kind != PK_LIST || o[4]->u.seq.n != 1 ||
        o[4]->u.seq.items[0]->kind != PK_STR) {
        cassnn_err_set(m.err, "pickle (storage): not one storage with its key list");
        goto done;
    }
    if (len - pos < 8 || le(buf + pos, 8) != s->u.storage.numel ||
        (len - pos - 8) / s->u.storage.elem < s->u.storage.numel ||
        len - pos - 8 != s->u.storage.numel * s->u.storage.elem) {
        cassnn_err_set(m.err, "pickle (storage): %zu bytes of data, its %llu elements of %zu "
                       "bytes need %llu", len - pos >= 8 ? len - pos - 8 : 0,
                       (unsigned long long)s->u.storage.numel, s->u.storage.elem,
                       (unsigned long long)(s->u.storage.numel * s->u.storage.elem));
        goto done;
    }
    s->u.storage.data = buf + pos + 8;
    *out = s;
    rc = 0;
done:
    vm_done(&m);
    return rc;
}

/* ---- reading the tree -------------------------------------------------------------- */

int pk_str_is(const pk_obj *o, const char *s) {
    return o && o->kind == PK_STR && same(o->u.s.p, o->u.s.len, s);
}

const pk_obj *pk_dict_get(const pk_obj *dict, const char *key) {
    /* the last of equal keys wins, as in Python */
    for (size_t i = dict->u.dict.n; i-- > 0;)
        if (pk_str_is(dict->u.dict.keys[i], key)) return dict->u.dict.values[i];
    return NULL;
}

int pk_number(const pk_obj *o, double *out) {
    if (o->kind == PK_INT || o->kind == PK_BOOL) *out = (double)o->u.i;
    else if (o->kind == PK_FLOAT) *out = o->u.f;
    else return -1;
    return 0;
}

const char *pk_kind_name(pk_kind k) {
    static const char *const names[] = {"None", "bool", "int", "int", "float", "str", "bytes",
                                        "tuple", "list", "dict", "global", "storage", "tensor"};
    return names[k];
}

const char *pk_storage_type(const char *dtype) {
    for (size_t i = 0; i < sizeof storage_types / sizeof storage_types[0]; i++)
        if (!strcmp(dtype, storage_types[i].dtype)) return storage_types[i].type;
    return NULL;
}
