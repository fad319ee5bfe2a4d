// files.h: which raw file holds which sample ID (spec §2.1 "File -> ID").
// input_source is either a folder, searched recursively like Python's Path.rglob("*") (hidden
// files included; symlinks to files count; symlinks to folders are not entered, as pathlib does
// by default, so link cycles cannot loop), or a text file listing one path per line. A file's ID
// is Path.stem: its name minus the last suffix ("10021_2.txt" -> "10021_2", "a.tar.gz" -> "a.tar",
// ".hidden" -> ".hidden", "a." -> "a." as Python <= 3.13 has it). In a list file each line is
// stripped, blank lines are skipped and relative paths are taken from the current directory,
// as EIR does.
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "data/csv.h"  // EIR_ERR_LEN

typedef struct {
    char *id;      // Path.stem of the file name
    char *path;    // as found: <input_source>/<relative path>, or the listed path
    int64_t size;  // bytes on disk (stat, symlinks followed)
} FileEntry;

typedef struct {
    char *source;
    int64_t n;
    FileEntry *files;  // sorted by id (byte-wise), ids unique
} FileIndex;

// Lists the files of input_source. Returns 0, or -1 with a message naming the path for: a source
// that does not exist, an unreadable folder or file, a listed path that is missing or not a
// regular file, two files with the same ID (both paths named).
int files_scan(const char *source, FileIndex *out, char *err, size_t errlen);
void files_scan_or_die(const char *source, FileIndex *out);
// The file whose ID is id, or NULL.
const FileEntry *files_find(const FileIndex *fi, const char *id);
// Length of Path(name).stem for a bare file name (no '/').
size_t file_stem_len(const char *name);
void files_free(FileIndex *fi);
