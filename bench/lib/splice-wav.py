#!/usr/bin/env python3
# The throughput bench's audio source: writes a WAV header file, then
# `data_bytes` of audio by repeating a pattern file, to stdout, which must be
# a pipe. Usage: splice-wav.py HEADER_FILE PATTERN_FILE DATA_BYTES
#
# Why not Node: with write() into a shell's default 64 KiB pipe, the source
# itself tops out near 0.8-1 GB/s on the 2-core build machine, and aplay,
# which barely does more than read its stdin, measured the pipe rather than
# itself. splice() moves the pattern's page-cache pages into the pipe without
# copying them, and a 1 MiB pipe buffer takes 16 times fewer wake-ups; only
# the reader copies. Neither is exposed to Node (no fcntl, no splice).
import fcntl
import os
import stat
import sys

PIPE_BYTES = 1024 * 1024

header_path, pattern_path, data_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3])
if not stat.S_ISFIFO(os.fstat(1).st_mode):
    sys.exit('splice-wav: stdout must be a pipe')
# The reader of the pipe gets the same buffer, whichever end sets it.
fcntl.fcntl(1, fcntl.F_SETPIPE_SZ, PIPE_BYTES)

try:
    with open(header_path, 'rb') as header:
        os.write(1, header.read())
    pattern = os.open(pattern_path, os.O_RDONLY)
    pattern_bytes = os.fstat(pattern).st_size
    left = data_bytes
    while left > 0:
        piece = min(left, pattern_bytes)
        offset = 0
        while offset < piece:
            offset += os.splice(pattern, 1, piece - offset, offset_src=offset)
        left -= piece
except BrokenPipeError:
    # The reader went away (it failed, or was stopped): its exit status tells why.
    sys.exit(1)
