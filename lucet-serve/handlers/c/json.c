/* A JSON transform: reads a JSON document from the request body and
 * answers with the same document, object keys sorted, ASCII letters in
 * string values (not keys) upper-cased and every number doubled.
 * Malformed input gets a 400 with a JSON error naming the byte offset.
 *
 *   {"b": [1, 2.5], "a": "hi"}  ->  {"a":"HI","b":[2,5]}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { J_NULL, J_TRUE, J_FALSE, J_NUM, J_STR, J_ARR, J_OBJ };

struct node {
    enum kind kind;
    double num;
    const char *str; /* J_STR: raw contents between the quotes */
    size_t len;
    struct node **items; /* J_ARR: values; J_OBJ: key, value, key, value... */
    size_t count;
};

static const char *src, *end, *error;
static size_t depth;

static void ws(void) {
    while (src < end && (*src == ' ' || *src == '\t' || *src == '\n' || *src == '\r'))
        src++;
}

static struct node *alloc(enum kind k) {
    struct node *n = calloc(1, sizeof *n);
    if (!n) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    n->kind = k;
    return n;
}

static void push(struct node *parent, struct node *item) {
    if ((parent->count & (parent->count - 1)) == 0) {
        size_t cap = parent->count ? parent->count * 2 : 1;
        parent->items = realloc(parent->items, cap * sizeof *parent->items);
        if (!parent->items) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
    }
    parent->items[parent->count++] = item;
}

static int hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static struct node *string(void) {
    struct node *n = alloc(J_STR);
    src++; /* opening quote */
    n->str = src;
    while (src < end && *src != '"') {
        unsigned char c = *src;
        if (c < 0x20) {
            error = "control character in string";
            return NULL;
        }
        if (c == '\\') {
            src++;
            if (src >= end)
                break;
            if (*src == 'u') {
                for (int i = 1; i <= 4; i++)
                    if (src + i >= end || !hex(src[i])) {
                        error = "bad \\u escape";
                        return NULL;
                    }
                src += 4;
            } else if (!strchr("\"\\/bfnrt", *src)) {
                error = "bad escape";
                return NULL;
            }
        }
        src++;
    }
    if (src >= end) {
        error = "unterminated string";
        return NULL;
    }
    n->len = (size_t)(src - n->str);
    src++;
    return n;
}

static struct node *value(void);

static struct node *container(enum kind k, char close) {
    struct node *n = alloc(k);
    if (++depth > 512) {
        error = "nesting too deep";
        return NULL;
    }
    src++;
    ws();
    if (src < end && *src == close) {
        src++;
        depth--;
        return n;
    }
    for (;;) {
        ws();
        if (k == J_OBJ) {
            if (src >= end || *src != '"') {
                error = "expected a string key";
                return NULL;
            }
            struct node *key = string();
            if (!key)
                return NULL;
            push(n, key);
            ws();
            if (src >= end || *src != ':') {
                error = "expected ':'";
                return NULL;
            }
            src++;
        }
        struct node *v = value();
        if (!v)
            return NULL;
        push(n, v);
        ws();
        if (src < end && *src == ',') {
            src++;
            continue;
        }
        if (src < end && *src == close) {
            src++;
            depth--;
            return n;
        }
        error = k == J_OBJ ? "expected ',' or '}'" : "expected ',' or ']'";
        return NULL;
    }
}

static struct node *literal(const char *word, enum kind k) {
    size_t len = strlen(word);
    if ((size_t)(end - src) < len || memcmp(src, word, len) != 0) {
        error = "unexpected character";
        return NULL;
    }
    src += len;
    return alloc(k);
}

static struct node *number(void) {
    const char *p = src;
    if (p < end && *p == '-')
        p++;
    if (p >= end || *p < '0' || *p > '9') {
        error = "unexpected character";
        return NULL;
    }
    while (p < end && ((*p >= '0' && *p <= '9') || strchr(".eE+-", *p)))
        p++;
    char tmp[64];
    size_t len = (size_t)(p - src);
    if (len >= sizeof tmp) {
        error = "number too long";
        return NULL;
    }
    memcpy(tmp, src, len);
    tmp[len] = 0;
    char *stop;
    struct node *n = alloc(J_NUM);
    n->num = strtod(tmp, &stop);
    if (*stop) {
        error = "bad number";
        return NULL;
    }
    src = p;
    return n;
}

static struct node *value(void) {
    ws();
    if (src >= end) {
        error = "unexpected end of input";
        return NULL;
    }
    switch (*src) {
    case '{': return container(J_OBJ, '}');
    case '[': return container(J_ARR, ']');
    case '"': return string();
    case 't': return literal("true", J_TRUE);
    case 'f': return literal("false", J_FALSE);
    case 'n': return literal("null", J_NULL);
    default: return number();
    }
}

static int key_cmp(const void *a, const void *b) {
    const struct node *x = ((struct node *const *)a)[0];
    const struct node *y = ((struct node *const *)b)[0];
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->str, y->str, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void emit_string(const struct node *n, int upper) {
    putchar('"');
    for (size_t i = 0; i < n->len; i++) {
        char c = n->str[i];
        if (c == '\\') {
            /* copy the escape untouched: \n must not become \N */
            size_t k = n->str[i + 1] == 'u' ? 6 : 2;
            fwrite(n->str + i, 1, k, stdout);
            i += k - 1;
            continue;
        }
        putchar(upper && c >= 'a' && c <= 'z' ? c - 32 : c);
    }
    putchar('"');
}

static void emit(const struct node *n) {
    switch (n->kind) {
    case J_NULL: fputs("null", stdout); break;
    case J_TRUE: fputs("true", stdout); break;
    case J_FALSE: fputs("false", stdout); break;
    case J_NUM: printf("%.15g", n->num * 2); break;
    case J_STR: emit_string(n, 1); break;
    case J_ARR:
        putchar('[');
        for (size_t i = 0; i < n->count; i++) {
            if (i)
                putchar(',');
            emit(n->items[i]);
        }
        putchar(']');
        break;
    case J_OBJ:
        /* sort (key, value) pairs by key */
        qsort(n->items, n->count / 2, 2 * sizeof *n->items, key_cmp);
        putchar('{');
        for (size_t i = 0; i < n->count; i += 2) {
            if (i)
                putchar(',');
            emit_string(n->items[i], 0);
            putchar(':');
            emit(n->items[i + 1]);
        }
        putchar('}');
        break;
    }
}

int main(void) {
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len, stdin)) > 0) {
        len += got;
        if (len == cap)
            buf = realloc(buf, cap *= 2);
    }
    if (!buf) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    src = buf;
    end = buf + len;
    struct node *doc = value();
    if (doc) {
        ws();
        if (src != end) {
            error = "trailing characters";
            doc = NULL;
        }
    }
    if (!doc) {
        printf("Status: 400 Bad Request\nContent-Type: application/json\n\n"
               "{\"error\":\"%s\",\"offset\":%zu}\n",
               error, (size_t)(src - buf));
        return 0;
    }
    printf("Content-Type: application/json\n\n");
    emit(doc);
    putchar('\n');
    return 0;
}
