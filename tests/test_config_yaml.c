// test_config_yaml.c: the YAML node tree - scalar resolution as PyYAML does it (plus "3e-4"
// floats), line/column marks, anchors, aliases and merge keys, deep merge, and the errors:
// malformed YAML with libyaml's problem and position, duplicate keys, undefined aliases, several
// documents, nesting and alias bombs.
#include "test_util.h"

#include "common/util.h"
#include "config/yaml_tree.h"

static YamlNode *parse(const char *text) {
    YamlNode *n = NULL;
    char err[1024];
    int rc = ytree_parse_string(text, strlen(text), "t.yaml", &n, err, sizeof err);
    CHECK_MSG(rc == 0, "parse failed: %s", err);
    return n;
}

// Parses text expecting failure; checks the message contains want.
static void parse_fails(const char *text, const char *want) {
    YamlNode *n = NULL;
    char err[1024];
    int rc = ytree_parse_string(text, strlen(text), "t.yaml", &n, err, sizeof err);
    CHECK_MSG(rc == -1 && n == NULL, "parsed although it should fail: %s", text);
    if (rc == -1) CHECK_MSG(strstr(err, want) != NULL, "message lacks \"%s\": %s", want, err);
    ytree_free(n);
}

static void test_scalar_resolution(void) {
    YamlNode *t = parse(
        "a: yes\nb: No\nc: 0755\nd: 0x1F\ne: 1_000\nf: 3e-4\ng: 1.5\nh: .inf\ni: ~\nj: ''\n"
        "k: '12'\nl: !!str 12\nm: 1:30\nn: null\no: -7\np: +.5\nq: 08\nr: on\ns: 0b101\nt: 1.0e+3\n"
        "u: !!float 3\nv: \"true\"\nw: |\n  block\nx:\ny: -.inf\nz: .NaN\n");
    if (!t) return;
    struct { const char *key; YamlScalarType type; long long i; double f; } want[] = {
        {"a", YSCALAR_BOOL, 1, 0}, {"b", YSCALAR_BOOL, 0, 0}, {"c", YSCALAR_INT, 493, 493},
        {"d", YSCALAR_INT, 31, 31}, {"e", YSCALAR_INT, 1000, 1000}, {"f", YSCALAR_FLOAT, 0, 3e-4},
        {"g", YSCALAR_FLOAT, 0, 1.5}, {"i", YSCALAR_NULL, 0, 0}, {"j", YSCALAR_STR, 0, 0},
        {"k", YSCALAR_STR, 0, 0}, {"l", YSCALAR_STR, 0, 0}, {"m", YSCALAR_STR, 0, 0},
        {"n", YSCALAR_NULL, 0, 0}, {"o", YSCALAR_INT, -7, -7}, {"p", YSCALAR_FLOAT, 0, 0.5},
        {"q", YSCALAR_STR, 0, 0}, {"r", YSCALAR_BOOL, 1, 0}, {"s", YSCALAR_INT, 5, 5},
        {"t", YSCALAR_FLOAT, 0, 1000}, {"u", YSCALAR_FLOAT, 0, 3}, {"v", YSCALAR_STR, 0, 0},
        {"w", YSCALAR_STR, 0, 0}, {"x", YSCALAR_NULL, 0, 0},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        const YamlNode *v = ytree_map_get(t, want[k].key);
        CHECK_MSG(v != NULL, "key %s missing", want[k].key);
        if (!v) continue;
        CHECK_MSG(v->type == want[k].type, "key %s: type %d, want %d (text '%s')", want[k].key, v->type,
                  want[k].type, v->text);
        if (want[k].type == YSCALAR_INT) CHECK_EQ_INT(v->ival, want[k].i);
        if (want[k].type == YSCALAR_INT || want[k].type == YSCALAR_FLOAT) CHECK_CLOSE(v->fval, want[k].f, 1e-15);
        if (want[k].type == YSCALAR_BOOL) CHECK_EQ_INT(v->bval, want[k].i);
    }
    const YamlNode *h = ytree_map_get(t, "h");
    CHECK(h && h->type == YSCALAR_FLOAT && isinf(h->fval) && h->fval > 0);
    const YamlNode *y = ytree_map_get(t, "y");
    CHECK(y && y->type == YSCALAR_FLOAT && isinf(y->fval) && y->fval < 0);
    const YamlNode *z = ytree_map_get(t, "z");
    CHECK(z && z->type == YSCALAR_FLOAT && isnan(z->fval));
    CHECK_STR(ytree_map_get(t, "w")->text, "block\n");
    CHECK(ytree_map_get(t, "k")->quoted);
    CHECK(!ytree_map_get(t, "a")->quoted);
    CHECK_STR(ytree_map_get(t, "l")->text, "12");
    ytree_free(t);

    // what the writer must quote
    CHECK(ytree_plain_text_is_not_string("true"));
    CHECK(ytree_plain_text_is_not_string("007"));
    CHECK(ytree_plain_text_is_not_string("1e5"));
    CHECK(ytree_plain_text_is_not_string(""));
    CHECK(ytree_plain_text_is_not_string("~"));
    CHECK(!ytree_plain_text_is_not_string("runs/x"));
    CHECK(!ytree_plain_text_is_not_string("Sentiment"));
    CHECK(!ytree_plain_text_is_not_string("1.2.3"));
}

static void test_marks_and_structure(void) {
    YamlNode *t = parse("# comment\nouter:\n  inner: [a, {b: 2}]\n  other:\n    - x\n    - y: 1\n");
    if (!t) return;
    CHECK_EQ_INT(t->kind, YNODE_MAP);
    CHECK_EQ_INT(t->line, 2);
    CHECK_EQ_INT(t->col, 1);
    const YamlNode *outer = ytree_map_get(t, "outer");
    CHECK(outer && outer->kind == YNODE_MAP && outer->line == 3 && outer->col == 3);
    CHECK_EQ_INT(t->keys[0]->line, 2);
    const YamlNode *inner = ytree_map_get(outer, "inner");
    CHECK(inner && inner->kind == YNODE_SEQ && inner->n == 2 && inner->line == 3 && inner->col == 10);
    if (inner && inner->n == 2) {
        CHECK_EQ_INT(inner->items[0]->col, 11);
        CHECK_EQ_INT(inner->items[1]->kind, YNODE_MAP);
        const YamlNode *b = ytree_map_get(inner->items[1], "b");
        CHECK(b && b->ival == 2 && b->line == 3 && b->col == 18);
    }
    const YamlNode *other = ytree_map_get(outer, "other");
    CHECK(other && other->kind == YNODE_SEQ && other->n == 2 && other->line == 5 && other->col == 5);
    CHECK(strcmp(t->file, "t.yaml") == 0);
    char buf[64];
    ytree_mark(inner, buf, sizeof buf);
    CHECK_STR(buf, "t.yaml:3:10");
    ytree_describe(inner, buf, sizeof buf);
    CHECK_STR(buf, "a list");
    ytree_describe(outer, buf, sizeof buf);
    CHECK_STR(buf, "a mapping");
    ytree_free(t);

    // empty documents are a null scalar at 1:1
    t = parse("# nothing here\n");
    CHECK(t && t->kind == YNODE_SCALAR && t->type == YSCALAR_NULL && t->line == 1);
    ytree_free(t);
    t = parse("");
    CHECK(t && t->type == YSCALAR_NULL);
    ytree_free(t);
}

static void test_anchors_and_merge_keys(void) {
    YamlNode *t = parse(
        "base: &b {x: 1, y: [a, b]}\n"
        "copy: *b\n"
        "derived:\n  <<: *b\n  y: 3\n"
        "multi:\n  <<: [{p: 1, q: 1}, {q: 2, r: 2}]\n  r: 9\n");
    if (!t) return;
    const YamlNode *copy = ytree_map_get(t, "copy");
    CHECK(copy && copy->kind == YNODE_MAP && ytree_map_get(copy, "x")->ival == 1);
    CHECK(copy && ytree_map_get(copy, "y")->n == 2);
    const YamlNode *d = ytree_map_get(t, "derived");
    CHECK(d && ytree_map_get(d, "x") && ytree_map_get(d, "x")->ival == 1);
    CHECK(d && ytree_map_get(d, "y") && ytree_map_get(d, "y")->ival == 3);  // explicit key wins
    CHECK(d && ytree_map_get(d, "<<") == NULL);
    const YamlNode *m = ytree_map_get(t, "multi");
    CHECK(m && ytree_map_get(m, "p")->ival == 1);
    CHECK(m && ytree_map_get(m, "q")->ival == 1);  // the earlier merged mapping wins
    CHECK(m && ytree_map_get(m, "r")->ival == 9);
    ytree_free(t);
}

static void test_deep_merge(void) {
    YamlNode *a = parse("s:\n  x: 1\n  y: 2\nb: 1\nkeep: k\n");
    YamlNode *b = parse("s:\n  y: 3\n  z: 4\nb: {c: 1}\n");
    if (!a || !b) return;
    ytree_merge(a, b);
    const YamlNode *s = ytree_map_get(a, "s");
    CHECK(s && ytree_map_get(s, "x")->ival == 1);
    CHECK(s && ytree_map_get(s, "y")->ival == 3);
    CHECK(s && ytree_map_get(s, "z")->ival == 4);
    CHECK(ytree_map_get(a, "b")->kind == YNODE_MAP);
    CHECK_STR(ytree_map_get(a, "keep")->text, "k");
    ytree_free(a);

    // clone is deep and independent
    YamlNode *c = parse("a: [1, {b: 2}]\n");
    YamlNode *d = ytree_clone(c);
    ytree_free(c);
    CHECK(d && ytree_map_get(ytree_map_get(d, "a")->items[1], "b")->ival == 2);
    ytree_free(d);
}

static void test_errors(void) {
    parse_fails("a: [1, 2\n", "t.yaml:2:1: malformed YAML: did not find expected ',' or ']'");
    parse_fails("a: 1\n  b: 2\n", "t.yaml:2:4: malformed YAML: mapping values are not allowed in this context");
    parse_fails("a:\n\tb: 1\n", "t.yaml:2:1: malformed YAML");
    parse_fails("a: 'open\n", "malformed YAML: found unexpected end of stream");
    parse_fails("a: 1\nb: 2\na: 3\n", "t.yaml:3:1: duplicate key 'a' in one mapping (first set at line 1 column 1)");
    parse_fails("x:\n  - {k: 1, k: 2}\n", "t.yaml:2:12: duplicate key 'k'");
    parse_fails("a: *missing\n", "t.yaml:1:4: alias '*missing' refers to an anchor that is not defined before it");
    parse_fails("a: 1\n---\nb: 2\n", "t.yaml:2:1: expected a single YAML document");
    parse_fails("? [a, b]\n: 1\n", "t.yaml:1:3: a mapping key must be a plain value, not a list");
    parse_fails("a: !!python/object:os.system x\n", "unsupported YAML tag");
    parse_fails("a: !!int abc\n", "'abc' cannot be read as !!int");
    parse_fails("a: \xc3\x28\n", "malformed YAML: invalid trailing UTF-8 octet");
    {  // a NUL byte inside the text is an error, not a silent end of the file
        YamlNode *t = NULL;
        char err[512];
        CHECK(ytree_parse_string("a: b\0c\n", 7, "t.yaml", &t, err, sizeof err) == -1);
        CHECK_MSG(strstr(err, "malformed YAML") != NULL, "%s", err);
    }

    // nesting deeper than the limit, and an alias bomb
    char deep[1000];
    int n = 0;
    for (int i = 0; i < 300; i++) deep[n++] = '[';
    for (int i = 0; i < 300; i++) deep[n++] = ']';
    deep[n] = 0;
    parse_fails(deep, "nested deeper than");
    StrBuf bomb = {0};
    sb_puts(&bomb, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 10; i++)
        sb_printf(&bomb, "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i - 1, i - 1,
                  i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    parse_fails(bomb.data, "document too large");
    sb_free(&bomb);

    // files
    YamlNode *t = NULL;
    char err[512];
    CHECK(ytree_parse_file("/nonexistent/dir/x.yaml", &t, err, sizeof err) == -1);
    CHECK(strstr(err, "/nonexistent/dir/x.yaml: cannot open config file") != NULL);
    CHECK(t == NULL);
}

static void test_constructors(void) {
    YamlNode *m = ytree_new_map("cli", 0, 0);
    ytree_map_set(m, ytree_new_scalar("cli", 0, 0, "k", true), ytree_new_scalar("cli", 0, 0, "5", false));
    ytree_map_set(m, ytree_new_scalar("cli", 0, 0, "k", true), ytree_new_scalar("cli", 0, 0, "'x'", false));
    CHECK_EQ_INT(m->n, 1);
    CHECK_EQ_INT(ytree_map_get(m, "k")->type, YSCALAR_STR);
    YamlNode *s = ytree_new_typed_scalar("cli", 0, 0, "True", YSCALAR_BOOL);
    CHECK(s->bval);
    YamlNode *q = ytree_new_seq("cli", 0, 0);
    ytree_seq_push(q, s);
    ytree_map_set(m, ytree_new_scalar("cli", 0, 0, "list", true), q);
    char buf[64];
    ytree_mark(m, buf, sizeof buf);
    CHECK_STR(buf, "cli");  // no line: no ":0:0"
    ytree_free(m);
}

int main(void) {
    test_scalar_resolution();
    test_marks_and_structure();
    test_anchors_and_merge_keys();
    test_deep_merge();
    test_errors();
    test_constructors();
    TEST_MAIN_END();
}
