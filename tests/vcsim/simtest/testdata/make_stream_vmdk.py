#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Regenerate stream.vmdk, the streamOptimized test vector of stream_test.go.

Needs qemu-img (Debian qemu-utils).  The raw disk is what streamDisk() in
stream_test.go builds; keep both in step.  Usage: make_stream_vmdk.py
"""

import os
import pathlib
import subprocess
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
MIB = 1 << 20
# Over 32 MiB: a second grain table; not a whole number of 64 KiB grains.
SIZE = 40 * MIB + 4096
PIECES = [
    (0, b'BOOT SECTOR'),
    (MIB - 6, b'STRADDLES A GRAIN'),
    (2 * MIB, bytes(i % 251 for i in range(200 * 1024))),
    (33 * MIB, b'SECOND GRAIN TABLE'),
    (SIZE - 16, b'END OF THE DISK!'),
]


def main():
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, 'disk.raw')
        with open(raw, 'wb') as f:
            f.truncate(SIZE)
            for offset, data in PIECES:
                f.seek(offset)
                f.write(data)
        subprocess.run(['qemu-img', 'convert', '-f', 'raw', '-O', 'vmdk',
                        '-o', 'subformat=streamOptimized', raw,
                        str(HERE / 'stream.vmdk')], check=True)


if __name__ == '__main__':
    main()
