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

"""Parsing vsphere:// locations and deciding which ones may be used.

Locations are user input: Glance lets users add them to images.  Every
location that could make the store read or delete something that is not
one of its own images must be refused.
"""

import re

import pytest

from glance_store_vmware import location
from glance_store_vmware.vsphere import paths

ImageLocation = location.ImageLocation
InvalidLocation = location.InvalidLocation

UUID = '6f7a0c3e-2b7c-4d2a-9a64-0d1c1e2b3a4f'
QUERY = 'dcPath=dc1&dsName=ds1'


def url(path='openstack_glance/' + UUID, netloc='10.0.0.1', query=QUERY):
    return 'vsphere://%s/folder/%s?%s' % (netloc, path, query)


# Parsing -----------------------------------------------------------------

@pytest.mark.parametrize('query', ['dcPath=dc1&dsName=ds1',
                                   'dsName=ds1&dcPath=dc1'])
def test_parses_in_tree_driver_urls_in_either_query_order(query):
    loc = ImageLocation.parse(url(query=query))
    assert loc.host == '10.0.0.1'
    assert loc.port == 443
    assert loc.file == paths.DatastoreFile('dc1', 'ds1',
                                           'openstack_glance/' + UUID)


def test_parses_in_tree_url_with_encoded_datacenter_folder():
    # The in-tree driver urlencodes dcPath, so folders appear as %2F.
    loc = ImageLocation.parse(url(query='dcPath=f1%2Fdc1&dsName=my+ds'))
    assert loc.file.datacenter == 'f1/dc1'
    assert loc.file.datastore == 'my ds'


def test_parses_explicit_port():
    loc = ImageLocation.parse(url(netloc='vc.example.com:8443'))
    assert (loc.host, loc.port) == ('vc.example.com', 8443)


def test_host_name_is_lower_cased():
    assert ImageLocation.parse(url(netloc='VC.Example.COM')).host == \
        'vc.example.com'


def test_parses_ipv6_host_with_port():
    loc = ImageLocation.parse(url(netloc='[fe80::1]:8443'))
    assert (loc.host, loc.port) == ('fe80::1', 8443)


def test_ipv6_host_is_normalised():
    loc = ImageLocation.parse(url(netloc='[FE80:0:0::0001]'))
    assert loc.host == 'fe80::1'


def test_percent_encoded_file_names_are_decoded():
    loc = ImageLocation.parse(url(path='openstack_glance/a%20b%23c'))
    assert loc.file.name == 'a b#c'


@pytest.mark.parametrize('netloc', ['10.0.0.1', '10.0.0.1:8443',
                                    '[fe80::1]', '[fe80::1]:8443'])
def test_url_round_trips(netloc):
    original = url(netloc=netloc)
    loc = ImageLocation.parse(original)
    assert loc.url == original
    assert ImageLocation.parse(loc.url) == loc


def test_url_quotes_awkward_names_so_they_parse_back():
    loc = ImageLocation('10.0.0.1', 443, paths.DatastoreFile(
        'f 1/dc&1', 'ds=1', 'openstack_glance/a b#c?d%e'))
    assert '#' not in loc.url
    assert loc.url.count('?') == 1
    assert ImageLocation.parse(loc.url) == loc


def test_url_omits_default_port_only():
    f = paths.DatastoreFile('dc1', 'ds1', 'openstack_glance/x')
    assert ImageLocation('h', 443, f).url.startswith('vsphere://h/folder/')
    assert ImageLocation('h', 444, f).url.startswith(
        'vsphere://h:444/folder/')


@pytest.mark.parametrize('bad', [
    'https://10.0.0.1/folder/openstack_glance/x?' + QUERY,
    'vmware://10.0.0.1/folder/openstack_glance/x?' + QUERY,
    'file:///folder/openstack_glance/x?' + QUERY,
])
def test_refuses_other_schemes(bad):
    with pytest.raises(InvalidLocation, match='scheme'):
        ImageLocation.parse(bad)


@pytest.mark.parametrize('netloc', ['user@10.0.0.1', 'user:pw@10.0.0.1',
                                    '@10.0.0.1', '10.0.0.1\\@evil'])
def test_refuses_userinfo(netloc):
    with pytest.raises(InvalidLocation, match='credentials'):
        ImageLocation.parse(url(netloc=netloc))


def test_refuses_missing_host():
    with pytest.raises(InvalidLocation):
        ImageLocation.parse(url(netloc=''))


def test_refuses_fragment():
    with pytest.raises(InvalidLocation, match='fragment'):
        ImageLocation.parse(url() + '#frag')


@pytest.mark.parametrize('query', [
    'dsName=ds1',
    'dcPath=dc1',
    '',
    'dcPath=dc1&dsName=ds1&dsName=ds2',
    'dcPath=dc1&dcPath=dc2&dsName=ds1',
    'dcPath=dc1&dsName=ds1&extra=1',
    'dcPath=dc1&dsName=ds1&dcpath=dc2',
    'dcpath=dc1&dsname=ds1',
    'dcPath=dc1;dsName=ds1',
    'dcPath=dc1&dsName=ds1&',
    'dcPath=&dsName=ds1',
    'dcPath=dc1&dsName=',
    'dcPath=dc1&dsName=ds%5D1',
])
def test_refuses_anything_but_one_dcpath_and_one_dsname(query):
    with pytest.raises(InvalidLocation):
        ImageLocation.parse(url(query=query))


@pytest.mark.parametrize('bad', [
    'vsphere://10.0.0.1/openstack_glance/x?' + QUERY,
    'vsphere://10.0.0.1/folderx/openstack_glance/x?' + QUERY,
    'vsphere://10.0.0.1/Folder/openstack_glance/x?' + QUERY,
    'vsphere://10.0.0.1/x/folder/openstack_glance/x?' + QUERY,
    'vsphere://10.0.0.1/folder?' + QUERY,
    'vsphere://10.0.0.1?' + QUERY,
])
def test_refuses_paths_not_under_folder(bad):
    with pytest.raises(InvalidLocation):
        ImageLocation.parse(bad)


@pytest.mark.parametrize('path', [
    '../vm1/vm1.vmx',
    'openstack_glance/../vm1/vm1.vmx',
    'openstack_glance/%2e%2e/vm1/vm1.vmx',
    'openstack_glance/%2E%2e/vm1/vm1.vmx',
    'openstack_glance/.%2E/vm1/vm1.vmx',
    'openstack_glance%2f..%2fvm1%2fvm1.vmx',
    'openstack_glance%2F..%2Fvm1%2Fvm1.vmx',
    'openstack_glance/.',
    'openstack_glance/%2e',
    'openstack_glance/%5C..%5Cvm1',
    'openstack_glance/x%00.vmx',
    'openstack_glance//x',
    '',
])
def test_refuses_traversal_literal_and_percent_encoded(path):
    with pytest.raises(InvalidLocation):
        ImageLocation.parse(url(path=path))


@pytest.mark.parametrize('netloc', ['10.0.0.1:0', '10.0.0.1:65536',
                                    '10.0.0.1:abc', '10.0.0.1:-1',
                                    '10.0.0.1:+443', '[fe80::1]:99999'])
def test_refuses_bad_ports(netloc):
    with pytest.raises(InvalidLocation):
        ImageLocation.parse(url(netloc=netloc))


def test_refuses_malformed_ipv6():
    with pytest.raises(InvalidLocation):
        ImageLocation.parse(url(netloc='[fe80::1'))


# Policy ------------------------------------------------------------------

ALLOWED = {('dc1', 'ds1'), ('f1/dc2', 'ds2')}


def policy(host='vc.example.com', port=443, image_dir='/openstack_glance',
           allowed=ALLOWED):
    return location.LocationPolicy(host=host, port=port, image_dir=image_dir,
                                   datastores=lambda: allowed)


def check(policy_, u):
    return policy_.check(ImageLocation.parse(u))


def test_accepts_an_image_of_the_configured_vcenter():
    dsfile = check(policy(), url(netloc='vc.example.com'))
    assert dsfile == paths.DatastoreFile('dc1', 'ds1',
                                         'openstack_glance/' + UUID)


def test_accepts_another_configured_datastore_and_datacenter():
    dsfile = check(policy(), url(netloc='vc.example.com',
                                 query='dcPath=f1%2Fdc2&dsName=ds2'))
    assert (dsfile.datacenter, dsfile.datastore) == ('f1/dc2', 'ds2')


@pytest.mark.parametrize('netloc', ['VC.EXAMPLE.COM', 'Vc.Example.Com:443',
                                    'vc.example.com.'])
def test_host_comparison_ignores_case_and_default_port(netloc):
    assert check(policy(), url(netloc=netloc)).name == UUID


@pytest.mark.parametrize('configured, netloc', [
    ('fe80::1', '[FE80::0:1]'),
    ('[fe80::1]', '[fe80::1]:443'),
    ('FE80:0::1', '[fe80::1]'),
])
def test_ipv6_hosts_are_compared_normalised(configured, netloc):
    assert check(policy(host=configured), url(netloc=netloc)).name == UUID


def test_port_must_match_configured_port():
    p = policy(port=8443)
    assert check(p, url(netloc='vc.example.com:8443')).name == UUID
    with pytest.raises(InvalidLocation, match='vCenter'):
        check(p, url(netloc='vc.example.com'))


@pytest.mark.parametrize('netloc', [
    'other.example.com',
    'vc.example.com.evil.net',
    '10.0.0.2',
    'vc.example.com:8443',
    'vc.example.com:80',
])
def test_refuses_another_vcenter_or_port(netloc):
    with pytest.raises(InvalidLocation, match='vCenter'):
        check(policy(), url(netloc=netloc))


@pytest.mark.parametrize('query', [
    'dcPath=dc1&dsName=ds2',           # datastore of another datacenter
    'dcPath=dc1&dsName=vm-datastore',  # unconfigured datastore
    'dcPath=dc9&dsName=ds1',           # unconfigured datacenter
    'dcPath=f1%2Fdc2%2F..%2Fdc1&dsName=ds2',
    'dcPath=DC1&dsName=ds1',
    'dcPath=dc1&dsName=DS1',
])
def test_refuses_unconfigured_datastores_and_datacenters(query):
    with pytest.raises(InvalidLocation, match='datastore'):
        check(policy(), url(netloc='vc.example.com', query=query))


def test_datastores_are_asked_for_at_every_check():
    allowed = set()
    p = location.LocationPolicy('vc.example.com', 443, '/openstack_glance',
                                datastores=lambda: allowed)
    with pytest.raises(InvalidLocation):
        check(p, url(netloc='vc.example.com'))
    allowed.add(('dc1', 'ds1'))
    assert check(p, url(netloc='vc.example.com')).name == UUID


@pytest.mark.parametrize('path', [
    'vm1/vm1.vmx',                      # a VM's files
    'vm1/vm1-flat.vmdk',
    'other_glance/' + UUID,             # another folder
    'openstack_glance_old/' + UUID,     # prefix of another folder
    'openstack_glance/sub/' + UUID,     # nested dir inside image dir
    'openstack_glance',                 # the image directory itself
    UUID,                               # datastore root
    'x/openstack_glance/' + UUID,
    'openstack_glance/.%s.abc.part' % UUID,  # upload in progress
    'openstack_glance/.hidden',
])
def test_refuses_paths_that_are_not_image_files(path):
    with pytest.raises(InvalidLocation, match='image'):
        check(policy(), url(netloc='vc.example.com', path=path))


@pytest.mark.parametrize('image_dir', ['openstack_glance',
                                       '/openstack_glance/',
                                       '//openstack_glance'])
def test_image_dir_spelling_does_not_matter(image_dir):
    assert check(policy(image_dir=image_dir),
                 url(netloc='vc.example.com')).name == UUID


def test_nested_image_dir():
    p = policy(image_dir='/glance/images')
    assert check(p, url(netloc='vc.example.com',
                        path='glance/images/' + UUID)).name == UUID
    with pytest.raises(InvalidLocation):
        check(p, url(netloc='vc.example.com', path='glance/' + UUID))


@pytest.mark.parametrize('crafted', [
    # A VM's disk on a configured datastore.
    'vsphere://vc.example.com/folder/vm1/vm1-flat.vmdk?dcPath=dc1&dsName=ds1',
    # An image-looking path on a datastore that is not configured.
    'vsphere://vc.example.com/folder/openstack_glance/%s'
    '?dcPath=dc1&dsName=ds-vms' % UUID,
    # Another vCenter with the same inventory names.
    'vsphere://vc2.example.com/folder/openstack_glance/%s'
    '?dcPath=dc1&dsName=ds1' % UUID,
    # Encoded traversal out of the image directory.
    'vsphere://vc.example.com/folder/openstack_glance/%2e%2e/vm1/vm1.vmx'
    '?dcPath=dc1&dsName=ds1',
    'vsphere://vc.example.com/folder/openstack_glance%2F%2E%2E%2Fvm1%2Fvm1'
    '.vmx?dcPath=dc1&dsName=ds1',
    # Traversal hidden in the datacenter path.
    'vsphere://vc.example.com/folder/openstack_glance/%s'
    '?dcPath=dc1%%2F..%%2Fdc9&dsName=ds1' % UUID,
])
def test_crafted_locations_never_reach_the_datastore(crafted):
    with pytest.raises(InvalidLocation):
        check(policy(), crafted)


# Other names of the same vCenter ----------------------------------------

@pytest.mark.parametrize('entry,expected', [
    ('vc.example.com', ('vc.example.com', 443)),
    (' VC.Example.COM. ', ('vc.example.com', 443)),
    ('vc.example.com:8443', ('vc.example.com', 8443)),
    ('10.0.0.5', ('10.0.0.5', 443)),
    ('10.0.0.5:443', ('10.0.0.5', 443)),
    ('[FD00::5]', ('fd00::5', 443)),
    ('[fd00::5]:8443', ('fd00::5', 8443)),
    ('fd00:0::5', ('fd00::5', 443)),
])
def test_parse_host_alias(entry, expected):
    assert location.parse_host_alias(entry, 443) == expected


@pytest.mark.parametrize('entry', [
    '', ':443', 'vc:', 'vc:0', 'vc:65536', 'vc:44x', '[fd00::5', '[]:443',
    '[fd00::5]8443', 'user@vc', 'vc/x', 'vc?x',
])
def test_parse_host_alias_refuses_naming_the_entry(entry):
    with pytest.raises(ValueError, match=re.escape(repr(entry))):
        location.parse_host_alias(entry, 443)


def test_parse_host_aliases_names_the_option_and_skips_blanks():
    assert location.parse_host_aliases(['a', ' ', 'b:80'], 443, 'opt') == (
        ('a', 443), ('b', 80))
    with pytest.raises(ValueError, match="^opt: 'b:x' has an invalid port"):
        location.parse_host_aliases(['a', 'b:x'], 443, 'opt')


def aliased(*aliases):
    return location.LocationPolicy('vc.example.com', 443, '/openstack_glance',
                                   lambda: ALLOWED, aliases=aliases)


@pytest.mark.parametrize('netloc', ['10.0.0.5', '10.0.0.5:443',
                                    'OLD.example.com:8443', '[fd00::5]'])
def test_policy_accepts_aliases(netloc):
    p = aliased(('10.0.0.5', 443), ('old.example.com', 8443),
                ('fd00::5', 443))
    assert check(p, url(netloc=netloc)).name == UUID


@pytest.mark.parametrize('netloc', ['10.0.0.6', '10.0.0.5:8443',
                                    'old.example.com'])
def test_policy_refuses_hosts_that_are_no_alias(netloc):
    p = aliased(('10.0.0.5', 443), ('old.example.com', 8443))
    with pytest.raises(InvalidLocation,
                       match='not the configured vc.example.com:443 nor its '
                             'alias 10.0.0.5:443 nor its alias '
                             'old.example.com:8443$'):
        check(p, url(netloc=netloc))


def test_an_alias_changes_only_the_host_check():
    p = aliased(('10.0.0.5', 443))
    with pytest.raises(InvalidLocation, match='not a configured image'):
        check(p, url(netloc='10.0.0.5', query='dcPath=dc1&dsName=ds2'))
    with pytest.raises(InvalidLocation, match='not an image file'):
        check(p, url(netloc='10.0.0.5', path='vm1/vm1.vmx'))
