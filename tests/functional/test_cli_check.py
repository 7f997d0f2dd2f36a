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

"""``glance-store-vmware check`` against the simulator, on the documented
configuration files (etc/) with the documented defaults: a good file
passes (exit 0) and leaves nothing on the datastores; each bad entry is
one finding naming the option to fix (exit 1)."""

import os
import subprocess
import sys

import pytest

from tests.functional import cli_setup
from tests.functional import fake_glance
from tests.helpers import files_under
from tests.helpers import free_port

pytestmark = pytest.mark.timeout(120)

STORE = '[glance_store] '


def failures(result):
    return [(r['check'], r['option'], r['detail'])
            for r in result.rows('findings') if r['status'] == 'FAIL']


def problems(result):
    return [r for r in result.rows('findings')
            if r['status'] in ('WARN', 'FAIL')]


def test_a_good_glance_api_conf_passes_and_leaves_nothing_behind(
        vcsim, tmp_path):
    before = {ds: files_under(vcsim.datastore_dir(ds))
              for ds in ('LocalDS_0', 'LocalDS_1')}
    conf = cli_setup.glance_conf(tmp_path, vcsim,
                                 datastores=('LocalDS_0', 'LocalDS_1'))
    result = cli_setup.run('check', '--config-file', conf)
    assert result.status == 0, result.stdout + result.stderr
    assert problems(result) == []
    checks = [(r['subject'], r['check']) for r in result.rows('findings')
              if r['status'] == 'OK']
    for entry in ('DC0:LocalDS_0:100', 'DC0:LocalDS_1:99'):
        subject = 'vsphere store: %s' % entry
        for check in ('datastore state', 'free space', 'write probe'):
            assert (subject, check) in checks
    # Progress went to stderr, the JSON alone to stdout.
    assert 'probing [LocalDS_0] openstack_glance' in result.stderr
    # The probe file, and the image directory the probe created, are gone.
    for ds, files in before.items():
        assert files_under(vcsim.datastore_dir(ds)) == files
        assert not os.path.exists(os.path.join(vcsim.datastore_dir(ds),
                                               'openstack_glance'))


def test_an_existing_image_directory_keeps_its_files(vcsim, tmp_path):
    image_dir = os.path.join(vcsim.datastore_dir('LocalDS_0'),
                             'openstack_glance')
    os.makedirs(image_dir)
    with open(os.path.join(image_dir, 'an-image'), 'wb') as f:
        f.write(b'data')
    result = cli_setup.run('check', '--config-file',
                           cli_setup.glance_conf(tmp_path, vcsim))
    assert result.status == 0, result.stdout
    assert os.listdir(image_dir) == ['an-image']


@pytest.mark.timeout(400)
def test_the_table_format_and_the_installed_command(vcsim, tmp_path):
    conf = cli_setup.glance_conf(tmp_path, vcsim)
    command = os.path.join(os.path.dirname(sys.executable),
                           'glance-store-vmware')
    # A new process parses the vim WSDL (tests share one parsed copy):
    # tens of seconds on a busy machine.
    proc = subprocess.run([command, 'check', '--config-file', conf, '-q'],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith('+--------+')
    assert '| OK     | vsphere store: DC0:LocalDS_0:100' in proc.stdout
    assert proc.stdout.rstrip().endswith('problems: 0')
    assert proc.stderr == ''


@pytest.mark.parametrize('entry, option, words', [
    ('NoSuchDC:LocalDS_0', 'vmware_datastores',
     "datacenter 'NoSuchDC' does not exist"),
    ('DC0:NoSuchDS', 'vmware_datastores',
     "has no datastore or datastore cluster 'NoSuchDS'"),
    ('DC0:LocalDS_0:1O', 'vmware_datastores', "invalid weight '1O'"),
])
def test_a_bad_datastore_entry_is_named(vcsim, tmp_path, entry, option,
                                        words):
    conf = cli_setup.glance_conf(tmp_path, vcsim, store={
        'vmware_datastores': [entry, 'DC0:LocalDS_1']})
    result = cli_setup.run('check', '--config-file', conf)
    assert result.status == 1
    [(check, named, detail)] = failures(result)
    assert named == STORE + option
    assert words in detail
    # The good entry is still checked.
    assert any(r['subject'].endswith('DC0:LocalDS_1')
               and r['check'] == 'write probe' and r['status'] == 'OK'
               for r in result.rows('findings'))


@pytest.mark.parametrize('store, check, option, words', [
    ({'vmware_server_password': 'wrong'}, 'login',
     'vmware_server_username, [glance_store] vmware_server_password',
     'refused the user name or password'),
    ({'vmware_ca_file': '/nonexistent/ca.pem'}, 'TLS', 'vmware_ca_file',
     'does not exist'),
    ({'vmware_free_space_reserve_mb': 1024 ** 3}, 'free space',
     'vmware_free_space_reserve_mb, [glance_store] vmware_datastores',
     'less than the 1073741824 MiB reserve'),
    ({'vmware_server_username': None}, 'configuration',
     'vmware_server_username', 'option is required'),
    ({'vmware_store_image_dir': '/images/../etc'}, 'configuration',
     'vmware_store_image_dir', '"." or ".." component'),
    ({'vmware_partial_file_max_age': 60}, 'configuration',
     'vmware_partial_file_max_age', 'larger than vmware_http_timeout'),
    ({'vmware_server_port': 'https'}, 'configuration',
     'vmware_server_port', 'invalid value'),
])
def test_a_bad_store_option_is_named(vcsim, tmp_path, store, check, option,
                                     words):
    conf = cli_setup.glance_conf(tmp_path, vcsim, store=store)
    result = cli_setup.run('check', '--config-file', conf)
    assert result.status == 1, result.stdout
    found = failures(result)
    assert [(c, o) for c, o, _d in found] == [(check, STORE + option)]
    assert words in found[0][2]


def test_a_certificate_from_another_ca_names_the_tls_options(
        vcsim, tmp_path, other_ca):
    conf = cli_setup.glance_conf(tmp_path, vcsim, store={
        'vmware_ca_file': other_ca.ca_file})
    result = cli_setup.run('check', '--config-file', conf)
    assert result.status == 1
    [(check, option, detail)] = failures(result)
    assert check == 'login'
    assert option == STORE + 'vmware_ca_file, [glance_store] vmware_insecure'
    assert 'certificate verification failed' in detail


def test_an_unreachable_vcenter_names_host_and_port(vcsim, tmp_path):
    conf = cli_setup.glance_conf(tmp_path, vcsim, store={
        'vmware_server_port': free_port()})
    result = cli_setup.run('check', '--config-file', conf)
    assert result.status == 1
    [(check, option, detail)] = failures(result)
    assert (check, option) == (
        'login', STORE + 'vmware_server_host, [glance_store] '
        'vmware_server_port')
    assert 'cannot connect' in detail


def test_insecure_without_a_ca_file_is_a_warning(vcsim, tmp_path):
    conf = cli_setup.glance_conf(tmp_path, vcsim, store={
        'vmware_ca_file': None, 'vmware_insecure': True})
    result = cli_setup.run('check', '--config-file', conf)
    assert result.status == 1
    [warning] = problems(result)
    assert (warning['status'], warning['option']) == (
        'WARN', STORE + 'vmware_insecure')


def test_multi_store_checks_each_backend_or_the_one_asked_for(
        vcsim, tmp_path):
    conf = cli_setup.multi_conf(tmp_path, vcsim, {
        'fast': ('LocalDS_0',), 'bulk': ('NoSuchDS',)})
    result = cli_setup.run('check', '--config-file', conf)
    assert result.status == 1
    [(check, option, _detail)] = failures(result)
    assert (check, option) == ('datastore', '[bulk] vmware_datastores')

    result = cli_setup.run('check', '--config-file', conf,
                           '--backend', 'fast')
    assert result.status == 0, result.stdout
    assert {r['subject'].split(':')[0] for r in result.rows('findings')
            if r['subject'].startswith('vsphere')} == {
                "vsphere store 'fast'"}

    result = cli_setup.run('check', '--config-file', conf,
                           '--backend', 'nosuch')
    assert result.status == 2
    assert "no vsphere backend 'nosuch'" in result.stderr


def test_glance_api_with_the_configured_credentials(vcsim, tmp_path):
    users = {'cli': ('pw', ('admin', 'service')),
             'member': ('pw', ('member',))}
    with fake_glance.FakeCloud(users) as cloud:
        cloud.add_image(['vsphere://x/folder/d/f?dcPath=DC0&dsName=ds'])

        def glance_rows(user, password=None):
            conf = cli_setup.glance_conf(tmp_path, vcsim, extra={
                'vsphere_glance_api': cloud.options(user, password)})
            result = cli_setup.run('check', '--config-file', conf)
            return result, [(r['status'], r['check'], r['option'])
                            for r in result.rows('findings')
                            if r['subject'].startswith('Glance API')]

        result, rows = glance_rows('cli')
        assert result.status == 0, result.stdout
        assert rows == [('OK', 'authentication', ''),
                        ('OK', 'image list', ''),
                        ('OK', 'locations API', '')]

        result, rows = glance_rows('cli', 'wrong')
        assert result.status == 1
        assert rows == [('FAIL', 'authentication', '[vsphere_glance_api] '
                         'auth_url, username, password')]

        result, rows = glance_rows('member')
        assert result.status == 1
        assert rows == [('OK', 'authentication', ''),
                        ('WARN', 'roles', '[vsphere_glance_api] username'),
                        ('OK', 'image list', ''),
                        ('WARN', 'locations API',
                         '[vsphere_glance_api] username')]


def test_a_good_nova_conf_passes(vcsim, tmp_path):
    result = cli_setup.run('check', '--config-file',
                           cli_setup.nova_conf(tmp_path, vcsim))
    assert result.status == 0, result.stdout
    checks = {(r['subject'], r['check']) for r in result.rows('findings')}
    assert ('nova-compute: cluster DC0_C0', 'cluster') in checks
    assert ('nova-compute: DC0:LocalDS_0', 'image directory') in checks


@pytest.mark.parametrize('vmware, handler, check, option', [
    ({'cluster_name': 'NoSuchCluster'}, {}, 'cluster',
     '[vmware] cluster_name'),
    ({'datastore_regex': 'nomatch.*'}, {}, 'datastores',
     '[vmware] datastore_regex'),
    ({}, {'image_datastores': 'DC0:NoSuchDS'}, 'datastore',
     '[vsphere_image_handler] image_datastores'),
    ({'host_password': 'wrong'}, {}, 'login',
     '[vmware] host_username, [vmware] host_password'),
])
def test_a_bad_nova_option_is_named(vcsim, tmp_path, vmware, handler, check,
                                    option):
    conf = cli_setup.nova_conf(tmp_path, vcsim, vmware, handler)
    result = cli_setup.run('check', '--config-file', conf)
    assert result.status == 1, result.stdout
    assert [(c, o) for c, o, _d in failures(result)] == [(check, option)]


CINDER = '[%s] ' % cli_setup.CINDER_BACKEND


def test_a_good_cinder_conf_passes(vcsim, tmp_path):
    result = cli_setup.run('check', '--config-file',
                           cli_setup.cinder_conf(tmp_path, vcsim))
    assert result.status == 0, result.stdout
    rows = {(r['subject'], r['check']): r for r in result.rows('findings')}
    label = "cinder backend 'vmware-images'"
    assert rows[(label + ': cluster DC0_C0', 'cluster')]['detail'] \
        .startswith('found; Cinder places volumes on LocalDS_0')
    assert rows[(label + ': DC0:LocalDS_0', 'datastore state')][
        'status'] == 'OK'
    assert (label + ': DC0:LocalDS_0', 'image directory') in rows
    assert rows[('Glance API ([vsphere_image_locations])',
                 'configuration')]['status'] == 'INFO'


@pytest.mark.parametrize('backend, check, option', [
    ({'vmware_cluster_name': ['DC0_C0', 'NoSuchCluster']}, 'cluster',
     CINDER + 'vmware_cluster_name'),
    ({'vmware_datastore_regex': 'nomatch.*'}, 'datastores',
     CINDER + 'vmware_datastore_regex'),
    ({'vsphere_image_datastores': 'DC0:NoSuchDS'}, 'datastore',
     CINDER + 'vsphere_image_datastores'),
    ({'vmware_host_password': 'wrong'}, 'login',
     CINDER + 'vmware_host_username, ' + CINDER + 'vmware_host_password'),
    ({'vmware_ca_file': None}, 'login',
     CINDER + 'vmware_ca_file, ' + CINDER + 'vmware_insecure'),
])
def test_a_bad_cinder_option_is_named(vcsim, tmp_path, backend, check,
                                      option):
    conf = cli_setup.cinder_conf(tmp_path, vcsim, backend)
    result = cli_setup.run('check', '--config-file', conf)
    assert result.status == 1, result.stdout
    assert [(c, o) for c, o, _d in failures(result)] == [(check, option)]


def test_cinder_backend_defaults_and_backends_of_cinders_own_driver(
        vcsim, tmp_path):
    # The credentials in [backend_defaults], as Cinder reads them; a second
    # backend on Cinder's own driver, skipped.
    conf = cli_setup.cinder_conf(
        tmp_path, vcsim,
        backend={'vmware_host_username': None,
                 'vmware_host_password': None},
        extra={'DEFAULT': {'enabled_backends': 'vmware-images, plain'},
               'backend_defaults': {'vmware_host_username': vcsim.username,
                                    'vmware_host_password': 'wrong'},
               'plain': {'volume_driver': 'cinder.volume.drivers.vmware.'
                                          'vmdk.VMwareVcVmdkDriver'}})
    result = cli_setup.run('check', '--config-file', conf)
    assert result.status == 1
    assert [(c, o) for c, o, _d in failures(result)] == [
        ('login', '[backend_defaults] vmware_host_username, '
                  '[backend_defaults] vmware_host_password')]
    [skipped] = [r for r in result.rows('findings')
                 if r['check'] == 'skipped']
    assert skipped['subject'] == "cinder backend 'plain'"

    result = cli_setup.run('check', '--config-file', conf,
                           '--backend', 'plain')
    assert result.status == 2
    assert "backend 'plain': volume_driver is Cinder's own" in result.stderr


def test_cinder_asks_glance_with_the_locations_credentials(vcsim, tmp_path):
    users = {'cinder-images': ('pw', ('service',))}
    with fake_glance.FakeCloud(users) as cloud:
        cloud.add_image(['vsphere://x/folder/d/f?dcPath=DC0&dsName=ds'])

        def glance_rows(backend=None, password=None):
            conf = cli_setup.cinder_conf(
                tmp_path, vcsim, backend, extra={
                    'vsphere_image_locations': cloud.options(
                        'cinder-images', password)})
            result = cli_setup.run('check', '--config-file', conf)
            return result, [(r['status'], r['check'], r['option'])
                            for r in result.rows('findings')
                            if r['subject'].startswith('Glance API')]

        result, rows = glance_rows()
        assert result.status == 0, result.stdout
        assert rows == [('OK', 'authentication', ''),
                        ('OK', 'image list', ''),
                        ('OK', 'locations API', '')]

        result, rows = glance_rows(password='wrong')
        assert result.status == 1
        assert rows == [('FAIL', 'authentication', '[vsphere_image_locations]'
                         ' auth_url, username, password')]

        # The backend does not ask Glance: neither does the check.
        result, rows = glance_rows({'vsphere_image_use_locations_api':
                                    False}, password='wrong')
        assert result.status == 0, result.stdout
        assert rows == [('INFO', 'configuration',
                         '[vsphere_image_locations] auth_type')]


def test_orphans_and_locations_refuse_a_cinder_conf(vcsim, tmp_path):
    conf = cli_setup.cinder_conf(tmp_path, vcsim)
    for command in ('orphans', 'locations'):
        result = cli_setup.run(command, '--config-file', conf)
        assert result.status == 2, result.stdout
        assert 'reads a glance-api.conf' in result.stderr


def test_usage_errors_exit_2(tmp_path):
    assert cli_setup.run('check').status == 2
    assert cli_setup.run('check', '--config-file',
                         str(tmp_path / 'missing.conf')).status == 2
    empty = tmp_path / 'empty.conf'
    empty.write_text('[DEFAULT]\ndebug = True\n')
    result = cli_setup.run('check', '--config-file', str(empty))
    assert result.status == 2
    assert 'neither a Glance store' in result.stderr
    assert cli_setup.run('nosuch').status == 2
