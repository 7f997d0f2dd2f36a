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

"""Configuration mistakes as a real glance-api shows them: the ERROR in
its log at start-up, and the HTTP status and message users get.

glance-api runs from the documented configuration files, with the
documented retry count, task poll interval and free space reserve (the
fixtures of the other tests lower them).
"""

import configparser
import html
import io
import re

from glanceclient import exc
import pytest
import requests

from glance_store_vmware import opts
from tests.functional.conftest import other_ca  # noqa: F401
from tests.glance_functional import glance_api

pytestmark = pytest.mark.timeout(600)

MiB = 1024 * 1024
DATA = b'x' * MiB


def documented_store_options():
    """What etc/glance-api.conf leaves at the defaults, and its reserve."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read(glance_api.SINGLE_STORE_CONF)
    defaults = {o.name: o.default for o in opts.STORE_OPTS}
    options = {}
    for name in ('vmware_api_retry_count', 'vmware_task_poll_interval',
                 'vmware_free_space_reserve_mb'):
        options[name] = parser.get('glance_store', name,
                                   fallback=defaults[name])
    return options


class EditedGlanceAPI(glance_api.GlanceAPI):
    """A glance-api whose rendered configuration gets ``edits`` on top,
    e.g. different options for each backend."""

    def __init__(self, *args, edits=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.edits = edits or {}

    def render_config(self, *args, **kwargs):
        text = super().render_config(*args, **kwargs)
        text = glance_api.edit_ini(text, self.edits)
        with open(self.conf_file, 'w') as f:
            f.write(text)
        return text


def start(tmp_path_factory, sim, edits=None, **kwargs):
    api = EditedGlanceAPI(tmp_path_factory.mktemp('glance-api'), debug=True,
                          edits=edits)
    try:
        api.start(sim, **documented_store_options(), **kwargs)
    except BaseException:
        api.stop()
        raise
    return api


def store_lines(api, text='', level='ERROR'):
    """The store's log lines of ``level`` that contain ``text``."""
    with open(api.log_file) as f:
        return [line for line in f
                if re.search(r' %s glance_store_vmware\.store ' % level, line)
                and text in line]


def failed_upload(glance, image, backend=None):
    with pytest.raises(exc.HTTPException) as failure:
        glance.images.upload(image.id, io.BytesIO(DATA), image_size=len(DATA),
                             backend=backend)
    return failure.value


def text(failure):
    # Glance sends an HTML body unless asked for text/plain; glanceclient
    # strips the tags but leaves entities such as &#x27; for quotes.
    return html.unescape(str(failure))


def new_image(glance, name):
    return glance.images.create(name=name, disk_format='raw',
                                container_format='bare')


# Datastore names -----------------------------------------------------------

@pytest.fixture(scope='module')
def typo_glance(package_vcsim, tmp_path_factory):
    """fast: only a datastore that does not exist; bulk: a comma-separated
    list with one that does not exist and one that does."""
    dc = package_vcsim.datacenter()['name']
    api = start(tmp_path_factory, package_vcsim, backends={
        'fast': ['%s:nosuch:0' % dc],
        'bulk': ['%s:nosuch:10, %s:LocalDS_1:0' % (dc, dc)]})
    yield api
    api.stop()


def test_typo_in_datastore_is_an_error_at_start_up_and_503(typo_glance):
    api = typo_glance
    dc = api.sim.datacenter()['name']
    expected = ("vsphere store 'fast': vmware_datastores entry "
                "'%s:nosuch:0': datacenter '%s' has no datastore or "
                "datastore cluster 'nosuch'" % (dc, dc))
    assert len(store_lines(api, expected)) == 1

    glance = api.client()
    image = new_image(glance, 'typo')
    try:
        failure = failed_upload(glance, image, backend='fast')
        # Not 413 "Image storage media is full".  Glance starts the
        # message of StorageWriteDenied with its own words.
        assert failure.code == 503, failure
        assert text(failure).startswith(
            "HTTP 503 Service Unavailable: Insufficient permissions on image "
            "storage media: vsphere store 'fast': cannot add image %s: "
            % image.id), text(failure)
        assert "no vmware_datastores entry names a datastore" in text(failure)
        assert "'%s:nosuch:0'" % dc in text(failure)
        assert glance.images.get(image.id).status == 'queued'
    finally:
        glance.images.delete(image.id)
    # The start-up error is not repeated; the failed upload is one line.
    assert len(store_lines(api, expected)) == 1
    assert len(store_lines(api, "vsphere store 'fast': cannot add image %s"
                           % image.id)) == 1


def test_comma_separated_datastores_work(typo_glance):
    api = typo_glance
    dc = api.sim.datacenter()['name']
    assert len(store_lines(
        api, "vsphere store 'bulk': vmware_datastores entry '%s:nosuch:10'"
        % dc)) == 1
    glance = api.client()
    image = new_image(glance, 'comma')
    try:
        glance.images.upload(image.id, io.BytesIO(DATA), image_size=len(DATA),
                             backend='bulk')
        image = glance.images.get(image.id)
        assert (image.status, image.stores) == ('active', 'bulk')
        assert b''.join(glance.images.data(image.id)) == DATA
    finally:
        glance.images.delete(image.id)


def test_malformed_weight_stops_glance_api(package_vcsim, tmp_path_factory):
    dc = package_vcsim.datacenter()['name']
    api = EditedGlanceAPI(tmp_path_factory.mktemp('glance-api'))
    api.START_TIMEOUT = 120
    with pytest.raises(glance_api.GlanceAPIError, match='exited'):
        api.start(package_vcsim, datastores=['%s:LocalDS_0:1O' % dc],
                  **documented_store_options())
    try:
        [line] = store_lines(api)
        assert ("vsphere store: vmware_datastores entry '%s:LocalDS_0:1O' "
                "has an invalid weight '1O'" % dc) in line
    finally:
        api.stop()


# Credentials ---------------------------------------------------------------

def test_wrong_password(package_vcsim, tmp_path_factory):
    api = start(tmp_path_factory, package_vcsim,
                vmware_server_password='not-the-password')
    try:
        [line] = store_lines(api)
        assert 'refused the user name or password' in line
        assert 'vmware_server_username, vmware_server_password' in line

        glance = api.client()
        image = new_image(glance, 'password')
        failure = failed_upload(glance, image)
        assert failure.code == 503, failure
        assert 'refused the user name or password' in text(failure)
        assert 'vmware_server_password' in text(failure)
        glance.images.delete(image.id)
        assert len(store_lines(api)) == 2
        with open(api.log_file) as f:
            assert 'not-the-password' not in f.read()
    finally:
        api.stop()


# TLS -----------------------------------------------------------------------

@pytest.fixture(scope='module')
def ca_glance(package_vcsim, other_ca, tmp_path_factory):  # noqa: F811
    """fast: vmware_ca_file does not exist; bulk: a CA that did not sign
    vCenter's certificate."""
    api = start(tmp_path_factory, package_vcsim, edits={
        'fast': {'vmware_ca_file': '/nonexistent/vcenter-ca.pem'},
        'bulk': {'vmware_ca_file': other_ca.ca_file}},
        backends={'fast': ['LocalDS_0'], 'bulk': ['LocalDS_1']})
    yield api
    api.stop()


def test_missing_ca_file(ca_glance):
    api = ca_glance
    assert len(store_lines(
        api, "vsphere store 'fast': vmware_ca_file "
        "'/nonexistent/vcenter-ca.pem' does not exist")) == 1
    glance = api.client()
    image = new_image(glance, 'no-ca')
    try:
        failure = failed_upload(glance, image, backend='fast')
        assert failure.code == 503, failure
        assert "vmware_ca_file '/nonexistent/vcenter-ca.pem' does not " \
            "exist" in text(failure)
    finally:
        glance.images.delete(image.id)


def test_wrong_ca_file(ca_glance):
    api = ca_glance
    glance = api.client()
    image = new_image(glance, 'wrong-ca')
    try:
        failure = failed_upload(glance, image, backend='bulk')
        assert failure.code == 503, failure
        assert 'certificate verify failed' in text(failure)
        assert 'vmware_ca_file' in text(failure)
    finally:
        glance.images.delete(image.id)
    assert store_lines(api, 'vmware_ca_file, vmware_insecure')


# Downloads -----------------------------------------------------------------

def test_download_while_vcenter_is_down_is_503(vcsim, tmp_path_factory):
    api = start(tmp_path_factory, vcsim)
    try:
        glance = api.client()
        image = new_image(glance, 'download-down')
        glance.images.upload(image.id, io.BytesIO(DATA), image_size=len(DATA))
        vcsim.stop()
        resp = requests.get('%s/v2/images/%s/file' % (api.endpoint, image.id),
                            headers={'X-Auth-Token': api.member_token},
                            timeout=120)
        # Glance answers RemoteServiceUnavailable with 503 and the reason;
        # any other exception there is a bare 500.
        assert resp.status_code == 503, (resp.status_code, resp.text)
        assert 'cannot connect to vCenter' in resp.text
    finally:
        api.stop()
