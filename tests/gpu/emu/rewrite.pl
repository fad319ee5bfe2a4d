#!/usr/bin/env perl
# tests/gpu/emu/rewrite.pl: turns a CUDA source (src/model/*.cu, src/dist/*.cu) into C++ for the
# CPU emulation in this folder; used by run.sh and by the CMake build with -DEIR_CUDA=EMU.
#
#   perl tests/gpu/emu/rewrite.pl IN.cu OUT.cpp
#
#   kernel<<<grid, block, smem, stream>>>(args)  ->  EMU_LAUNCH(kernel, grid, block, smem, stream)(args)
#   extern __shared__ T name[];                  ->  T *name = (T *)emu::dynamic_smem();
#
# A #line directive keeps compiler messages and debuggers on the .cu file (the rewrite keeps the
# line count: both patterns match within their lines' text).
use strict;
use warnings;

die "usage: rewrite.pl IN.cu OUT.cpp\n" unless @ARGV == 2;
my ($in, $out) = @ARGV;
open(my $fh, '<', $in) or die "rewrite.pl: $in: $!\n";
my $src = do { local $/; <$fh> };
close($fh);
$src =~ s/(\w+)<<<(.*?)>>>\(/EMU_LAUNCH($1, $2)(/gs;
$src =~ s/extern __shared__ (\w+) (\w+)\[\];/$1 *$2 = ($1 *)emu::dynamic_smem();/g;
(my $line_file = $in) =~ s/(["\\])/\\$1/g;
my $tmp = "$out.tmp$$";
open(my $oh, '>', $tmp) or die "rewrite.pl: $tmp: $!\n";
print $oh "#line 1 \"$line_file\"\n", $src;
close($oh) or die "rewrite.pl: $tmp: $!\n";
rename($tmp, $out) or die "rewrite.pl: $out: $!\n";
