// cli_args.c: splits the command line into config files, overrides and the program's own flags
// (EIR's get_main_parser + parse_known_args), and reads override values the way EIR does:
// Python's ast.literal_eval, falling back to the plain string (config_setup_utils.py).
#include "config/cli_args.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

// ---------------------------------------------------------------- Python literals

// A small recursive-descent reader for the literal subset of Python expressions. Any failure
// (not a literal, trailing text, complex numbers, sets, ...) makes the whole value a plain string,
// which is what literal_eval's ValueError/SyntaxError leads to in EIR.
typedef struct {
    const char *s;
    size_t pos;
    const char *origin;
    int depth;
} PyReader;

static void py_skip_ws(PyReader *r) {
    while (r->s[r->pos] == ' ' || r->s[r->pos] == '\t' || r->s[r->pos] == '\n' || r->s[r->pos] == '\r' ||
           r->s[r->pos] == '\f')
        r->pos++;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_ident(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || is_digit(c);
}

// Digits of a base with single '_' between digits (Python's rule), copied without the '_'.
static bool py_digits(PyReader *r, const char *set, StrBuf *out) {
    size_t start = r->pos;
    for (;;) {
        char c = r->s[r->pos];
        if (c && strchr(set, c)) {
            sb_append(out, &c, 1);
            r->pos++;
        } else if (c == '_' && r->pos > start && r->s[r->pos + 1] && strchr(set, r->s[r->pos + 1])) {
            r->pos++;
        } else {
            break;
        }
    }
    return r->pos > start;
}

// int: 0x.., 0o.., 0b.., decimal without leading zeros (except all zeros); float: 1.5, 1., .5,
// 1e3, 1.5e-3. A trailing j (imaginary) or letter is not a literal here.
static YamlNode *py_number(PyReader *r, bool negative) {
    StrBuf num = {0};
    YamlNode *n = NULL;
    const char *s = r->s;
    size_t start = r->pos;
    const char *digits10 = "0123456789";
    if (s[r->pos] == '0' && s[r->pos + 1] && strchr("xXoObB", s[r->pos + 1])) {
        char k = (char)(s[r->pos + 1] | 0x20);
        int base = k == 'x' ? 16 : k == 'o' ? 8 : 2;
        const char *set = base == 16 ? "0123456789abcdefABCDEF" : base == 8 ? "01234567" : "01";
        r->pos += 2;
        if (r->s[r->pos] == '_') r->pos++;
        if (!py_digits(r, set, &num) || is_ident(r->s[r->pos])) goto done;
        errno = 0;
        unsigned long long u = strtoull(num.data, NULL, base);
        long long v = (errno == ERANGE || u > (unsigned long long)LLONG_MAX) ? LLONG_MAX : (long long)u;
        char text[32];
        snprintf(text, sizeof text, "%lld", negative ? -v : v);
        n = ytree_new_typed_scalar(r->origin, 0, 0, text, YSCALAR_INT);
        goto done;
    }
    bool is_float = false;
    bool int_part = py_digits(r, digits10, &num);
    if (s[r->pos] == '.') {
        is_float = true;
        sb_append(&num, ".", 1);
        r->pos++;
        bool frac = py_digits(r, digits10, &num);
        if (!int_part && !frac) goto done;
    } else if (!int_part) {
        goto done;
    }
    if (s[r->pos] == 'e' || s[r->pos] == 'E') {
        is_float = true;
        sb_append(&num, "e", 1);
        r->pos++;
        if (s[r->pos] == '+' || s[r->pos] == '-') sb_append(&num, &s[r->pos++], 1);
        if (!py_digits(r, digits10, &num)) goto done;
    }
    if (is_ident(s[r->pos]) || s[r->pos] == '.') goto done;  // 1j, 1x, 1.2.3
    if (!is_float) {
        // "007" is a SyntaxError in Python 3; "000" is fine
        if (num.data[0] == '0' && strspn(num.data, "0") != num.len) goto done;
        StrBuf text = {0};
        if (negative) sb_append(&text, "-", 1);
        sb_puts(&text, num.data);
        n = ytree_new_typed_scalar(r->origin, 0, 0, text.data, YSCALAR_INT);
        sb_free(&text);
    } else {
        StrBuf text = {0};
        if (negative) sb_append(&text, "-", 1);
        sb_puts(&text, num.data);
        n = ytree_new_typed_scalar(r->origin, 0, 0, text.data, YSCALAR_FLOAT);
        n->fval = strtod(text.data, NULL);
        sb_free(&text);
    }
done:
    if (!n) r->pos = start;
    sb_free(&num);
    return n;
}

static int hex_val(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void put_utf8(StrBuf *b, unsigned long cp) {
    char u[4];
    size_t n;
    if (cp < 0x80) { u[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    sb_append(b, u, n);
}

// One string token: optional r/u prefix, '...' "..." or triple-quoted, with Python's escapes.
// Bytes (b'..') and f-strings are not literals EIR could use: they fail.
static bool py_string_token(PyReader *r, StrBuf *out) {
    const char *s = r->s;
    size_t p = r->pos;
    bool raw = false;
    if (s[p] == 'r' || s[p] == 'R') raw = true, p++;
    else if (s[p] == 'u' || s[p] == 'U') p++;
    char q = s[p];
    if (q != '\'' && q != '"') return false;
    bool triple = s[p + 1] == q && s[p + 2] == q;
    p += triple ? 3 : 1;
    for (;;) {
        char c = s[p];
        if (!c) return false;
        if (c == q && (!triple || (s[p + 1] == q && s[p + 2] == q))) {
            p += triple ? 3 : 1;
            break;
        }
        if (c == '\n' && !triple) return false;
        if (c == '\\' && s[p + 1]) {
            char e = s[p + 1];
            if (raw) {  // raw strings keep the backslash
                sb_append(out, &s[p], 2);
                p += 2;
                continue;
            }
            p += 2;
            switch (e) {
            case '\n': break;
            case '\\': sb_append(out, "\\", 1); break;
            case '\'': sb_append(out, "'", 1); break;
            case '"': sb_append(out, "\"", 1); break;
            case 'n': sb_append(out, "\n", 1); break;
            case 't': sb_append(out, "\t", 1); break;
            case 'r': sb_append(out, "\r", 1); break;
            case 'a': sb_append(out, "\a", 1); break;
            case 'b': sb_append(out, "\b", 1); break;
            case 'f': sb_append(out, "\f", 1); break;
            case 'v': sb_append(out, "\v", 1); break;
            case 'x': case 'u': case 'U': {
                int nd = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                unsigned long cp = 0;
                for (int i = 0; i < nd; i++) {
                    int h = hex_val(s[p + (size_t)i]);
                    if (h < 0) return false;
                    cp = cp * 16 + (unsigned long)h;
                }
                p += (size_t)nd;
                if (cp == 0 || cp > 0x10FFFF) return false;  // NUL cannot live in a C string
                put_utf8(out, cp);
                break;
            }
            default:
                if (e >= '0' && e <= '7') {  // octal escape, up to 3 digits
                    unsigned long cp = (unsigned long)(e - '0');
                    for (int i = 0; i < 2 && s[p] >= '0' && s[p] <= '7'; i++) cp = cp * 8 + (unsigned long)(s[p++] - '0');
                    if (cp == 0) return false;
                    put_utf8(out, cp);
                } else {  // unknown escapes keep the backslash, as in Python
                    sb_append(out, "\\", 1);
                    sb_append(out, &e, 1);
                }
            }
            continue;
        }
        sb_append(out, &c, 1);
        p++;
    }
    r->pos = p;
    return true;
}

static YamlNode *py_value(PyReader *r);

// Items of [..], (..) or {..} up to the closing bracket. is_dict: key: value pairs.
static YamlNode *py_collection(PyReader *r, char close, bool is_dict) {
    YamlNode *c = is_dict ? ytree_new_map(r->origin, 0, 0) : ytree_new_seq(r->origin, 0, 0);
    int n_items = 0;
    bool trailing_comma = false;
    for (;;) {
        py_skip_ws(r);
        if (r->s[r->pos] == close) {
            r->pos++;
            break;
        }
        if (n_items > 0 && !trailing_comma) goto fail;
        YamlNode *item = py_value(r);
        if (!item) goto fail;
        if (is_dict) {
            // dict keys must be hashable scalars; json.dumps turns them into strings
            if (item->kind != YNODE_SCALAR) { ytree_free(item); goto fail; }
            py_skip_ws(r);
            if (r->s[r->pos] != ':') { ytree_free(item); goto fail; }
            r->pos++;
            YamlNode *val = py_value(r);
            if (!val) { ytree_free(item); goto fail; }
            const char *ktext = item->type == YSCALAR_BOOL ? (item->bval ? "true" : "false")
                                : item->type == YSCALAR_NULL ? "null" : item->text;
            YamlNode *key = ytree_new_scalar(r->origin, 0, 0, ktext, true);
            ytree_free(item);
            ytree_map_set(c, key, val);
        } else {
            ytree_seq_push(c, item);
        }
        n_items++;
        py_skip_ws(r);
        trailing_comma = r->s[r->pos] == ',';
        if (trailing_comma) r->pos++;
    }
    // "(x)" is just x in parentheses; "(x,)" and "()" are tuples (lists after EIR's JSON round trip)
    if (close == ')' && n_items == 1 && !trailing_comma) {
        YamlNode *only = c->items[0];
        c->n = 0;
        ytree_free(c);
        return only;
    }
    return c;
fail:
    ytree_free(c);
    return NULL;
}

static YamlNode *py_value(PyReader *r) {
    if (++r->depth > 100) return NULL;
    YamlNode *n = NULL;
    py_skip_ws(r);
    const char *s = r->s + r->pos;
    if (*s == '[') { r->pos++; n = py_collection(r, ']', false); }
    else if (*s == '(') { r->pos++; n = py_collection(r, ')', false); }
    else if (*s == '{') {
        r->pos++;
        py_skip_ws(r);
        if (r->s[r->pos] == '}') { r->pos++; n = ytree_new_map(r->origin, 0, 0); }
        else n = py_collection(r, '}', true);
    } else if (*s == '-' || *s == '+') {
        // literal_eval allows one unary sign, on a number only ("--5" stays a string)
        bool neg = *s == '-';
        r->pos++;
        py_skip_ws(r);
        const char *t = r->s + r->pos;
        if (is_digit(*t) || *t == '.') n = py_number(r, neg);
    } else if (is_digit(*s) || (*s == '.' && is_digit(s[1]))) {
        n = py_number(r, false);
    } else if (*s == '\'' || *s == '"' || ((*s == 'r' || *s == 'R' || *s == 'u' || *s == 'U') && (s[1] == '\'' || s[1] == '"'))) {
        // adjacent string tokens concatenate, as in Python
        StrBuf b = {0};
        bool ok = py_string_token(r, &b);
        for (;;) {
            if (!ok) break;
            size_t save = r->pos;
            py_skip_ws(r);
            const char *t = r->s + r->pos;
            bool more = *t == '\'' || *t == '"' || ((*t == 'r' || *t == 'R' || *t == 'u' || *t == 'U') && (t[1] == '\'' || t[1] == '"'));
            if (!more) { r->pos = save; break; }
            ok = py_string_token(r, &b);
        }
        if (ok) n = ytree_new_typed_scalar(r->origin, 0, 0, b.data ? b.data : "", YSCALAR_STR);
        sb_free(&b);
    } else {
        size_t len = 0;
        while (is_ident(s[len])) len++;
        if (len == 4 && strncmp(s, "True", 4) == 0) n = ytree_new_typed_scalar(r->origin, 0, 0, "True", YSCALAR_BOOL);
        else if (len == 5 && strncmp(s, "False", 5) == 0) n = ytree_new_typed_scalar(r->origin, 0, 0, "False", YSCALAR_BOOL);
        else if (len == 4 && strncmp(s, "None", 4) == 0) n = ytree_new_typed_scalar(r->origin, 0, 0, "None", YSCALAR_NULL);
        if (n) r->pos += len;
    }
    r->depth--;
    return n;
}

YamlNode *cli_parse_override_value(const char *text, const char *origin) {
    PyReader r = {text, 0, origin, 0};
    // literal_eval strips leading spaces and tabs (Python >= 3.10)
    while (r.s[r.pos] == ' ' || r.s[r.pos] == '\t') r.pos++;
    YamlNode *n = py_value(&r);
    if (n) {
        py_skip_ws(&r);
        if (r.s[r.pos] == 0) return n;
        ytree_free(n);
    }
    return ytree_new_typed_scalar(origin, 0, 0, text, YSCALAR_STR);
}

// ---------------------------------------------------------------- argv

static const char *const k_config_flags[] = {"--global_configs", "--input_configs", "--output_configs",
                                             "--fusion_configs", NULL};

static StrList *flag_list(ConfigSources *src, int i) {
    StrList *lists[4] = {&src->global_files, &src->input_files, &src->output_files, &src->fusion_files};
    return lists[i];
}

int cli_edit_distance(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 64 || lb > 64) return 1000;
    int row[65];
    for (int j = 0; j <= lb; j++) row[j] = j;
    for (int i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = i;
        for (int j = 1; j <= lb; j++) {
            int up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static bool is_help_flag(const char *a) {
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0 || strcmp(a, "--version") == 0;
}

int cli_try_split_config_args(int argc, char **argv, int flags, ConfigSources *src, StrList *rest,
                              char *err, size_t errlen) {
    memset(src, 0, sizeof *src);
    memset(rest, 0, sizeof *rest);
    bool seen[4] = {false, false, false, false};
    bool help = false;
    strlist_push(rest, argc > 0 ? argv[0] : "eir-dist");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {  // everything after "--" belongs to the program
            for (; i < argc; i++) strlist_push(rest, argv[i]);
            break;
        }
        if (is_help_flag(a)) help = true;
        int which = -1;
        const char *inline_value = NULL;
        for (int f = 0; k_config_flags[f]; f++) {
            size_t fl = strlen(k_config_flags[f]);
            if (strncmp(a, k_config_flags[f], fl) == 0 && (a[fl] == 0 || a[fl] == '=')) {
                which = f;
                if (a[fl] == '=') inline_value = a + fl + 1;
            }
        }
        if (which >= 0) {
            StrList *list = flag_list(src, which);
            seen[which] = true;
            if (inline_value) {
                if (!inline_value[0]) {
                    snprintf(err, errlen, "%s= needs a file name", k_config_flags[which]);
                    goto fail;
                }
                strlist_push(list, inline_value);
            }
            // the files that follow, up to the next option
            while (i + 1 < argc && argv[i + 1][0] != '-') strlist_push(list, argv[++i]);
            continue;
        }
        if (strncmp(a, "--", 2) == 0) {
            const char *eq = strchr(a, '=');
            size_t name_len = eq ? (size_t)(eq - a) : strlen(a);
            const char *dot = memchr(a, '.', name_len);
            if (dot) {  // --<file_stem>.<dotted.key>=<value>
                if (!eq) {
                    snprintf(err, errlen, "command line '%s': an override needs '=' and a value: write %s=VALUE "
                             "(a value in the next argument is not read, as in EIR)", a, a);
                    goto fail;
                }
                strlist_push(&src->overrides, a + 2);
                continue;
            }
            // a near miss of a config flag would otherwise reach the program as an unknown flag
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)(name_len < 127 ? name_len : 127), a);
            for (int f = 0; k_config_flags[f]; f++) {
                int d = cli_edit_distance(name, k_config_flags[f]);
                if (d > 0 && d <= 2) {
                    snprintf(err, errlen, "unknown option '%s'; did you mean '%s'?", name, k_config_flags[f]);
                    goto fail;
                }
            }
        }
        strlist_push(rest, a);
    }
    if (!help) {
        for (int f = 0; f < 4; f++) {
            if (seen[f] && flag_list(src, f)->n == 0 && (f == 0 || f == 2)) {
                snprintf(err, errlen, "%s expects at least one YAML file", k_config_flags[f]);
                goto fail;
            }
        }
        if (!(flags & CLI_CONFIGS_OPTIONAL)) {
            if (src->global_files.n == 0) {
                snprintf(err, errlen, "--global_configs is required (one or more global YAML files)");
                goto fail;
            }
            if (src->output_files.n == 0) {
                snprintf(err, errlen, "--output_configs is required (one or more output YAML files)");
                goto fail;
            }
        }
    }
    return 0;
fail:
    config_sources_free(src);
    strlist_free(rest);
    return -1;
}

void cli_split_config_args(int argc, char **argv, int flags, ConfigSources *src, StrList *rest) {
    char err[1024];
    if (cli_try_split_config_args(argc, argv, flags, src, rest, err, sizeof err) != 0)
        eir_die_user("%s (see --help)", err);
}

const char *cli_config_usage(void) {
    return "  --global_configs G.yaml...   global settings; several files are merged key by key (required)\n"
           "  --input_configs I.yaml...    one file per input (raw bytes)\n"
           "  --output_configs O.yaml...   one file per output (tabular labels) (required)\n"
           "  --fusion_configs F.yaml...   fusion settings (optional; merged like the global files)\n"
           "  --<file_stem>.<key.path>=V   override one value of the config file named <file_stem>.yaml,\n"
           "                               e.g. --globals.basic_experiment.n_epochs=5; V is read as a\n"
           "                               Python literal (5, 3e-4, True, None, 'text', [a, b]) or else text\n";
}
