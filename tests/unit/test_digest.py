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

"""ParallelDigest: checksums on worker threads, same results as inline."""

import hashlib
import os
import threading
import time

import pytest

from glance_store_vmware import digest


def chunks(count=200, size=7919):
    # Different sizes and contents, so order and completeness both matter.
    return [os.urandom(size + i) for i in range(count)]


def test_digests_equal_sequential_hashlib_over_many_chunks():
    data = chunks()
    md5, sha512 = hashlib.md5(), hashlib.sha512()
    with digest.ParallelDigest([md5.update, sha512.update]) as hashes:
        for chunk in data:
            hashes.update(chunk)
        hashes.finish()
    joined = b''.join(data)
    assert md5.hexdigest() == hashlib.md5(joined).hexdigest()
    assert sha512.hexdigest() == hashlib.sha512(joined).hexdigest()


def test_each_update_sees_every_chunk_in_order():
    seen_a, seen_b = [], []
    hashes = digest.ParallelDigest([seen_a.append, seen_b.append], depth=2)
    for i in range(500):
        hashes.update(i)
    hashes.finish()
    assert seen_a == list(range(500))
    assert seen_b == list(range(500))


def test_finish_waits_for_slow_updates():
    seen = []

    def slow(chunk):
        time.sleep(0.01)
        seen.append(chunk)

    hashes = digest.ParallelDigest([slow])
    for i in range(10):
        hashes.update(i)
    hashes.finish()
    assert seen == list(range(10))


def test_worker_exception_is_raised_by_finish():
    class Boom(Exception):
        pass

    good = []

    def failing(chunk):
        if chunk == 3:
            raise Boom('chunk 3')

    hashes = digest.ParallelDigest([good.append, failing])
    for i in range(10):
        hashes.update(i)   # never blocks, even after the failure
    with pytest.raises(Boom, match='chunk 3'):
        hashes.finish()
    assert good == list(range(10))


def test_first_worker_error_is_kept():
    calls = []

    def failing(chunk):
        calls.append(chunk)
        raise ValueError('chunk %d' % chunk)

    hashes = digest.ParallelDigest([failing])
    for i in range(5):
        hashes.update(i)
    with pytest.raises(ValueError, match='chunk 0'):
        hashes.finish()
    assert calls == [0]


def test_finish_and_abort_join_the_threads():
    before = threading.active_count()
    hashes = digest.ParallelDigest([hashlib.md5().update,
                                    hashlib.sha256().update,
                                    hashlib.sha1().update])
    assert threading.active_count() == before + 3
    hashes.update(b'x')
    hashes.finish()
    assert threading.active_count() == before
    hashes.abort()   # idempotent after finish
    assert threading.active_count() == before


def test_abort_stops_threads_without_finishing():
    before = threading.active_count()
    hashes = digest.ParallelDigest([hashlib.md5().update,
                                    hashlib.sha512().update])
    assert threading.active_count() == before + 2
    hashes.update(b'partial')
    hashes.abort()
    assert threading.active_count() == before


def test_leaving_the_context_on_error_stops_threads():
    before = threading.active_count()
    with pytest.raises(RuntimeError):
        with digest.ParallelDigest([hashlib.md5().update]) as hashes:
            hashes.update(b'x')
            raise RuntimeError('upload failed')
    assert threading.active_count() == before


def test_abort_does_not_raise_worker_errors():
    def failing(chunk):
        raise ValueError('ignored on abort')

    before = threading.active_count()
    hashes = digest.ParallelDigest([failing])
    hashes.update(b'x')
    hashes.abort()
    assert threading.active_count() == before
