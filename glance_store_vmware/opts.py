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
    cfg.IntOpt(
        'vmware_free_space_reserve_mb', default=1024, min=0,
        help='Free space, in MiB, that an upload must leave on a '
             'datastore. A datastore is chosen only if its free space is '
             'at least the image size plus this reserve; for uploads of '
             'unknown size, at least this reserve.'),
    cfg.IntOpt(
        'vmware_http_timeout', default=120, min=1,
        help='Seconds to wait for the vCenter datastore HTTP interface to '
             'connect or to send the next bytes of a response before the '
             'transfer is aborted.'),
    cfg.IntOpt(
        'vmware_http_pool_size', default=10, min=1,
        help='Connections to the vCenter datastore HTTP interface that are '
             'kept open for reuse.'),
    cfg.IntOpt(
        'vmware_datastore_recheck_interval', default=60, min=1,
        help='Seconds after which a configured datastore or datastore '
             'cluster that could not be found is looked up again. Missing '
             'datastores are logged and skipped; the others stay in use.'),
]

STORE_OPTS = LEGACY_OPTS + NEW_OPTS


def list_opts():
    """oslo.config entry point: the options of ``[glance_store]``."""
    return [('glance_store', [o for o in STORE_OPTS])]
