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

"""Many clients at once through one glance-api (two workers, threads)."""

from concurrent import futures
import hashlib
import io
import os

import pytest

from tests.glance_functional.conftest import image_files

pytestmark = pytest.mark.timeout(900)

MiB = 1024 * 1024
IMAGES = 16
CLIENT_THREADS = 8


def test_parallel_uploads_and_downloads_stay_intact(glance_single):
    sim = glance_single.sim
    # Different sizes and contents; every other upload without a size.
    blobs = [os.urandom(MiB + i * 97 * 1024 + i) for i in range(IMAGES)]

    def upload(i):
        glance = glance_single.client()
        image = glance.images.create(name='parallel-%d' % i,
                                     disk_format='raw',
                                     container_format='bare')
        size = len(blobs[i]) if i % 2 else None
        glance.images.upload(image.id, io.BytesIO(blobs[i]), image_size=size)
        return image.id

    def download(image_id):
        glance = glance_single.client()
        return b''.join(glance.images.data(image_id))

    ids = []
    try:
        with futures.ThreadPoolExecutor(CLIENT_THREADS) as pool:
            for image_id in pool.map(upload, range(IMAGES)):
                ids.append(image_id)
            glance = glance_single.client()
            for i, image_id in enumerate(ids):
                image = glance.images.get(image_id)
                assert (image.status, image.size) == ('active',
                                                      len(blobs[i]))
                assert image.os_hash_value == \
                    hashlib.sha512(blobs[i]).hexdigest()
            # Twice each image, all at once, in a shuffled order.
            order = ids[::-1] + ids
            got = dict(zip(order, pool.map(download, order), strict=True))
        for i, image_id in enumerate(ids):
            assert got[image_id] == blobs[i], 'image %d differs' % i
        assert sorted(image_files(sim, 'LocalDS_0')) == sorted(ids)
    finally:
        glance = glance_single.client()
        with futures.ThreadPoolExecutor(CLIENT_THREADS) as pool:
            list(pool.map(glance.images.delete, ids))
    assert not set(ids) & set(image_files(sim, 'LocalDS_0'))
    # Nothing in flight either: no partial uploads, nothing staged.
    assert not [f for f in image_files(sim, 'LocalDS_0')
                if f.endswith('.part')]
    assert os.listdir(glance_single.staging_dir) == []
