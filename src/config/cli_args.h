// cli_args.h: the config part of eir-dist's command line, as EIR's `eirtrain` reads it (spec §1):
//   --global_configs G.yaml... --input_configs I.yaml... --output_configs O.yaml...
//   [--fusion_configs F.yaml...] [--<file_stem>.<dotted.key>=<value>...]
// Everything else (--dry-run, --resume X, --help, ...) is handed back untouched to the program.
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "config/yaml_tree.h"

enum {
    // --global_configs / --output_configs may be absent (eir-predict's nargs "*").
    CLI_CONFIGS_OPTIONAL = 1 << 0,
};

// Splits argv (argv[0] = program name) into src (config files in order, overrides without their
// leading "--") and rest (argv[0] first, then every other argument in order, so rest can be parsed
// like an argv). Config flags take the files that follow up to the next argument starting with
// '-'; "--flag=file" also works and may be followed by more files; a repeated flag appends.
// When -h/--help/--version is present the "required" checks are skipped. Returns 0, or -1 with a
// message in err (src and rest are then left empty).
int cli_try_split_config_args(int argc, char **argv, int flags, ConfigSources *src, StrList *rest,
                              char *err, size_t errlen);
// Same; on error prints the message and exits with code 2.
void cli_split_config_args(int argc, char **argv, int flags, ConfigSources *src, StrList *rest);

// The value of an override, read as Python's ast.literal_eval reads it (EIR does exactly that):
// ints (1_000, 0x10), floats (3e-4, .5), True/False/None, quoted strings, [lists], (tuples),
// {dicts}; anything else is the plain string as typed. origin names the argument for messages.
YamlNode *cli_parse_override_value(const char *text, const char *origin);

// Levenshtein distance between two short names (for "did you mean"); 1000 past 64 characters.
int cli_edit_distance(const char *a, const char *b);

// Help text for the config flags (for the programs' --help).
const char *cli_config_usage(void);
