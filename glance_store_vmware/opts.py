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

"""Configuration options of the ``vsphere`` Glance store.

Operators keep the ``vmware_*`` option names they know from glance_store's
deprecated in-tree VMware driver.  glance_store registers that driver's
options in ``[glance_store]`` whenever it is installed, and oslo.config
refuses a second definition that differs in any attribute, so while the
in-tree module is importable we reuse its option objects as they are.  New
behaviour gets new option names.
"""

from oslo_config import cfg

STORE_IMAGE_DIR_DEFAULT = '/openstack_glance'


def _own_legacy_opts():
    # Used only when glance_store no longer ships the in-tree driver; same
    # names, types and defaults, so configuration files keep their meaning.
    return [
        cfg.HostAddressOpt(
            'vmware_server_host', sample_default='127.0.0.1',
            help='Address (IP or DNS name) of the vCenter Server.'),
        cfg.StrOpt('vmware_server_username', sample_default='root',
                   help='User name for the vCenter Server.'),
        cfg.StrOpt('vmware_server_password', sample_default='vmware',
                   secret=True,
                   help='Password of ``vmware_server_username``.'),
        cfg.IntOpt('vmware_api_retry_count', default=10, min=1,
                   help='How often a vSphere API call is retried after a '
                        'connection error or server overload.'),
        cfg.IntOpt('vmware_task_poll_interval', default=5, min=1,
                   help='Seconds between polls of a running vSphere task.'),
        cfg.StrOpt('vmware_store_image_dir', default=STORE_IMAGE_DIR_DEFAULT,
                   help='Directory on each datastore that holds the images.'),
        cfg.BoolOpt('vmware_insecure', default=False,
                    deprecated_name='vmware_api_insecure',
                    help='Do not verify the vCenter certificate. Ignored '
                         'when ``vmware_ca_file`` is set.'),
        cfg.StrOpt('vmware_ca_file',
                   sample_default='/etc/ssl/certs/ca-certificates.crt',
                   help='CA bundle that verifies the vCenter certificate.'),
        cfg.MultiStrOpt(
            'vmware_datastores',
            help='Where images may be stored, as '
                 '``<datacenter_path>:<datastore_name>[:<weight>]``; may be '
                 'given several times. The highest weight with enough free '
                 'space wins; equal weights prefer the most free space.'),
    ]


def _legacy_opts():
    try:
        from glance_store._drivers import vmware_datastore
    except ImportError:
        return _own_legacy_opts()
    return list(vmware_datastore._VMWARE_OPTS)


LEGACY_OPTS = _legacy_opts()

NEW_OPTS = [
    cfg.PortOpt(
        'vmware_server_port', default=443, min=1,
        help='TCP port of the vCenter Server (SOAP API and datastore HTTP '
             'access). Locations on another port than 443 carry it in '
             'their URL.'),
    cfg.ListOpt(
        'vmware_server_host_aliases', default=[],
        help='Other names of the vCenter in ``vmware_server_host``, as '
             '``host``, ``host:port`` or ``[ipv6]:port``, that existing '
             'image locations may use: its former address after '
             '``vmware_server_host`` changed from an IP address to its DNS '
             'name, say. Images whose locations name an alias are read '
             'and deleted through ``vmware_server_host``; new images are '
             'always stored under ``vmware_server_host``. Locations naming '
             'any other host are refused. Without a port, an alias takes '
             '``vmware_server_port``.'),
    cfg.IntOpt(
        'vmware_free_space_reserve_mb', default=1024, min=0,
        help='Free space, in MiB, that an upload must leave on a '
             'datastore. A datastore is chosen only if its free space is '
             'at least the image size plus this reserve; for uploads of '
             'unknown size, at least this reserve.'),
    cfg.IntOpt(
        'vmware_http_timeout', default=120, min=1,
        help='Seconds an image transfer through the vCenter datastore '
             'HTTP interface may stall (no byte sent or received) before it '
             'is aborted. Connecting and the first answer are bounded by '
             '``vmware_api_timeout``.'),
    cfg.IntOpt(
        'vmware_api_timeout', default=10, min=1,
        help='Seconds to wait for vCenter to accept a connection or to '
             'answer a request (SOAP API calls, login, the WSDL download, '
             'and the first answer of a datastore HTTP request). A vCenter '
             'that does not answer in time counts as unreachable: the '
             'request fails at once with HTTP 503 instead of being retried, '
             'and while one request waits for it the others fail fast. '
             'Only transient faults (a dropped pooled connection, HTTP 503 '
             'from vCenter) are retried, up to ``vmware_api_retry_count`` '
             'times with sleeps of 0.1 s doubling to 1 s, and never for '
             'longer than this in total. An expired session is renewed and '
             'the call repeated at once.'),
    cfg.IntOpt(
        'vmware_http_pool_size', default=10, min=1,
        help='Connections to the vCenter datastore HTTP interface that are '
             'kept open for reuse.'),
    cfg.IntOpt(
        'vmware_datastore_recheck_interval', default=60, min=1,
        help='Seconds after which a configured datastore or datastore '
             'cluster that could not be found is looked up again. Missing '
             'datastores are logged and skipped; the others stay in use.'),
    cfg.IntOpt(
        'vmware_partial_file_max_age', default=3600, min=1,
        help='Seconds after its last write at which a partial upload '
             '(``.<image id>.<32 hex digits>.part`` directly in '
             '``vmware_store_image_dir``) counts as abandoned by a killed '
             'glance-api or a failed cleanup, and is removed by the store. '
             'Age is the datastore\'s modification time measured against '
             'vCenter\'s clock. An upload in progress keeps writing its '
             'file, and one that stalls is aborted after '
             '``vmware_http_timeout``, which this option must exceed; keep '
             'a wide margin for the final rename and for clock skew '
             'between ESXi hosts and vCenter. Files that this glance-api '
             'process is uploading are never removed.'),
    cfg.IntOpt(
        'vmware_partial_file_sweep_interval', default=600, min=0,
        help='Seconds between two sweeps of a datastore\'s image directory '
             'for abandoned partial uploads, by each glance-api process. '
             'Sweeps run in the background, asked for by uploads, deletes '
             'and start-up, and come back on their own while partial files '
             'younger than ``vmware_partial_file_max_age`` remain or a '
             'sweep failed. With a glance-api running, an abandoned partial '
             'upload is removed at most ``vmware_partial_file_max_age`` plus '
             'this interval after its last write (70 minutes with the '
             'defaults), once vCenter is reachable. 0 turns sweeping off.'),
]

STORE_OPTS = LEGACY_OPTS + NEW_OPTS


# The command line's way to Glance's API, in glance-api.conf: keystoneauth
# options (``keystone_opts``) of a user who may list every image and read
# its locations.
GLANCE_API_GROUP = 'vsphere_glance_api'


def list_opts():
    """oslo.config entry point: the options of ``[glance_store]``, and the
    keystone options the ``glance-store-vmware`` command reads from
    ``[vsphere_glance_api]``."""
    return [('glance_store', [o for o in STORE_OPTS]),
            (GLANCE_API_GROUP, keystone_opts())]


# The Nova side: the compute driver's image handler, in nova.conf.

HANDLER_GROUP = 'vsphere_image_handler'
CINDER_LOCATIONS_GROUP = 'vsphere_image_locations'


def _image_copy_opts(name, *, host_option, service, fallback, waiting,
                     keystone_group, locations_source):
    """The location policy and vCenter options of an image copy, worded
    for the Nova or the Cinder side: ``name(<Nova's name>)`` is the
    option's name there; ``host_option`` names the vCenter; ``service``
    shares its session; ``fallback`` is what the service does without the
    copy; ``waiting`` what a hanging vCenter would hold;
    ``keystone_group`` holds the locations API's credentials;
    ``locations_source`` is where the locations come from without it."""
    return [
        cfg.StrOpt(
            name('image_dir'), default=STORE_IMAGE_DIR_DEFAULT,
            help='Directory on the datastores where Glance\'s vsphere store '
                 'keeps images (the store\'s ``vmware_store_image_dir``). '
                 'Only locations of files directly in this directory are '
                 'copied.'),
        cfg.MultiStrOpt(
            name('image_datastores'), default=[],
            help='Datastores whose image locations may be copied, as '
                 '``<datacenter_path>:<datastore_or_datastore_cluster>``, '
                 'in the format of the store\'s ``vmware_datastores`` (a '
                 'trailing ``:<weight>`` is ignored); may be given several '
                 'times. Empty allows every datastore of the vCenter in '
                 '``%s``.' % host_option),
        cfg.ListOpt(
            name('location_host_aliases'), default=[],
            help='Other names of the vCenter in ``%s``, as ``host`` or '
                 '``host:port``, under which Glance\'s locations may name '
                 'it (e.g. its FQDN when %s uses its address). Locations '
                 'naming any other host are never copied.'
                 % (host_option, service)),
        cfg.BoolOpt(
            name('require_image_id_file_name'), default=True,
            help='Copy a location only if its file is named after the '
                 'image id, as the store writes it. Keeps an image owner '
                 'from adding a location that names another image\'s '
                 'file.'),
        cfg.IntOpt(
            name('vcenter_timeout'), default=30, min=1,
            help='Seconds to wait for vCenter to accept a connection or '
                 'answer a SOAP call of the image copy. %s\'s own vCenter '
                 'session (shared by the copy) has no such limit; this '
                 'driver gives it this one when it has none, so that a '
                 'vCenter that stops answering fails the copy attempt (and '
                 '%s falls back to %s) instead of holding %s for good.'
                 % (service, service, fallback, waiting)),
        cfg.BoolOpt(
            name('use_locations_api'), default=True,
            help='Ask Glance\'s ``GET /v2/images/{id}/locations`` (Glance '
                 '2024.2 or later) for the locations, authenticated with '
                 'the keystone options of ``[%s]`` (a user with the '
                 '``service`` role). Used only when ``auth_type`` is set '
                 'there; if it fails, and otherwise, the locations are %s.'
                 % (keystone_group, locations_source)),
        cfg.BoolOpt(
            name('image_pull'), default=True,
            help='Import streamOptimized and OVA images by having the ESXi '
                 'host pull them from their ``vsphere://`` location '
                 '(vSphere 6.7 or later, ``HttpNfcLeasePullFromUrls_Task``) '
                 'instead of %s pushing every byte into the import lease. '
                 'The location must pass the same checks as a datastore '
                 'copy; the host reads it through vCenter with a one-time '
                 'service ticket for that one file. Where the pull is not '
                 'possible or fails, %s is used, with the reason logged.'
                 % (service, fallback)),
        cfg.IntOpt(
            name('image_pull_timeout'), default=7200, min=1,
            help='Seconds the host may take to pull one image into an '
                 'import lease (see ``%s``) before the import is aborted '
                 'and %s is used.' % (name('image_pull'), fallback)),
    ]

HANDLER_OPTS = _image_copy_opts(
    lambda name: name, host_option='[vmware] host_ip', service='Nova',
    fallback='its Glance download', waiting='the spawn',
    keystone_group=HANDLER_GROUP,
    locations_source='those of the image record, which needs '
                     '``show_image_direct_url`` or '
                     '``show_multiple_locations`` in Glance') + [
    cfg.BoolOpt(
        'search_peer_caches', default=True,
        help='Before asking Glance, look for the image in Nova\'s image '
             'cache on the other datastores of the datacenter and copy it '
             'from there.'),
]


def parse_datastore_entry(entry, option='vmware_datastores'):
    """``datacenter_path:datastore_name[:weight]`` → (dc, name, weight)."""
    parts = [p.strip() for p in entry.rsplit(':', 2)]
    weight = 0
    if len(parts) == 3:
        last = parts[2]
        if not last or last[0].isdigit() or last[0] in '+-':
            # A weight; a typo in it must not silently turn the entry
            # into another datacenter path and datastore name.
            try:
                weight = int(last) if last else 0
            except ValueError:
                raise ValueError(
                    '%s entry %r has an invalid weight %r '
                    '(append ":0" if %r is a datastore name)'
                    % (option, entry, last, last)) from None
            parts = parts[:2]
        else:
            # "dc:name" with a colon inside the datacenter path.
            parts = [p.strip() for p in entry.rsplit(':', 1)]
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise ValueError('%s entry %r must look like '
                         '<datacenter_path>:<datastore_name>[:<weight>]'
                         % (option, entry))
    return parts[0], parts[1], weight


def datastore_entry_texts(values, option='vmware_datastores'):
    """The entries of a multi-valued datastore option as operators wrote
    them: given several times, or several in one value separated by
    commas; stripped, in order."""
    entries = []
    for value in values or []:
        for entry in value.split(','):
            if not entry.strip():
                if ',' in value:
                    raise ValueError('%s value %r has an empty entry between '
                                     'commas' % (option, value))
                continue
            entries.append(entry.strip())
    return entries


def parse_datastore_entries(values, option='vmware_datastores'):
    """Every ``datacenter_path:datastore_name[:weight]`` entry of a
    multi-valued option, as operators write them: given several times,
    or several entries in one value separated by commas.

    Raises ValueError naming ``option`` and the entry at fault.
    """
    return [parse_datastore_entry(entry, option)
            for entry in datastore_entry_texts(values, option)]


# Seconds the handler waits for Glance's locations API (the group's
# keystoneauth ``timeout``, which keystoneauth leaves unbounded).
LOCATIONS_API_TIMEOUT = 10


def keystone_opts():
    """The keystoneauth options of the handler's group: credentials of a
    user with the ``service`` role, and how to reach Glance."""
    from keystoneauth1 import loading as ks_loading
    session_opts = ks_loading.get_session_conf_options()
    for opt in session_opts:
        if opt.name == 'timeout':
            opt.default = LOCATIONS_API_TIMEOUT
    return (session_opts
            + ks_loading.get_auth_common_conf_options()
            + ks_loading.get_auth_plugin_conf_options('password')
            + ks_loading.get_adapter_conf_options(include_deprecated=False))


def register_keystone_opts(conf, group):
    """Register ``keystone_opts`` in ``group`` of ``conf`` the way
    keystoneauth's loaders read them, with Glance as the service and a
    bounded timeout."""
    from keystoneauth1 import loading as ks_loading
    ks_loading.register_session_conf_options(conf, group)
    ks_loading.register_auth_conf_options(conf, group)
    ks_loading.register_adapter_conf_options(conf, group,
                                             include_deprecated=False)
    conf.set_default('service_type', 'image', group=group)
    # keystoneauth waits forever by default.
    conf.set_default('timeout', LOCATIONS_API_TIMEOUT, group=group)


def list_nova_opts():
    """oslo.config entry point: the handler's options in nova.conf."""
    return [(HANDLER_GROUP, list(HANDLER_OPTS) + keystone_opts())]


# The Cinder side: the VMDK volume driver, in each backend section of
# cinder.conf (and [backend_defaults]), as Cinder's own driver options.

def cinder_option_name(name):
    """The Cinder backend option of the image copy's option ``name`` (its
    name in Nova's ``[vsphere_image_handler]``)."""
    return ('vsphere_' + name if name.startswith('image_')
            else 'vsphere_image_' + name)


CINDER_OPTS = _image_copy_opts(
    cinder_option_name,
    host_option='vmware_host_ip', service='Cinder',
    fallback='its upload through the volume node',
    waiting='the volume creation', keystone_group=CINDER_LOCATIONS_GROUP,
    locations_source='those Cinder\'s image service gives (its own '
                     'locations API call with the ``[glance]`` service '
                     'user, else the image\'s ``direct_url``)')


def list_cinder_opts():
    """oslo.config entry point: the volume driver's options in
    cinder.conf."""
    return [('backend_defaults', list(CINDER_OPTS)),
            (CINDER_LOCATIONS_GROUP, keystone_opts())]
