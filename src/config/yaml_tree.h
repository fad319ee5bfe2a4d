// yaml_tree.h: YAML text -> a small generic node tree (mapping / sequence / scalar) that keeps
// where every node came from (file, line, column), so config errors can point at the exact spot.
// Scalars are resolved the way PyYAML (EIR's loader) resolves them, plus "3e-4"-style floats.
#pragma once
#include <stdbool.h>
#include <stddef.h>

typedef enum { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP } YamlNodeKind;
typedef enum { YSCALAR_STR, YSCALAR_INT, YSCALAR_FLOAT, YSCALAR_BOOL, YSCALAR_NULL } YamlScalarType;

typedef struct YamlNode {
    YamlNodeKind kind;
    char *file;      // owned copy: the YAML file, or e.g. "command line '--input.x=1'"
    int line, col;   // 1-based; 0 when the node does not come from a file (command line)
    // scalars
    char *text;           // the scalar's text as written (after YAML unquoting / escapes)
    bool quoted;          // written quoted or as a block scalar (then always a string)
    YamlScalarType type;  // resolved type
    long long ival;       // YSCALAR_INT (clamped to long long on overflow)
    double fval;          // YSCALAR_INT and YSCALAR_FLOAT
    bool bval;            // YSCALAR_BOOL
    // sequences: items[0..n); mappings: keys[i] (scalar nodes) -> items[i]
    struct YamlNode **keys, **items;
    int n, cap;
} YamlNode;

// Parses one YAML document. An empty document gives a null scalar at 1:1. On error returns -1 and
// writes "<file>:<line>:<col>: malformed YAML: <libyaml's problem>" (or a duplicate-key / alias
// message) to err; *out is then NULL. Several documents in one stream are an error.
int ytree_parse_file(const char *path, YamlNode **out, char *err, size_t errlen);
int ytree_parse_string(const char *text, size_t len, const char *name, YamlNode **out, char *err,
                       size_t errlen);
void ytree_free(YamlNode *n);
YamlNode *ytree_clone(const YamlNode *n);

// Constructors. file is copied. ytree_new_scalar resolves plain (unquoted) text as YAML does;
// ytree_new_typed_scalar takes the type as given (used for command-line values).
YamlNode *ytree_new_map(const char *file, int line, int col);
YamlNode *ytree_new_seq(const char *file, int line, int col);
YamlNode *ytree_new_scalar(const char *file, int line, int col, const char *text, bool quoted);
YamlNode *ytree_new_typed_scalar(const char *file, int line, int col, const char *text,
                                 YamlScalarType type);
void ytree_seq_push(YamlNode *seq, YamlNode *item);
// Sets map[key] = val, taking ownership of both; an existing value (and key) is freed and replaced.
void ytree_map_set(YamlNode *map, YamlNode *key, YamlNode *val);
// Lookup by key text; NULL when absent or when map is not a mapping.
YamlNode *ytree_map_get(const YamlNode *map, const char *key);
int ytree_map_index(const YamlNode *map, const char *key);

// Deep merge: src's keys are put into dst key by key; where both values are mappings they are
// merged recursively, otherwise src's value wins. Consumes src. Both must be mappings.
void ytree_merge(YamlNode *dst, YamlNode *src);

// "file:line:col" (or just the file text when line is 0) into buf.
void ytree_mark(const YamlNode *n, char *buf, size_t len);
// Short human description of a value for messages: 'text', 42, true, null, a mapping, a list.
void ytree_describe(const YamlNode *n, char *buf, size_t len);
// True when an unquoted scalar with this text would not read back as the same string
// (it would resolve to null/bool/int/float, or is empty): the writer must quote it.
bool ytree_plain_text_is_not_string(const char *text);
