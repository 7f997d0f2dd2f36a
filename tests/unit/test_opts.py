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

"""Options: coexistence with glance_store's in-tree VMware driver."""

import glance_store
from glance_store._drivers import vmware_datastore
from oslo_config import cfg
import pytest

from glance_store_vmware import opts

LEGACY_NAMES = [
    'vmware_server_host',
    'vmware_server_username',
    'vmware_server_password',
    'vmware_api_retry_count',
    'vmware_task_poll_interval',
    'vmware_store_image_dir',
    'vmware_insecure',
    'vmware_ca_file',
    'vmware_datastores',
]
NEW_NAMES = [
    'vmware_server_port',
    'vmware_server_host_aliases',
    'vmware_free_space_reserve_mb',
    'vmware_http_timeout',
    'vmware_api_timeout',
    'vmware_http_pool_size',
    'vmware_datastore_recheck_interval',
    'vmware_partial_file_max_age',
    'vmware_partial_file_sweep_interval',
]


def _describe(opt):
    return {
        'type': type(opt),
        'default': opt.default,
        'sample_default': opt.sample_default,
        'secret': opt.secret,
        'multi': opt.multi,
        'deprecated': sorted((d.group, d.name) for d in opt.deprecated_opts),
        'min': getattr(opt.type, 'min', None),
        'max': getattr(opt.type, 'max', None),
    }


def test_registers_after_glance_store_without_duplicate_errors():
    conf = cfg.ConfigOpts()
    glance_store.register_opts(conf)
    assert 'vmware_datastores' in conf.glance_store   # the in-tree options
    conf.register_opts(opts.STORE_OPTS, group='glance_store')
    conf([], project='test')
    assert conf.glance_store.vmware_store_image_dir == '/openstack_glance'
    assert conf.glance_store.vmware_server_port == 443


def test_registers_in_a_multi_backend_group_next_to_the_in_tree_driver():
    conf = cfg.ConfigOpts()
    conf.register_opts(vmware_datastore._VMWARE_OPTS, group='fast')
    conf.register_opts(opts.STORE_OPTS, group='fast')
    conf([], project='test')
    assert conf.fast.vmware_free_space_reserve_mb == 1024


def test_legacy_options_are_the_in_tree_option_objects():
    # oslo.config accepts a second registration only if it is identical.
    assert opts.LEGACY_OPTS == list(vmware_datastore._VMWARE_OPTS)


def test_new_options_do_not_reuse_in_tree_names():
    in_tree = {o.name for o in vmware_datastore._VMWARE_OPTS}
    assert not in_tree & {o.name for o in opts.NEW_OPTS}


def test_list_opts_lists_every_option_of_glance_store_group():
    groups = dict(opts.list_opts())
    assert list(groups) == ['glance_store', opts.GLANCE_API_GROUP]
    listed = groups['glance_store']
    assert [o.name for o in listed] == LEGACY_NAMES + NEW_NAMES
    for opt in listed:
        assert opt.help and opt.help.strip(), opt.name


def test_list_opts_lists_the_commands_glance_credentials():
    names = [o.dest for o in dict(opts.list_opts())[opts.GLANCE_API_GROUP]]
    for name in ('auth_type', 'auth_url', 'username', 'password',
                 'project_name', 'timeout', 'endpoint_override'):
        assert name in names


def test_list_opts_returns_a_fresh_list():
    opts.list_opts()[0][1].clear()
    assert len(opts.list_opts()[0][1]) == len(LEGACY_NAMES + NEW_NAMES)


def test_own_legacy_opts_match_the_in_tree_options():
    own = opts._own_legacy_opts()
    in_tree = vmware_datastore._VMWARE_OPTS
    assert [o.name for o in own] == [o.name for o in in_tree]
    for mine, theirs in zip(own, in_tree, strict=True):
        assert _describe(mine) == _describe(theirs), mine.name
        assert mine.help.strip(), mine.name


def test_own_legacy_opts_register_with_the_new_options():
    conf = cfg.ConfigOpts()
    conf.register_opts(opts._own_legacy_opts() + opts.NEW_OPTS,
                       group='glance_store')
    conf(['--config-file', '/dev/null'], project='test')
    assert conf.glance_store.vmware_api_retry_count == 10
    assert conf.glance_store.vmware_insecure is False


def test_deprecated_insecure_name_still_works(tmp_path):
    conf_file = tmp_path / 'glance-api.conf'
    conf_file.write_text('[glance_store]\nvmware_api_insecure = true\n')
    conf = cfg.ConfigOpts()
    conf.register_opts(opts.STORE_OPTS, group='glance_store')
    conf(['--config-file', str(conf_file)], project='test')
    assert conf.glance_store.vmware_insecure is True


@pytest.mark.parametrize('name, value', [
    ('vmware_server_port', 0),
    ('vmware_server_port', 65536),
    ('vmware_free_space_reserve_mb', -1),
    ('vmware_http_timeout', 0),
    ('vmware_http_pool_size', 0),
    ('vmware_datastore_recheck_interval', 0),
    ('vmware_partial_file_max_age', 0),
    ('vmware_partial_file_sweep_interval', -1),
])
def test_new_options_refuse_out_of_range_values(name, value):
    conf = cfg.ConfigOpts()
    conf.register_opts(opts.STORE_OPTS, group='glance_store')
    with pytest.raises(ValueError):
        conf.set_override(name, value, group='glance_store')


@pytest.mark.parametrize('values, expected', [
    (['DC1:ds1:100'], [('DC1', 'ds1', 100)]),
    (['DC1:ds1:100,DC1:ds2:50'], [('DC1', 'ds1', 100), ('DC1', 'ds2', 50)]),
    (['DC1:ds1, DC2:ds2'], [('DC1', 'ds1', 0), ('DC2', 'ds2', 0)]),
    (['DC1:ds1', 'DC1:ds2:5'], [('DC1', 'ds1', 0), ('DC1', 'ds2', 5)]),
    ([], []),
])
def test_datastore_entries_as_operators_write_them(values, expected):
    assert opts.parse_datastore_entries(values) == expected


@pytest.mark.parametrize('values, culprit', [
    (['DC1:ds1,'], "'DC1:ds1,'"),
    (['DC1:ds1:1x'], "'DC1:ds1:1x'"),
    (['DC1:ds1,nonsense'], "'nonsense'"),
])
def test_bad_datastore_entries_name_option_and_entry(values, culprit):
    with pytest.raises(ValueError) as info:
        opts.parse_datastore_entries(values, 'image_datastores')
    assert 'image_datastores' in str(info.value)
    assert culprit in str(info.value)
