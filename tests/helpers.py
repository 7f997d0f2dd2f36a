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

"""Small helpers shared by the test suites."""

import hashlib
import os
import socket


def payload(size, seed=None):
    """``size`` bytes of image data; random unless ``seed`` is given."""
    block = hashlib.sha512(seed or os.urandom(16)).digest() * 2048  # 128 KiB
    return (block * (size // len(block) + 1))[:size]


def files_under(directory):
    """Every file below ``directory``, as sorted relative paths."""
    found = []
    for root, _dirs, names in os.walk(directory):
        found.extend(os.path.relpath(os.path.join(root, n), directory)
                     for n in names)
    return sorted(found)


def free_port(host='127.0.0.1'):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
