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

"""A real glance-api with the ``vsphere`` store, through glanceclient."""

import hashlib
import io
import os

from glanceclient import exc
import pytest
import requests

from tests.glance_functional.conftest import image_files
from tests.helpers import payload
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(600)

MiB = 1024 * 1024


def wait_status(glance, image_id, status, timeout=120):
    last = {}

    def reached():
        last['image'] = glance.images.get(image_id)
        return last['image'].status == status
    try:
        wait_for(reached, 'image %s to become %s' % (image_id, status),
                 timeout)
    except AssertionError:
        raise AssertionError('image %s is %s, not %s: %s' % (
            image_id, last['image'].status, status, dict(last['image'])))
    return last['image']


def new_image(glance, name, **kw):
    return glance.images.create(name=name, disk_format='raw',
                                container_format='bare', **kw)


def download(glance, image_id):
    # glanceclient verifies os_hash_value while it reads.
    return b''.join(glance.images.data(image_id))


def ranged(api, image_id, spec):
    # Plain HTTP, as Nova's or any download client would send it:
    # glanceclient %-encodes header values, "bytes=" included.
    resp = requests.get('%s/v2/images/%s/file' % (api.endpoint, image_id),
                        headers={'X-Auth-Token': api.member_token,
                                 'Range': 'bytes=' + spec}, timeout=60)
    return resp.status_code, resp.headers.get('Content-Range'), resp.content


def on_datastore(sim, datastore, image_id):
    path = os.path.join(sim.datastore_dir(datastore), 'openstack_glance',
                        image_id)
    with open(path, 'rb') as f:
        return f.read()


# Single store ---------------------------------------------------------------


def test_upload_of_known_size_lands_on_the_datastore(glance_single):
    sim, glance = glance_single.sim, glance_single.client()
    data = payload(5 * MiB + 123)
    image = new_image(glance, 'known-size')

    glance.images.upload(image.id, io.BytesIO(data), image_size=len(data))

    image = glance.images.get(image.id)
    assert image.status == 'active'
    assert image.size == len(data)
    assert image.checksum == hashlib.md5(data).hexdigest()
    assert image.os_hash_algo == 'sha512'
    assert image.os_hash_value == hashlib.sha512(data).hexdigest()
    assert image.direct_url == (
        'vsphere://127.0.0.1:%d/folder/openstack_glance/%s?dcPath=DC0&'
        'dsName=LocalDS_0' % (sim.port, image.id))
    assert on_datastore(sim, 'LocalDS_0', image.id) == data
    assert download(glance, image.id) == data

    glance.images.delete(image.id)
    assert image.id not in image_files(sim, 'LocalDS_0')
    with pytest.raises(exc.HTTPNotFound):
        glance.images.get(image.id)


def test_chunked_upload_of_unknown_size(glance_single):
    sim, glance = glance_single.sim, glance_single.client()
    data = payload(3 * MiB + 7)
    image = new_image(glance, 'unknown-size')

    # No size header: the store learns the size when the body ends.
    glance.images.upload(image.id, io.BytesIO(data))

    image = glance.images.get(image.id)
    assert (image.status, image.size) == ('active', len(data))
    assert image.os_hash_value == hashlib.sha512(data).hexdigest()
    assert download(glance, image.id) == data
    glance.images.delete(image.id)
    assert image.id not in image_files(sim, 'LocalDS_0')


def test_ranged_download(glance_single):
    api = glance_single
    glance = api.client()
    data = payload(3 * MiB)
    image = new_image(glance, 'ranged')
    glance.images.upload(image.id, io.BytesIO(data), image_size=len(data))
    try:
        start = MiB + 5
        assert ranged(api, image.id, '%d-%d' % (start, start + 999)) == (
            206, 'bytes %d-%d/%d' % (start, start + 999, len(data)),
            data[start:start + 1000])
        assert ranged(api, image.id, '-10') == (
            206, 'bytes %d-%d/%d' % (len(data) - 10, len(data) - 1,
                                     len(data)), data[-10:])
        assert ranged(api, image.id, '%d-' % (len(data) - 3))[2] == \
            data[-3:]
    finally:
        glance.images.delete(image.id)


def test_glance_direct_import(glance_single):
    sim, glance = glance_single.sim, glance_single.client()
    data = payload(2 * MiB + 1)
    image = new_image(glance, 'imported')

    glance.images.stage(image.id, io.BytesIO(data), image_size=len(data))
    assert glance.images.get(image.id).status == 'uploading'
    glance.images.image_import(image.id, method='glance-direct')
    image = wait_status(glance, image.id, 'active')

    assert image.size == len(data)
    assert image.os_hash_value == hashlib.sha512(data).hexdigest()
    assert on_datastore(sim, 'LocalDS_0', image.id) == data
    assert download(glance, image.id) == data
    wait_for(lambda: not os.listdir(glance_single.staging_dir),
             'the staging directory to be emptied', timeout=30)
    glance.images.delete(image.id)
    assert image.id not in image_files(sim, 'LocalDS_0')


def test_locations_for_services(glance_single):
    """Nova finds the datastore file from the image location: in
    direct_url (show_image_direct_url), and for the service role in
    GET /v2/images/{id}/locations (policy fetch_image_location)."""
    glance = glance_single.client()
    data = payload(MiB)
    image = new_image(glance, 'for-nova', visibility='community')
    glance.images.upload(image.id, io.BytesIO(data), image_size=len(data))
    try:
        direct_url = glance.images.get(image.id).direct_url
        assert direct_url.startswith('vsphere://')

        with pytest.raises(exc.HTTPForbidden, match='fetch_image_location'):
            glance.images.get_image_locations(image.id)

        service = glance_single.client(glance_single.service_token)
        locations = service.images.get_image_locations(image.id)
        assert [loc['url'] for loc in locations] == [direct_url]
    finally:
        glance.images.delete(image.id)


def test_a_private_image_is_hidden_from_other_projects_services(
        glance_single):
    # The service role alone does not reveal other projects' private
    # images: the image must be visible to the token's project.
    glance = glance_single.client()
    image = new_image(glance, 'private')
    glance.images.upload(image.id, io.BytesIO(b'x' * 100), image_size=100)
    try:
        service = glance_single.client(glance_single.service_token)
        with pytest.raises(exc.HTTPNotFound):
            service.images.get_image_locations(image.id)
    finally:
        glance.images.delete(image.id)


def test_unknown_token_is_refused(glance_single):
    glance = glance_single.client('not-a-test-token')
    with pytest.raises(exc.HTTPUnauthorized):
        list(glance.images.list())


# vCenter unreachable --------------------------------------------------------


def test_vcenter_unreachable_fails_the_upload_clearly(vcsim, glance_factory):
    api = glance_factory(vcsim)
    glance = api.client()
    image = new_image(glance, 'no-vcenter')
    vcsim.stop()

    data = payload(MiB)
    with pytest.raises(exc.HTTPException) as failure:
        glance.images.upload(image.id, io.BytesIO(data),
                             image_size=len(data))

    # 503 with the reason, not Glance's bare 500.
    assert failure.value.code == 503, failure.value
    assert 'cannot connect to vCenter' in str(failure.value)
    image = glance.images.get(image.id)
    assert image.status == 'queued', dict(image)
    assert image.size is None
    assert 'direct_url' not in image
    assert glance.images.data(image.id).__wrapped__ is None  # 204: no data
    with open(api.log_file) as f:
        log = f.read()
    assert 'vsphere store: cannot add image %s' % image.id in log
    glance.images.delete(image.id)


def test_glance_starts_while_vcenter_is_down(vcsim, glance_factory):
    vcsim.stop()  # its address stays in the configuration
    api = glance_factory(vcsim)
    glance = api.client()
    image = new_image(glance, 'vcenter-never-seen')

    with pytest.raises(exc.HTTPException) as failure:
        glance.images.upload(image.id, io.BytesIO(b'x' * MiB),
                             image_size=MiB)

    assert failure.value.code == 503, failure.value
    assert 'cannot connect to vCenter' in str(failure.value)
    assert glance.images.get(image.id).status == 'queued'
    with open(api.log_file) as f:
        assert 'cannot look up the configured datastores yet' in f.read()
    glance.images.delete(image.id)


# Two stores -----------------------------------------------------------------


def test_stores_are_listed(glance_multi):
    stores = glance_multi.client().images.get_stores_info()
    assert sorted(s['id'] for s in stores['stores']) == ['bulk', 'fast']
    default = [s['id'] for s in stores['stores'] if s.get('default')]
    assert default == ['fast']


def test_upload_to_a_chosen_store_and_copy_to_the_other(glance_multi):
    sim, glance = glance_multi.sim, glance_multi.client()
    data = payload(3 * MiB + 11)
    image = new_image(glance, 'two-stores')
    try:
        glance.images.upload(image.id, io.BytesIO(data),
                             image_size=len(data), backend='bulk')
        image = glance.images.get(image.id)
        assert (image.status, image.stores) == ('active', 'bulk')
        assert on_datastore(sim, 'LocalDS_1', image.id) == data
        assert image.id not in image_files(sim, 'LocalDS_0')

        # copy-image is for admins by default.
        admin = glance_multi.client(glance_multi.admin_token)
        admin.images.image_import(image.id, method='copy-image',
                                  stores=['fast'])
        wait_for(lambda: sorted(glance.images.get(image.id).stores.split(
            ',')) == ['bulk', 'fast'], 'the copy to store fast')

        assert on_datastore(sim, 'LocalDS_0', image.id) == data
        image = glance.images.get(image.id)
        assert image.os_hash_value == hashlib.sha512(data).hexdigest()
        locations = admin.images.get_image_locations(image.id)
        assert sorted((loc['metadata']['store'],
                       loc['url'].split('dsName=')[1])
                      for loc in locations) == [('bulk', 'LocalDS_1'),
                                                ('fast', 'LocalDS_0')]
        assert download(glance, image.id) == data
    finally:
        glance.images.delete(image.id)
    assert image.id not in image_files(sim, 'LocalDS_0')
    assert image.id not in image_files(sim, 'LocalDS_1')


def test_default_store_of_multi_store(glance_multi):
    sim, glance = glance_multi.sim, glance_multi.client()
    data = payload(MiB)
    image = new_image(glance, 'default-store')
    glance.images.upload(image.id, io.BytesIO(data))
    try:
        assert glance.images.get(image.id).stores == 'fast'
        assert on_datastore(sim, 'LocalDS_0', image.id) == data
    finally:
        glance.images.delete(image.id)


def test_store_details_fail_in_glance_33(glance_multi):
    """Glance 33's GET /v2/info/stores/detail knows the properties of its
    own store types only and answers 500 for any other; documented in
    doc/source/glance-api.rst.  When this fails, Glance has fixed it:
    update the documentation."""
    admin = glance_multi.client(glance_multi.admin_token)
    with pytest.raises(exc.HTTPInternalServerError):
        admin.images.get_stores_info_detail()
