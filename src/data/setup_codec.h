// setup_codec.h: a DataSetup as one byte blob, so rank 0 alone reads the labels, lists the files
// and decides the split, and the other ranks receive the result (one broadcast) instead of
// hitting the file system N times.
#pragma once
#include "common/util.h"
#include "data/dataset.h"

// Appends the labels, split and file indexes of s to out (the matching is recomputed on decode).
void data_setup_encode(const DataSetup *s, StrBuf *out);
// Rebuilds a DataSetup from a blob made by data_setup_encode. Returns 0, or -1 if malformed.
int data_setup_decode(DataSetup *s, const char *blob, size_t len);
