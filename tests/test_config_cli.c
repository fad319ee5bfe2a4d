// test_config_cli.c: the command line - splitting argv into config files, overrides and the
// program's own arguments (EIR's argparse rules: nargs, --flag=value, required flags), and
// override values read as Python literals (ast.literal_eval) or else as plain strings.
#include <limits.h>

#include "test_util.h"

#include "config/cli_args.h"
#include "config/config.h"

// ---------------------------------------------------------------- (e) override values

typedef struct {
    const char *text;
    YamlNodeKind kind;
    YamlScalarType type;  // scalars
    const char *str;      // expected text (strings) or NULL
    double num;           // expected value (ints, floats, bools)
    int n;                // items (lists, dicts)
} LiteralCase;

static const LiteralCase k_literals[] = {
    {"5", YNODE_SCALAR, YSCALAR_INT, NULL, 5, 0},
    {"-5", YNODE_SCALAR, YSCALAR_INT, NULL, -5, 0},
    {"+5", YNODE_SCALAR, YSCALAR_INT, NULL, 5, 0},
    {"- 5", YNODE_SCALAR, YSCALAR_INT, NULL, -5, 0},
    {"1_000", YNODE_SCALAR, YSCALAR_INT, NULL, 1000, 0},
    {"0x10", YNODE_SCALAR, YSCALAR_INT, NULL, 16, 0},
    {"0o17", YNODE_SCALAR, YSCALAR_INT, NULL, 15, 0},
    {"0b101", YNODE_SCALAR, YSCALAR_INT, NULL, 5, 0},
    {"-0x10", YNODE_SCALAR, YSCALAR_INT, NULL, -16, 0},
    {"000", YNODE_SCALAR, YSCALAR_INT, NULL, 0, 0},
    {" 5", YNODE_SCALAR, YSCALAR_INT, NULL, 5, 0},  // literal_eval strips leading blanks
    {"5 ", YNODE_SCALAR, YSCALAR_INT, NULL, 5, 0},
    {"3e-4", YNODE_SCALAR, YSCALAR_FLOAT, NULL, 3e-4, 0},
    {"1e3", YNODE_SCALAR, YSCALAR_FLOAT, NULL, 1000, 0},
    {"1.", YNODE_SCALAR, YSCALAR_FLOAT, NULL, 1, 0},
    {".5", YNODE_SCALAR, YSCALAR_FLOAT, NULL, 0.5, 0},
    {"-.5", YNODE_SCALAR, YSCALAR_FLOAT, NULL, -0.5, 0},
    {"1_0.2_5", YNODE_SCALAR, YSCALAR_FLOAT, NULL, 10.25, 0},
    {"0.1", YNODE_SCALAR, YSCALAR_FLOAT, NULL, 0.1, 0},
    {"True", YNODE_SCALAR, YSCALAR_BOOL, NULL, 1, 0},
    {"False", YNODE_SCALAR, YSCALAR_BOOL, NULL, 0, 0},
    {"None", YNODE_SCALAR, YSCALAR_NULL, NULL, 0, 0},
    {"'abc'", YNODE_SCALAR, YSCALAR_STR, "abc", 0, 0},
    {"\"a b\"", YNODE_SCALAR, YSCALAR_STR, "a b", 0, 0},
    {"'5'", YNODE_SCALAR, YSCALAR_STR, "5", 0, 0},
    {"'a' \"b\"", YNODE_SCALAR, YSCALAR_STR, "ab", 0, 0},
    {"'it\\'s'", YNODE_SCALAR, YSCALAR_STR, "it's", 0, 0},
    {"'a\\nb'", YNODE_SCALAR, YSCALAR_STR, "a\nb", 0, 0},
    {"'\\x41\\u00e9'", YNODE_SCALAR, YSCALAR_STR, "A\xc3\xa9", 0, 0},
    {"r'a\\nb'", YNODE_SCALAR, YSCALAR_STR, "a\\nb", 0, 0},
    {"'''tri'''", YNODE_SCALAR, YSCALAR_STR, "tri", 0, 0},
    {"''", YNODE_SCALAR, YSCALAR_STR, "", 0, 0},
    // not Python literals: the plain string as typed (EIR's fallback)
    {"true", YNODE_SCALAR, YSCALAR_STR, "true", 0, 0},
    {"none", YNODE_SCALAR, YSCALAR_STR, "none", 0, 0},
    {"adamw", YNODE_SCALAR, YSCALAR_STR, "adamw", 0, 0},
    {"runs/x", YNODE_SCALAR, YSCALAR_STR, "runs/x", 0, 0},
    {"/tmp/a b", YNODE_SCALAR, YSCALAR_STR, "/tmp/a b", 0, 0},
    {"", YNODE_SCALAR, YSCALAR_STR, "", 0, 0},
    {"1 2", YNODE_SCALAR, YSCALAR_STR, "1 2", 0, 0},
    {"007", YNODE_SCALAR, YSCALAR_STR, "007", 0, 0},  // SyntaxError in Python 3
    {"1j", YNODE_SCALAR, YSCALAR_STR, "1j", 0, 0},
    {"inf", YNODE_SCALAR, YSCALAR_STR, "inf", 0, 0},
    {"--5", YNODE_SCALAR, YSCALAR_STR, "--5", 0, 0},
    {"-True", YNODE_SCALAR, YSCALAR_STR, "-True", 0, 0},
    {"[1,", YNODE_SCALAR, YSCALAR_STR, "[1,", 0, 0},
    {"'open", YNODE_SCALAR, YSCALAR_STR, "'open", 0, 0},
    {"{1, 2}", YNODE_SCALAR, YSCALAR_STR, "{1, 2}", 0, 0},  // a set
    {"b'x'", YNODE_SCALAR, YSCALAR_STR, "b'x'", 0, 0},
    {"1.2.3", YNODE_SCALAR, YSCALAR_STR, "1.2.3", 0, 0},
    {"0x", YNODE_SCALAR, YSCALAR_STR, "0x", 0, 0},
    {"1__0", YNODE_SCALAR, YSCALAR_STR, "1__0", 0, 0},
    {"3e-4x", YNODE_SCALAR, YSCALAR_STR, "3e-4x", 0, 0},
    {"'\\x00'", YNODE_SCALAR, YSCALAR_STR, "'\\x00'", 0, 0},  // NUL cannot be a C string
    // collections
    {"[1, 'a', None]", YNODE_SEQ, 0, NULL, 0, 3},
    {"[]", YNODE_SEQ, 0, NULL, 0, 0},
    {"[1, [2, [3]],]", YNODE_SEQ, 0, NULL, 0, 2},
    {"(1,)", YNODE_SEQ, 0, NULL, 0, 1},
    {"()", YNODE_SEQ, 0, NULL, 0, 0},
    {"(5)", YNODE_SCALAR, YSCALAR_INT, NULL, 5, 0},
    {"{'a': 1, 'b': [2]}", YNODE_MAP, 0, NULL, 0, 2},
    {"{}", YNODE_MAP, 0, NULL, 0, 0},
    {"{'a': {'b': 1}}", YNODE_MAP, 0, NULL, 0, 1},
    {"{1: 'x', True: 2, None: 3}", YNODE_MAP, 0, NULL, 0, 3},
};

static void test_literals(void) {
    for (size_t i = 0; i < sizeof k_literals / sizeof k_literals[0]; i++) {
        const LiteralCase *c = &k_literals[i];
        YamlNode *n = cli_parse_override_value(c->text, "command line 'x'");
        CHECK_MSG(n->kind == c->kind, "[%s]: kind %d, want %d", c->text, n->kind, c->kind);
        CHECK_MSG(n->line == 0 && strcmp(n->file, "command line 'x'") == 0, "[%s]: origin", c->text);
        if (n->kind == c->kind && c->kind == YNODE_SCALAR) {
            CHECK_MSG(n->type == c->type, "[%s]: type %d, want %d", c->text, n->type, c->type);
            if (c->str) CHECK_MSG(strcmp(n->text, c->str) == 0, "[%s]: text '%s', want '%s'", c->text, n->text, c->str);
            if (c->type == YSCALAR_INT) CHECK_MSG(n->ival == (long long)c->num, "[%s]: %lld", c->text, n->ival);
            if (c->type == YSCALAR_INT || c->type == YSCALAR_FLOAT)
                CHECK_MSG(n->fval == c->num, "[%s]: %.17g, want %.17g", c->text, n->fval, c->num);
            if (c->type == YSCALAR_BOOL) CHECK_MSG(n->bval == (c->num != 0), "[%s]", c->text);
        } else if (n->kind == c->kind) {
            CHECK_MSG(n->n == c->n, "[%s]: %d items, want %d", c->text, n->n, c->n);
        }
        ytree_free(n);
    }
    // a closer look at collections
    YamlNode *n = cli_parse_override_value("[1, 'a', None, 2.5, [True]]", "o");
    if (n->kind == YNODE_SEQ && n->n == 5) {
        CHECK_EQ_INT(n->items[0]->type, YSCALAR_INT);
        CHECK_STR(n->items[1]->text, "a");
        CHECK_EQ_INT(n->items[2]->type, YSCALAR_NULL);
        CHECK_CLOSE(n->items[3]->fval, 2.5, 0);
        CHECK(n->items[4]->kind == YNODE_SEQ && n->items[4]->items[0]->bval);
    } else {
        CHECK(0);
    }
    ytree_free(n);
    n = cli_parse_override_value("{'pool': 'max', 'window_size': 64, 1: None, True: 0}", "o");
    CHECK(n->kind == YNODE_MAP);
    CHECK(ytree_map_get(n, "pool") && strcmp(ytree_map_get(n, "pool")->text, "max") == 0);
    CHECK(ytree_map_get(n, "window_size") && ytree_map_get(n, "window_size")->ival == 64);
    CHECK(ytree_map_get(n, "1") != NULL);     // JSON turns keys into strings, as in EIR
    CHECK(ytree_map_get(n, "true") != NULL);
    ytree_free(n);
    // a huge int is kept as an int (clamped), so a range check reports it
    n = cli_parse_override_value("99999999999999999999", "o");
    CHECK(n->type == YSCALAR_INT && n->ival == LLONG_MAX);
    ytree_free(n);
}

// ---------------------------------------------------------------- argv splitting

static int split(char **argv, int flags, ConfigSources *src, StrList *rest, char *err, size_t errlen) {
    int argc = 0;
    while (argv[argc]) argc++;
    return cli_try_split_config_args(argc, argv, flags, src, rest, err, errlen);
}

static void test_split_basic(void) {
    char *argv[] = {"eir-dist", "--global_configs", "g1.yaml", "g2.yaml", "--input_configs", "i1.yaml", "i2.yaml",
                    "--output_configs", "o.yaml", "--fusion_configs", "f.yaml", "--globals.basic_experiment.n_epochs=3",
                    "--dry-run", "positional", "--resume", "runs/a", "-v", NULL};
    ConfigSources src;
    StrList rest;
    char err[512];
    int rc = split(argv, 0, &src, &rest, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc) return;
    CHECK_EQ_INT(src.global_files.n, 2);
    CHECK_STR(src.global_files.items[1], "g2.yaml");
    CHECK_EQ_INT(src.input_files.n, 2);
    CHECK_STR(src.input_files.items[0], "i1.yaml");
    CHECK_EQ_INT(src.output_files.n, 1);
    CHECK_EQ_INT(src.fusion_files.n, 1);
    CHECK_EQ_INT(src.overrides.n, 1);
    CHECK_STR(src.overrides.items[0], "globals.basic_experiment.n_epochs=3");
    // positional words right after --dry-run are the program's
    CHECK_EQ_INT(rest.n, 6);
    if (rest.n == 6) {
        CHECK_STR(rest.items[0], "eir-dist");
        CHECK_STR(rest.items[1], "--dry-run");
        CHECK_STR(rest.items[2], "positional");
        CHECK_STR(rest.items[3], "--resume");
        CHECK_STR(rest.items[4], "runs/a");
        CHECK_STR(rest.items[5], "-v");
    }
    config_sources_free(&src);
    strlist_free(&rest);
}

static void test_split_forms(void) {
    ConfigSources src;
    StrList rest;
    char err[512];
    // --flag=value, more files after it, a repeated flag appends, empty input list is fine
    char *a1[] = {"p", "--global_configs=g.yaml", "g2.yaml", "--output_configs=o.yaml", "--input_configs",
                  "--output_configs", "o2.yaml", "--", "--global_configs", "x", NULL};
    int rc = split(a1, 0, &src, &rest, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc == 0) {
        CHECK_EQ_INT(src.global_files.n, 2);
        CHECK_EQ_INT(src.input_files.n, 0);
        CHECK_EQ_INT(src.output_files.n, 2);
        CHECK_STR(src.output_files.items[1], "o2.yaml");
        // everything after "--" is the program's, untouched
        CHECK_EQ_INT(rest.n, 4);
        if (rest.n == 4) CHECK_STR(rest.items[2], "--global_configs");
        config_sources_free(&src);
        strlist_free(&rest);
    }
    // --help needs no configs
    char *a2[] = {"p", "--help", NULL};
    rc = split(a2, 0, &src, &rest, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc == 0) {
        CHECK_EQ_INT(rest.n, 2);
        config_sources_free(&src);
        strlist_free(&rest);
    }
    // eir-predict style: configs optional
    char *a3[] = {"p", "--model_path", "m.safetensors", NULL};
    rc = split(a3, CLI_CONFIGS_OPTIONAL, &src, &rest, err, sizeof err);
    CHECK_MSG(rc == 0, "%s", err);
    if (rc == 0) {
        CHECK_EQ_INT(rest.n, 3);
        config_sources_free(&src);
        strlist_free(&rest);
    }
}

typedef struct {
    char *argv[8];
    const char *expect;
} BadArgs;

static void test_split_errors(void) {
    static const BadArgs cases[] = {
        {{"p", "--output_configs", "o.yaml", NULL}, "--global_configs is required"},
        {{"p", "--global_configs", "g.yaml", NULL}, "--output_configs is required"},
        {{"p", "--global_configs", "--output_configs", "o.yaml", NULL}, "--global_configs expects at least one YAML file"},
        {{"p", "--global_configs=", "--output_configs", "o.yaml", NULL}, "--global_configs= needs a file name"},
        {{"p", "--global_config", "g.yaml", "--output_configs", "o.yaml", NULL}, "did you mean '--global_configs'?"},
        {{"p", "--global_configs", "g.yaml", "--output_configs", "o.yaml", "--globals.basic_experiment.n_epochs", "3", NULL},
         "an override needs '=' and a value: write --globals.basic_experiment.n_epochs=VALUE"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ConfigSources src;
        StrList rest;
        char err[512] = "";
        int rc = split((char **)cases[i].argv, 0, &src, &rest, err, sizeof err);
        CHECK_MSG(rc == -1, "case %zu: accepted", i);
        if (rc == 0) {
            config_sources_free(&src);
            strlist_free(&rest);
            continue;
        }
        CHECK_MSG(strstr(err, cases[i].expect) != NULL, "case %zu: message lacks \"%s\": %s", i, cases[i].expect, err);
        CHECK(src.global_files.n == 0 && rest.n == 0);  // nothing left to free
    }
}

static void test_usage(void) {
    const char *u = cli_config_usage();
    // every flag the splitter knows is in the help text
    CHECK(strstr(u, "--global_configs") && strstr(u, "--input_configs") && strstr(u, "--output_configs"));
    CHECK(strstr(u, "--fusion_configs") && strstr(u, "--<file_stem>."));
}

int main(void) {
    test_literals();
    test_split_basic();
    test_split_forms();
    test_split_errors();
    test_usage();
    TEST_MAIN_END();
}
