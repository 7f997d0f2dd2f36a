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

"""The command line above the vSphere and Glance boundaries: argument
handling and exit status, output formats, reading the services'
configuration files, and each finding of ``check``, ``orphans`` and
``locations``.

Only the vSphere layer (``deployment.Connection``) and Glance's API
(``glance_api.GlanceImages``) are replaced; the command's own code runs
unchanged.
"""

import datetime
import io
import json
import subprocess
import sys
import types
from unittest import mock

from oslo_config import cfg
from oslo_utils import units
import pytest

from glance_store_vmware import location
from glance_store_vmware.cli import check
from glance_store_vmware.cli import commands
from glance_store_vmware.cli import deployment
from glance_store_vmware.cli import glance_api
from glance_store_vmware.cli import locations
from glance_store_vmware.cli import main
from glance_store_vmware.cli import orphans
from glance_store_vmware.cli import output
from glance_store_vmware.image_copy import discovery
from glance_store_vmware.vsphere import errors
from glance_store_vmware.vsphere import files as files_mod
from glance_store_vmware.vsphere import inventory
from glance_store_vmware.vsphere import paths

UUID = '6f7a0c3e-2b7c-4d2a-9a64-0d1c1e2b3a4f'
OTHER = '0b5d2f61-33a4-4d7e-8f7e-1c2d3e4f5a6b'
NOW = datetime.datetime(2026, 12, 2, 12, 0, tzinfo=datetime.timezone.utc)

GLANCE_CONF = """
[glance_store]
stores = vsphere
vmware_server_host = VCenter.Example.org
vmware_server_username = glance
vmware_server_password = secret
vmware_datastores = DC1:ds1:100
vmware_datastores = DC1:pod1:50
"""

MULTI_CONF = """
[DEFAULT]
enabled_backends = fast:vsphere, local:file
[fast]
vmware_server_host = vc
vmware_server_username = glance
vmware_server_password = secret
vmware_datastores = DC1:ds1
"""

NOVA_CONF = """
[vmware]
host_ip = vc
host_username = nova
host_password = secret
cluster_name = C1
[vsphere_image_handler]
image_datastores = DC1:ds1
location_host_aliases = 10.0.0.5, vc.example.org:8443
"""

CINDER_CONF = """
[DEFAULT]
enabled_backends = images, plain, lvm
[backend_defaults]
vmware_host_username = cinder
vmware_host_password = secret
vsphere_image_dir = /glance/images
[images]
volume_driver = glance_store_vmware.cinder.driver.VSphereImagesVmdkDriver
vmware_host_ip = VC.example.org
vmware_host_port = 8443
vmware_cluster_name = C1
vmware_cluster_name = C2
vsphere_image_datastores = DC1:ds1
vsphere_image_location_host_aliases = 10.0.0.5
[plain]
volume_driver = cinder.volume.drivers.vmware.vmdk.VMwareVcVmdkDriver
vmware_host_ip = vc
[lvm]
volume_driver = cinder.volume.drivers.lvm.LVMVolumeDriver
"""


def conf_of(tmp_path, text, register=None):
    path = tmp_path / 'service.conf'
    path.write_text(text)
    conf = main.service_conf([str(path)])
    if register:
        register(conf)
    return conf


def run(argv, tmp_path=None, text=GLANCE_CONF):
    if tmp_path is not None:
        path = tmp_path / 'service.conf'
        path.write_text(text)
        argv = [*argv, '--config-file', str(path)]
    out, err = io.StringIO(), io.StringIO()
    status = main.main(argv, stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


# Output --------------------------------------------------------------------

def test_table_wraps_long_cells_and_keeps_columns_aligned():
    text = output.table(['a', 'b'], [['x' * 70, 'y'], ['1\n2', None]],
                        max_width=60)
    lines = text.splitlines()
    assert len({len(line) for line in lines}) == 1
    assert lines[0] == lines[2] == lines[-1]
    assert lines[3].startswith('| ' + 'x' * 60 + ' | y')
    assert lines[4].startswith('| ' + 'x' * 10 + ' ')
    assert output.table(['only'], []).count('\n') == 2


def test_report_renders_json_rows_and_summary_and_table_summary():
    report = output.Report('findings', ('status', 'check_name'))
    report.add(status='OK', check_name='login', ignored='x')
    report.summary = {'problems': 0}
    assert json.loads(report.render('json')) == {
        'findings': [{'status': 'OK', 'check_name': 'login'}],
        'problems': 0}
    table = report.render('table')
    assert '| status | check name |' in table
    assert table.endswith('problems: 0')
    report.summary = {'freed_bytes': 3 * units.Mi, 'problems': ['a', 'b'],
                      'notes': []}
    assert report.render('table').endswith(
        'freed bytes: 3145728 (3.0 MiB)\nproblems:\n  - a\n  - b\n'
        'notes: none')


def test_progress_goes_to_its_stream_unless_quiet():
    stream = io.StringIO()
    output.Progress(stream)('step %d', 1)
    output.Progress(stream, enabled=False)('hidden')
    assert stream.getvalue() == '... step 1\n'


@pytest.mark.parametrize('size, text', [
    (None, ''), (0, '0 B'), (1023, '1023 B'), (1536, '1.5 KiB'),
    (5 * units.Gi, '5.0 GiB')])
def test_size_text(size, text):
    assert output.size_text(size) == text


# Arguments and exit status ---------------------------------------------

def test_usage_errors_exit_2(tmp_path):
    assert run([])[0] == 2
    assert run(['nosuch'])[0] == 2
    assert run(['check', '--format', 'xml'])[0] == 2
    status, _out, err = run(['check'])
    assert (status, err) == (2, 'glance-store-vmware check: --config-file '
                                'is required\n')
    assert run(['check', '--config-file', str(tmp_path / 'missing')])[0] == 2
    assert run(['orphans', '--older-than', 'soon'], tmp_path)[0] == 2


def test_a_file_without_a_vsphere_store_exits_2(tmp_path):
    status, out, err = run(['check'], tmp_path,
                           '[glance_store]\nstores = file\n')
    assert (status, out) == (2, '')
    assert 'enables no vsphere store' in err
    status, _out, err = run(['check'], tmp_path, '[DEFAULT]\ndebug = 1\n')
    assert status == 2
    assert 'neither a Glance store' in err


def test_config_file_before_the_command_is_read_too(tmp_path):
    path = tmp_path / 'glance-api.conf'
    path.write_text(GLANCE_CONF)
    seen = {}

    def fake_run(conf, args, progress):
        seen['host'] = deployment.load(conf)[0].host
        seen['format'] = args.format
        report = output.Report('findings', ('status',))
        return report, output.FINDINGS

    with mock.patch.object(check, 'run', fake_run):
        out = io.StringIO()
        status = main.main(['--config-file', str(path), 'check', '-f',
                            'json', '-q'], stdout=out, stderr=io.StringIO())
    assert status == 1
    assert seen == {'host': 'vcenter.example.org', 'format': 'json'}
    assert json.loads(out.getvalue()) == {'findings': []}


# Reading configuration files ------------------------------------------------

def test_single_store_site(tmp_path):
    [site] = deployment.load(conf_of(tmp_path, GLANCE_CONF))
    assert (site.service, site.backend, site.label) == (
        deployment.GLANCE, None, 'vsphere store')
    assert site.host == 'vcenter.example.org'
    assert [t.entry for t in site.targets] == ['DC1:ds1:100', 'DC1:pod1:50']
    assert site.image_dir == 'openstack_glance'
    assert (site.reserve_mb, site.partial_max_age) == (1024, 3600)
    assert site.option('datastores') == '[glance_store] vmware_datastores'
    assert site.problems == []


def test_multi_store_sites_and_backend_choice(tmp_path):
    conf = conf_of(tmp_path, MULTI_CONF)
    [site] = deployment.load(conf)
    assert (site.backend, site.label) == ('fast', "vsphere store 'fast'")
    assert site.option('host') == '[fast] vmware_server_host'
    assert deployment.load(conf, backend='fast') == [site]
    with pytest.raises(LookupError, match="no vsphere backend 'local'"):
        deployment.load(conf, backend='local')


def test_every_mistake_is_kept_naming_its_option(tmp_path):
    text = GLANCE_CONF.replace('vmware_server_username = glance\n', '')
    text += ('vmware_datastores = bad\nvmware_store_image_dir = a/../b\n'
             'vmware_server_port = https\n')
    [site] = deployment.load(conf_of(tmp_path, text))
    assert [option for _message, option in site.problems] == [
        '[glance_store] vmware_server_username',
        '[glance_store] vmware_server_port',
        '[glance_store] vmware_datastores',
        '[glance_store] vmware_store_image_dir']
    # The good entries are kept.
    assert [t.entry for t in site.targets] == ['DC1:ds1:100', 'DC1:pod1:50']


def test_nova_site(tmp_path):
    [site] = deployment.load(conf_of(tmp_path, NOVA_CONF))
    assert (site.service, site.clusters, site.any_datastore) == (
        deployment.NOVA, ('C1',), False)
    assert site.aliases == (('10.0.0.5', 443), ('vc.example.org', 8443))
    assert site.require_image_id_name
    assert site.api_timeout == 30
    assert site.option('datastores') == (
        '[vsphere_image_handler] image_datastores')
    assert site.glance_group == 'vsphere_image_handler'


def test_cinder_sites_fall_back_to_backend_defaults_as_cinder_does(
        tmp_path):
    [site, plain] = deployment.load(conf_of(tmp_path, CINDER_CONF))
    assert (site.service, site.backend, site.label) == (
        deployment.CINDER, 'images', "cinder backend 'images'")
    assert (site.host, site.port, site.username, site.password) == (
        'vc.example.org', 8443, 'cinder', 'secret')
    assert site.clusters == ('C1', 'C2')
    assert [t.entry for t in site.targets] == ['DC1:ds1']
    assert site.image_dir == 'glance/images'
    assert site.aliases == (('10.0.0.5', 8443),)
    # Cinder's own defaults where neither section sets a value.
    assert (site.poll_interval, site.api_timeout, site.insecure) == (
        2.0, 30, False)
    assert site.require_image_id_name and site.use_locations_api
    assert site.glance_group == 'vsphere_image_locations'
    # Each finding names the section whose value Cinder uses.
    assert site.option('host') == '[images] vmware_host_ip'
    assert site.option('username') == '[backend_defaults] vmware_host_username'
    assert site.option('image_dir') == '[backend_defaults] vsphere_image_dir'
    assert site.option('ca_file') == '[images] vmware_ca_file'
    assert site.problems == []
    assert plain.backend == 'plain'
    assert "Cinder's own VMwareVcVmdkDriver" in plain.skipped


def test_a_cinder_backend_value_overrides_backend_defaults(tmp_path):
    text = CINDER_CONF.replace('vmware_host_port = 8443',
                               'vmware_host_username = other\n'
                               'vsphere_image_datastores = DC1:ds2:1O')
    [site, _plain] = deployment.load(conf_of(tmp_path, text))
    assert (site.username, site.port) == ('other', 443)
    assert site.option('username') == '[images] vmware_host_username'
    assert [option for _message, option in site.problems] == [
        '[images] vsphere_image_datastores']


def test_cinder_backend_choice_and_files_without_our_driver(tmp_path):
    conf = conf_of(tmp_path, CINDER_CONF)
    [site] = deployment.load(conf, backend='images')
    assert site.backend == 'images'
    with pytest.raises(LookupError, match="backend 'plain': volume_driver "
                       "is Cinder's own VMwareVcVmdkDriver"):
        deployment.load(conf, backend='plain')
    with pytest.raises(LookupError, match="no vsphere backend 'lvm'"):
        deployment.load(conf, backend='lvm')
    text = CINDER_CONF.replace('enabled_backends = images, plain, lvm',
                               'enabled_backends = plain, lvm')
    with pytest.raises(LookupError, match='no backend of enabled_backends '
                       'runs volume_driver = glance_store_vmware.cinder'
                       '.driver.VSphereImagesVmdkDriver .plain: cinder'):
        deployment.load(conf_of(tmp_path, text))


def test_store_host_aliases_are_used_once_the_option_exists(tmp_path):
    # The store's alias option comes with other work; once registered it
    # flows into the policy the subcommands check locations with.
    def register(conf):
        conf.register_opt(cfg.ListOpt(deployment.HOST_ALIASES),
                          group='glance_store')
    text = GLANCE_CONF + 'vmware_server_host_aliases = 10.0.0.5\n'
    [site] = deployment.load(conf_of(tmp_path, text, register))
    assert site.aliases == (('10.0.0.5', 443),)
    policy = site.policy(lambda: {('DC1', 'ds1')})
    for host in ('10.0.0.5', 'vcenter.example.org'):
        loc = location.ImageLocation(host, 443, paths.DatastoreFile(
            'DC1', 'ds1', 'openstack_glance/' + UUID))
        assert policy.check(loc) == loc.file
    with pytest.raises(location.InvalidLocation,
                       match='nor its alias 10.0.0.5:443'):
        policy.check(location.ImageLocation('10.0.0.6', 443, loc.file))


# check ---------------------------------------------------------------------

class FakeConnection:
    """The vSphere layer as ``check`` sees it."""

    def __init__(self, site, states, listing=None):
        self.site = site
        self.inventory = mock.Mock()
        self.inventory.resolve.side_effect = lambda dc, name: {
            s.name: s.ref for s in states}
        self.inventory.states.return_value = states
        self.files = mock.Mock()
        self.files.list_directory.return_value = listing or []
        self.files.server_time.return_value = NOW
        self.http = mock.Mock()
        self.http.size.return_value = None
        self.close = mock.Mock()

    def targets(self):
        return types.SimpleNamespace(usable=lambda: [],
                                     allowed=lambda: {('DC1', 'ds1')})


def state(name='ds1', free=10 * units.Gi, accessible=True,
          mode='normal'):
    return inventory.DatastoreState('DC1', name, 'ref-' + name, free,
                                    100 * units.Gi, accessible, mode)


def check_site(tmp_path, setup=None, text=GLANCE_CONF, states=None):
    """``check`` of the file's first site and first datastore entry, on a
    FakeConnection that ``setup(conn)`` may change: ``(rows, conn)``."""
    conf = conf_of(tmp_path, text)
    [site] = deployment.load(conf)
    site.targets = site.targets[:1]
    report = output.Report('findings', check.COLUMNS)
    made = []

    def connect(site):
        made.append(FakeConnection(site, states or [state()]))
        if setup:
            setup(made[-1])
        return made[-1]
    with mock.patch.object(deployment, 'Connection', side_effect=connect):
        check.SiteCheck(site, report, output.Progress(enabled=False)).run()
    return report.rows, made[0] if made else None


def problems(rows):
    return [(r['status'], r['check'], r['option']) for r in rows
            if r['status'] in ('WARN', 'FAIL')]


def test_check_passes_and_probes_write_rename_delete(tmp_path):
    rows, conn = check_site(tmp_path)
    assert problems(rows) == []
    assert [r['check'] for r in rows] == [
        'configuration', 'login', 'datastore state', 'free space',
        'write probe']
    [put] = conn.http.put.call_args_list
    first = put.args[0]
    assert first.name.startswith(check.PROBE_PREFIX)
    assert first.dirname == 'openstack_glance'
    second = conn.files.move.call_args.args[1]
    assert conn.files.move.call_args.args[0] == first
    conn.files.delete.assert_called_once_with(second)
    assert not conn.files.make_directory.called


@pytest.mark.parametrize('ds_state, check_name, option', [
    (state(accessible=False), 'datastore state',
     '[glance_store] vmware_datastores'),
    (state(mode='inMaintenance'), 'datastore state',
     '[glance_store] vmware_datastores'),
    (state(free=512 * units.Mi), 'free space',
     '[glance_store] vmware_free_space_reserve_mb, '
     '[glance_store] vmware_datastores'),
])
def test_check_datastore_state_findings(tmp_path, ds_state, check_name,
                                        option):
    rows, _conn = check_site(tmp_path, states=[ds_state])
    assert problems(rows) == [('FAIL', check_name, option)]


def test_a_failed_rename_is_named_and_cleaned_up(tmp_path):
    def setup(conn):
        conn.files.move.side_effect = errors.VSphereError('no permission')
    rows, conn = check_site(tmp_path, setup)
    assert problems(rows) == [('FAIL', 'write probe',
                               '[glance_store] vmware_server_username')]
    assert 'rename failed: no permission' in rows[-1]['detail']
    cleaned = [c.args[0].name
               for c in conn.files.delete_quietly.call_args_list]
    first = conn.http.put.call_args.args[0]
    assert cleaned == [first.name, first.name + '.renamed']


def test_a_probe_file_left_behind_is_a_finding(tmp_path):
    def setup(conn):
        conn.files.list_directory.side_effect = lambda d: [
            files_mod.DirectoryEntry(
                conn.http.put.call_args.args[0].name, 10, NOW)] \
            if conn.http.put.called else []
    rows, _conn = check_site(tmp_path, setup)
    assert ('FAIL', 'write probe', '[glance_store] vmware_server_username') \
        in problems(rows)
    assert 'could not remove' in rows[-1]['detail']


def test_an_absent_image_directory_is_created_and_removed(tmp_path):
    def setup(conn):
        conn.files.list_directory.side_effect = errors.NotFound('no dir')
    rows, conn = check_site(tmp_path, setup)
    assert problems(rows) == []
    dsdir = conn.files.make_directory.call_args.args[0]
    assert dsdir.path == 'openstack_glance'
    assert mock.call(dsdir) in conn.files.delete_quietly.call_args_list
    assert 'absent: created for the probe' in rows[-1]['detail']


@pytest.mark.parametrize('error, option', [
    (errors.NotAuthenticated('refused'),
     '[glance_store] vmware_server_username, '
     '[glance_store] vmware_server_password'),
    (errors.ConfigurationError('TLS'),
     '[glance_store] vmware_ca_file, [glance_store] vmware_insecure'),
    (errors.Unreachable('down'),
     '[glance_store] vmware_server_host, [glance_store] vmware_server_port'),
])
def test_login_findings_name_the_options(tmp_path, error, option):
    def setup(conn):
        conn.files.server_time.side_effect = error
    rows, _conn = check_site(tmp_path, setup)
    assert problems(rows) == [('FAIL', 'login', option)]


def test_a_missing_ca_file_stops_before_vcenter(tmp_path):
    rows, conn = check_site(tmp_path, text=GLANCE_CONF +
                            'vmware_ca_file = /nonexistent.pem\n')
    assert problems(rows) == [('FAIL', 'TLS', '[glance_store] '
                               'vmware_ca_file')]
    assert conn is None


def test_nova_cluster_datastores_filtered_by_regex(tmp_path):
    def setup(conn):
        conn.inventory.cluster_datastores.return_value = {
            'ds1': 'ref-ds1', 'local-ds': 'ref-2'}
        conn.inventory.states.side_effect = lambda cands: [
            state(name) for _dc, name, _ref in cands]
    text = NOVA_CONF.replace('cluster_name = C1',
                             'cluster_name = C1\ndatastore_regex = ds.*')
    rows, _conn = check_site(tmp_path, setup, text)
    assert problems(rows) == []
    cluster = [r for r in rows if r['check'] == 'cluster']
    assert cluster[0]['detail'] == 'found; Nova places VMs on ds1'


def test_cinder_check_each_cluster_and_the_readable_image_directory(
        tmp_path):
    def setup(conn):
        conn.inventory.cluster_datastores.side_effect = lambda name: {
            'C1': {'ds1': 'ref-ds1'}}.get(name) or (_ for _ in ()).throw(
                errors.NotFound('vCenter vc has no cluster %r' % name))
        conn.inventory.states.side_effect = lambda cands: [
            state(name) for _dc, name, _ref in cands]
    text = CINDER_CONF.replace('enabled_backends = images, plain, lvm',
                               'enabled_backends = images')
    rows, conn = check_site(tmp_path, setup, text)
    assert [(r['subject'], r['check'], r['status']) for r in rows] == [
        ("cinder backend 'images'", 'configuration', 'OK'),
        ("cinder backend 'images': vCenter vc.example.org:8443", 'login',
         'OK'),
        ("cinder backend 'images': DC1:ds1", 'datastore state', 'OK'),
        ("cinder backend 'images': DC1:ds1", 'image directory', 'OK'),
        ("cinder backend 'images': cluster C1", 'cluster', 'OK'),
        ("cinder backend 'images': cluster C1: ds1", 'datastore state',
         'OK'),
        ("cinder backend 'images': cluster C2", 'cluster', 'FAIL')]
    assert rows[4]['detail'] == 'found; Cinder places volumes on ds1'
    assert rows[-1]['option'] == '[images] vmware_cluster_name'
    # Nothing is written for Cinder: the image directory is only listed.
    assert not conn.http.put.called and not conn.files.make_directory.called
    assert conn.files.list_directory.call_args.args[0].path == \
        'glance/images'


def test_cinder_check_says_which_backends_are_skipped(tmp_path):
    with mock.patch.object(check.SiteCheck, '_log_in',
                           side_effect=check._Stop):
        status, out, err = run(['check', '--format', 'json'], tmp_path,
                               CINDER_CONF)
    assert status == 0, err
    rows = json.loads(out)['findings']
    skipped = [r for r in rows if r['check'] == 'skipped']
    assert [(r['status'], r['subject'], r['option']) for r in skipped] == [
        ('INFO', "cinder backend 'plain'", '[plain] volume_driver')]
    # The locations API is not configured: where Cinder's locations come
    # from instead.
    [glance] = [r for r in rows if r['subject'].startswith('Glance API')]
    assert glance['option'] == '[vsphere_image_locations] auth_type'
    assert "Cinder's image service" in glance['detail']


@pytest.mark.parametrize('text, option', [
    (NOVA_CONF.replace('cluster_name = C1', 'datastore_regex = ds['),
     '[vmware] datastore_regex'),
    (CINDER_CONF.replace('vmware_cluster_name = C1\n',
                         'vmware_datastore_regex = (ds\n'),
     '[images] vmware_datastore_regex'),
])
def test_a_bad_datastore_regex_is_a_configuration_finding(tmp_path, text,
                                                          option):
    # The service refuses it at start, whether or not a cluster is set.
    rows, _conn = check_site(tmp_path, text=text.replace(
        'enabled_backends = images, plain, lvm', 'enabled_backends = images'))
    assert problems(rows) == [('FAIL', 'configuration', option)]
    assert 'invalid regular expression' in rows[0]['detail']


@pytest.mark.parametrize('command', ['orphans', 'locations'])
def test_orphans_and_locations_refuse_a_cinder_conf(tmp_path, command):
    status, _out, err = run([command], tmp_path, CINDER_CONF)
    assert status == 2
    assert 'reads a glance-api.conf' in err


# Glance's API ------------------------------------------------------------

class FakeResponse:
    def __init__(self, status, body):
        self.status_code = status
        self._body = body

    def json(self):
        return self._body


class FakeAdapter:
    """Pages of images keyed by the path asked for."""

    def __init__(self, pages, locations=None):
        self.pages = pages
        self.locations = locations or {}
        self.paths = []

    def get(self, path, raise_exc=False):
        self.paths.append(path)
        if path.endswith('/locations'):
            image_id = path.split('/')[3]
            if image_id not in self.locations:
                return FakeResponse(403, {})
            return FakeResponse(200, self.locations[image_id])
        for prefix, body in self.pages.items():
            if path.startswith(prefix):
                return FakeResponse(200, body)
        return FakeResponse(404, {})


def test_images_pages_through_hidden_and_visible_images():
    adapter = FakeAdapter({
        '/v2/images?limit=200&visibility=all&os_hidden=false': {
            'images': [{'id': 'a'}], 'next': '/v2/images?marker=a&h=f'},
        '/v2/images?marker=a&h=f': {'images': [{'id': 'b'}]},
        '/v2/images?limit=200&visibility=all&os_hidden=true': {
            'images': [{'id': 'c'}, {'id': 'a'}]},
    })
    images = glance_api.GlanceImages(adapter).images()
    assert [i['id'] for i in images] == ['a', 'b', 'c']


def test_locations_fall_back_to_the_record_and_say_when_incomplete():
    client = glance_api.GlanceImages(FakeAdapter({}, {
        'a': [{'url': 'vsphere://x', 'metadata': {'store': 'fast'}}]}))
    assert client.locations({'id': 'a'}).locations == [
        {'url': 'vsphere://x', 'metadata': {'store': 'fast'}}]
    multiple = client.locations({'id': 'b', 'locations': [
        {'url': 'u1', 'metadata': {}}, {'url': 'u2', 'metadata': {}}]})
    assert (len(multiple.locations), multiple.complete) == (2, True)
    direct = client.locations({'id': 'c', 'direct_url': 'u3'})
    assert (direct.locations, direct.complete) == (
        [{'url': 'u3', 'metadata': {}}], False)
    assert 'HTTP 403' in direct.problem


def test_the_locations_api_gives_whole_entries():
    api = discovery.GlanceLocationsAPI(FakeAdapter({}, {'a': {
        'locations': [{'url': 'u', 'metadata': {'store': 's'}}, {}]}}))
    assert api.entries('a') == [{'url': 'u', 'metadata': {'store': 's'}}]
    assert api.locations('a') == ['u']


# orphans -----------------------------------------------------------------

@pytest.mark.parametrize('text, seconds', [
    ('90', 90), ('90s', 90), ('5m', 300), ('2h', 7200), ('1d', 86400),
    (' 3H ', 10800)])
def test_parse_age(text, seconds):
    assert commands.parse_age(text) == seconds


@pytest.mark.parametrize('text', ['', 'soon', '-5', '1.5h', '2w'])
def test_parse_age_refuses(text):
    with pytest.raises(ValueError):
        commands.parse_age(text)


def test_only_uuid_names_are_image_files():
    assert orphans.is_image_id(UUID)
    for name in ('README', UUID.upper(), UUID + '.vmdk', '.' + UUID):
        assert not orphans.is_image_id(name)


class FakeImages:
    def __init__(self, images, roles=('admin', 'service')):
        self._images = images
        self._roles = set(roles)

    def roles(self):
        return self._roles

    def images(self, limit=None):
        return iter(self._images)

    def locations(self, image):
        return image['found']


def candidate(name, dc='DC1', ds='ds1'):
    return orphans.Candidate(orphans.UNREFERENCED, paths.DatastoreFile(
        dc, ds, 'openstack_glance/' + name), 10, 7200.0, None)


def located(image_id, *urls, complete=True):
    return {'id': image_id, 'found': glance_api.ImageLocations(
        {'id': image_id}, [{'url': u} for u in urls], complete,
        None if complete else 'HTTP 403')}


def file_url(name, host='vc', ds='ds1'):
    return location.ImageLocation(host, 443, paths.DatastoreFile(
        'DC1', ds, 'openstack_glance/' + name)).url


def unreferenced(images, files, roles=('admin', 'service')):
    problems = []
    with mock.patch.object(glance_api, 'from_conf',
                           return_value=FakeImages(images, roles)):
        left = orphans._unreferenced(None, files, problems,
                                     output.Progress(enabled=False))
    return [c.file.name for c in left], problems


def test_a_file_named_by_any_location_is_referenced_whatever_the_host():
    files = [candidate(UUID), candidate(OTHER), candidate(OTHER, ds='ds2')]
    left, problems = unreferenced(
        [located('i1', file_url(UUID, host='10.0.0.5')),
         located('i2', 'http://elsewhere/x', file_url(OTHER, ds='ds2'))],
        files)
    assert (left, problems) == ([OTHER], [])


def test_incomplete_locations_reference_every_file():
    left, problems = unreferenced(
        [located('i1', file_url(UUID)), located('i2', complete=False)],
        [candidate(OTHER)])
    assert left == []
    assert 'none is called unreferenced' in problems[0]


def test_no_admin_role_is_a_usage_error():
    with pytest.raises(output.UsageError, match='admin role'):
        unreferenced([], [candidate(UUID)], roles=('service',))


def test_glance_failing_midway_references_every_file():
    def images(limit=None):
        yield located('i1')
        raise glance_api.GlanceError('GET /v2/images answered HTTP 500')
    client = FakeImages([])
    client.images = images
    problems = []
    with mock.patch.object(glance_api, 'from_conf', return_value=client):
        left = orphans._unreferenced(None, [candidate(UUID)], problems,
                                     output.Progress(enabled=False))
    assert left == []
    assert 'HTTP 500' in problems[0]


# locations ---------------------------------------------------------------

def test_locations_pick_the_backend_named_in_their_metadata(tmp_path):
    sites = deployment.load(conf_of(tmp_path, MULTI_CONF))
    checker = locations.Checker(sites, output.Progress(enabled=False))
    assert checker._site('fast') is sites[0]
    assert checker._site(None) is sites[0]      # the only vsphere backend
    finding, detail, backend, _file = checker._check(
        UUID, file_url(UUID, host='vc'), 'local')
    assert (finding, backend) == (locations.REFUSED, 'local')
    assert "no vsphere backend 'local'" in detail
    finding, detail, _backend, _file = checker._check(
        UUID, 'vsphere://vc/elsewhere', 'fast')
    assert finding == locations.REFUSED
    assert 'must start with /folder/' in detail


def test_locations_report_shared_and_misnamed_files(tmp_path):
    sites = deployment.load(conf_of(tmp_path, GLANCE_CONF))
    conn = FakeConnection(sites[0], [state()])
    conn.http.size.return_value = 10
    client = FakeImages([
        located(UUID, file_url(UUID, host='vcenter.example.org')),
        located(OTHER, file_url(UUID, host='vcenter.example.org'))])
    with mock.patch.object(deployment, 'Connection', return_value=conn):
        checker = locations.Checker(sites, output.Progress(enabled=False))
        report, summary = checker.run(client)
    assert sorted((r['image'], r['finding']) for r in report.rows) == sorted(
        [(UUID, locations.SHARED), (OTHER, locations.SHARED),
         (OTHER, locations.MISNAMED)])
    assert summary['shared_files'] == 2
    assert summary['misnamed'] == 1


# usage without the vSphere stack ------------------------------------------

HEAVY = ('oslo_vmware', 'suds', 'eventlet', 'nova', 'cinder', 'glance_store',
         'glance_store_vmware.vsphere', 'glance_store_vmware.image_copy')


@pytest.mark.parametrize('argv, status', [
    (['--help'], 0), (['check', '--help'], 0), (['nosuch'], 2),
    (['orphans', '--older-than', '2w', '--config-file', 'x'], 2),
    (['check'], 2)])
def test_usage_answers_without_the_vsphere_stack(argv, status):
    code = ('import sys\n'
            'from glance_store_vmware.cli import main\n'
            'rc = main.main(%r)\n'
            'heavy = sorted(m for m in sys.modules if m.split(".")[0] in %r'
            ' or m.startswith(%r))\n'
            'print(rc, heavy)\n' % (argv, HEAVY[:6], HEAVY[6:]))
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, timeout=60)
    assert proc.stdout.splitlines()[-1] == '%d []' % status, proc.stderr
