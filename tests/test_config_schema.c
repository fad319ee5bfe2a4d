// test_config_schema.c: the config tables are consistent (every row's section contiguous, no key
// twice, defaults inside their own bounds and choices, refusals say why), a config that sets
// nothing loads every row's default, and the written effective configs hold exactly the tables'
// keys in the tables' order.
#include <limits.h>
#include <math.h>

#include "config/config_schema.h"
#include "test_config_util.h"
#include "test_util.h"

static bool in_list(const char *const *l, const char *s) {
    for (int i = 0; l && l[i]; i++)
        if (!strcmp(l[i], s)) return true;
    return false;
}

static void check_table(const ConfigSchema *sc) {
    CHECK(sc->n_keys > 5);
    for (int i = 0; i < sc->n_keys; i++) {
        const ConfigKey *k = &sc->keys[i];
        const char *nm = sc->name;
        if (sc == &CONFIG_GLOBAL_SCHEMA) {
            CHECK_MSG(!*k->section || in_list(CONFIG_GLOBAL_SECTIONS, k->section), "%s: %s: unknown section", nm, k->key);
            if (!*k->section) CHECK_MSG(in_list(CONFIG_GLOBAL_SECTIONS, k->key), "%s: top-level %s unknown", nm, k->key);
        }
        for (int j = 0; j < i; j++)
            CHECK_MSG(strcmp(sc->keys[j].section, k->section) || strcmp(sc->keys[j].key, k->key), "%s: %s.%s twice", nm,
                      k->section, k->key);
        // the rows of one (non-top-level) section are contiguous: the writer opens each section once
        if (i > 0 && *k->section && strcmp(sc->keys[i - 1].section, k->section))
            for (int j = 0; j < i - 1; j++)
                CHECK_MSG(strcmp(sc->keys[j].section, k->section), "%s: %s.%s: section split", nm, k->section, k->key);
        CHECK_MSG(k->doc && *k->doc, "%s: %s.%s has no doc line", nm, k->section, k->key);
        CHECK_MSG(k->kind == CK_NULL_ONLY || k->kind == CK_KEYS_ONLY || k->kind == CK_FALSE_ONLY ||
                      k->off != CK_NO_FIELD, "%s: %s.%s has no field", nm, k->section, k->key);
        if (k->kind == CK_INT && !k->load)
            CHECK_MSG((k->def_int >= k->lo && k->def_int <= k->hi) || (k->nullable && k->def_int == k->null_int),
                      "%s: %s.%s: default %lld outside [%lld, %lld]", nm, k->section, k->key, k->def_int, k->lo, k->hi);
        if (k->kind == CK_NUM)
            CHECK_MSG((k->nlo_open ? k->def_num > k->nlo : k->def_num >= k->nlo) &&
                          (k->nhi_open ? k->def_num < k->nhi : k->def_num <= k->nhi),
                      "%s: %s.%s: default %g outside its bounds", nm, k->section, k->key, k->def_num);
        if (k->kind == CK_CHOICE || k->kind == CK_ENUM) {
            CHECK_MSG(k->choices && k->choices[0], "%s: %s.%s has no choices", nm, k->section, k->key);
            for (int c = 0; k->eir_only && k->eir_only[c]; c++)
                CHECK_MSG(!in_list(k->choices, k->eir_only[c]), "%s: %s.%s: %s both accepted and refused", nm,
                          k->section, k->key, k->eir_only[c]);
            if (k->eir_only) CHECK_MSG(k->why && *k->why, "%s: %s.%s refuses EIR values without why", nm, k->section, k->key);
        }
        if (k->kind == CK_METRICS)
            for (int c = 0; k->def_list[c]; c++)
                CHECK_MSG(in_list(k->choices, k->def_list[c]), "%s: %s.%s: default %s not accepted", nm, k->section,
                          k->key, k->def_list[c]);
        if (k->kind == CK_NULL_ONLY || k->kind == CK_FALSE_ONLY || k->kind == CK_FIXED)
            CHECK_MSG(k->why && *k->why, "%s: %s.%s refuses without saying why", nm, k->section, k->key);
    }
}

// Every field of base holds its row's default (rows with a reading hook are checked elsewhere).
static void check_defaults(const ConfigSchema *sc, const void *base) {
    for (int i = 0; i < sc->n_keys; i++) {
        const ConfigKey *k = &sc->keys[i];
        if (k->load || k->off == CK_NO_FIELD || k->required) continue;
        if (k->write == config_write_global_key && k->nullable) continue;  // resolved: checked in main
        const char *nm = sc->name;
        switch (k->kind) {
        case CK_INT: case CK_LAYERS:
            CHECK_MSG(*CK_CFIELD(int, base, k) == k->def_int, "%s: %s.%s", nm, k->section, k->key);
            break;
        case CK_NUM: CHECK_MSG(*CK_CFIELD(double, base, k) == k->def_num, "%s: %s.%s", nm, k->section, k->key); break;
        case CK_BOOL:
            CHECK_MSG(*CK_CFIELD(bool, base, k) == (k->def_int != 0), "%s: %s.%s", nm, k->section, k->key);
            break;
        case CK_FALSE_ONLY: CHECK_MSG(!*CK_CFIELD(bool, base, k), "%s: %s.%s", nm, k->section, k->key); break;
        case CK_CHOICE: CHECK_STR(*CK_CFIELD(char *, base, k), k->choices[k->def_index]); break;
        case CK_ENUM: CHECK_EQ_INT(*CK_CFIELD(int, base, k), k->def_index); break;
        case CK_METRICS: {
            const StrList *l = CK_CFIELD(StrList, base, k);
            int m = 0;
            while (k->def_list[m]) m++;
            CHECK_EQ_INT(l->n, m);
            for (int c = 0; c < l->n && c < m; c++) CHECK_STR(l->items[c], k->def_list[c]);
            break;
        }
        case CK_FIXED:
            if (k->def_str) CHECK_STR(*CK_CFIELD(char *, base, k), k->def_str);
            else CHECK_EQ_INT(*CK_CFIELD(int, base, k), k->def_int);
            break;
        default: break;
        }
    }
}

// The effective YAML holds each row's key, in the table's order (indented by its section depth).
// omit_global: the global-stage keys (beyond EIR) are left out when the stage is off.
static void check_written(const ConfigSchema *sc, const char *yaml, int base_indent, bool omit_global) {
    const char *p = yaml;
    for (int i = 0; i < sc->n_keys; i++) {
        const ConfigKey *k = &sc->keys[i];
        if (k->write == config_write_global_key) {
            CHECK_MSG(omit_global == (strstr(yaml, k->key) == NULL), "%s: %s written: %d, expected %d", sc->name,
                      k->key, strstr(yaml, k->key) != NULL, !omit_global);
            if (omit_global) continue;
        }
        if (k->written_if_set) continue;  // at its default here: not written (test_config.c writes it set)
        int depth = 0;
        if (*k->section) {
            depth = 1;
            for (const char *c = k->section; *c; c++) depth += *c == '.';
        }
        char want[200];
        snprintf(want, sizeof want, "\n%*s%s:", base_indent + 2 * depth, "", k->key);
        const char *at = strstr(p, want);
        if (!at && i == 0) {  // the document's first key: at its start, or after "- " in a list
            snprintf(want, sizeof want, "%s%s:", base_indent ? "- " : "", k->key);
            at = base_indent ? strstr(p, want) : (strncmp(p, want, strlen(want)) ? NULL : p);
        }
        CHECK_MSG(at != NULL, "%s: %s.%s not written (or out of order)", sc->name, k->section, k->key);
        if (at) p = at + 1;
    }
}

int main(void) {
    const ConfigSchema *all[] = {&CONFIG_GLOBAL_SCHEMA, &CONFIG_INPUT_SCHEMA, &CONFIG_OUTPUT_SCHEMA,
                                 &CONFIG_FUSION_SCHEMA};
    int total = 0;
    for (int s = 0; s < 4; s++) {
        check_table(all[s]);
        total += all[s]->n_keys;
    }

    // configs that set only what is required: every field holds its row's default
    char *dir = tmp_make_dir();
    // the same configs as tests/fixtures/config_defaults was made from
    char *g = tmp_write(dir, "g.yaml", "basic_experiment:\n  output_folder: @DIR@/run\n");
    char *files_dir = path_join(dir, "files");
    CHECK(mkdir(files_dir, 0755) == 0);
    free(files_dir);
    char *i = tmp_write(dir, "i.yaml", "input_info:\n  input_source: @DIR@/files\n  input_name: txt\n  input_type: bytes\n");
    char *l = tmp_write(dir, "labels.csv", "ID,Label\na,ham\n");
    char *o = tmp_write(dir, "o.yaml", "output_info:\n  output_source: @DIR@/labels.csv\n  output_name: out\n"
                                       "  output_type: tabular\noutput_type_info:\n  target_cat_columns: [Label]\n");
    ConfigSources src = {0};
    strlist_push(&src.global_files, g);
    strlist_push(&src.input_files, i);
    strlist_push(&src.output_files, o);
    ExperimentConfig cfg;
    char err[1024];
    CHECK_MSG(config_try_load(&cfg, &src, err, sizeof err) == 0, "%s", err);
    check_defaults(&CONFIG_GLOBAL_SCHEMA, &cfg.global);
    check_defaults(&CONFIG_INPUT_SCHEMA, &cfg.inputs[0]);
    check_defaults(&CONFIG_OUTPUT_SCHEMA, &cfg.outputs[0]);
    check_defaults(&CONFIG_FUSION_SCHEMA, &cfg.fusion);
    const GlobalConfig *gc = &cfg.global;
    CHECK(gc->basic_experiment.valid_size == 0.1 && !gc->basic_experiment.valid_size_is_count);
    CHECK(gc->lr_schedule.warmup_auto && gc->lr_schedule.warmup_steps == 2000);
    CHECK(cfg.inputs[0].dim_feedforward_auto && cfg.inputs[0].dim_feedforward == 4 * 64);
    CHECK_EQ_INT(cfg.inputs[0].pool, INPUT_POOL_NONE);
    CHECK_STR(cfg.inputs[0].model_type, "sequence-default");

    const char *files[] = {"global_config", "input_configs", "output_configs", "fusion_config"};
    int indent[] = {0, 2, 2, 0};
    for (int s = 0; s < 4; s++) {
        char *yaml = config_effective_yaml(&cfg, files[s], false);
        check_written(all[s], yaml, indent[s], true);
        free(yaml);
        // every default, pinned by a fixture made before the tables (tests/fixtures/config_defaults)
        yaml = config_effective_yaml(&cfg, files[s], true);
        char fixture[512];
        snprintf(fixture, sizeof fixture, "%s/tests/fixtures/config_defaults/%s.yaml", EIR_SOURCE_DIR, files[s]);
        size_t len = 0;
        char *want = read_file_check(fixture, &len);  // dies naming the fixture when it is missing
        CHECK_MSG(want != NULL, "cannot read %s", fixture);
        if (want && strcmp(yaml, want) != 0) {
            size_t at = 0;
            while (yaml[at] && yaml[at] == want[at]) at++;
            CHECK_MSG(false, "%s differs from %s at byte %zu: ...%.60s... vs ...%.60s...", files[s], fixture, at,
                      yaml + (at > 20 ? at - 20 : 0), want + (at > 20 ? at - 20 : 0));
        }
        free(want);
        free(yaml);
    }

    CHECK_EQ_INT(cfg.inputs[0].global_layers, 0);
    CHECK_EQ_INT(cfg.inputs[0].global_embedding_dim, 64);  // null resolves to embedding_dim
    // the global stage on: its keys are written (resolved) and read back to the same config
    {
        char *i2 = tmp_write(dir, "i2.yaml", "input_info:\n  input_source: @DIR@/files\n  input_name: txt\n"
                                             "  input_type: bytes\nmodel_config:\n  window_size: 32\n"
                                             "  model_init_config:\n    global_layers: 2\n");
        ConfigSources src2 = {0};
        strlist_push(&src2.global_files, g);
        strlist_push(&src2.input_files, i2);
        strlist_push(&src2.output_files, o);
        ExperimentConfig c2;
        CHECK_MSG(config_try_load(&c2, &src2, err, sizeof err) == 0, "%s", err);
        CHECK_EQ_INT(c2.inputs[0].global_layers, 2);
        CHECK_EQ_INT(c2.inputs[0].global_heads, 4);
        CHECK_EQ_INT(c2.inputs[0].global_embedding_dim, 64);
        char *yaml = config_effective_yaml(&c2, "input_configs", false);
        check_written(&CONFIG_INPUT_SCHEMA, yaml, 2, false);
        CHECK(strstr(yaml, "global_embedding_dim: 64") != NULL);
        free(yaml);
        config_free(&c2);
        config_sources_free(&src2);
        free(i2);
    }

    // --config-keys prints one line per row, after a header
    FILE *f = tmpfile();
    config_print_keys(f);
    rewind(f);
    int lines = 0, c;
    while ((c = fgetc(f)) != EOF) lines += c == '\n';
    fclose(f);
    CHECK_EQ_INT(lines, total + 1);

    config_free(&cfg);
    config_sources_free(&src);
    free(g);
    free(i);
    free(l);
    free(o);
    rm_rf(dir);
    free(dir);
    TEST_MAIN_END();
}
