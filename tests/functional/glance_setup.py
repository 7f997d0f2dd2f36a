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

"""Configure and load the ``vsphere`` store the way Glance does."""

import glance_store
from glance_store import backend
from glance_store import location as gs_location
from glance_store import multi_backend
from oslo_config import cfg


def datastore_entries(sim, *names, weights=None, dc=None):
    dc_name = sim.datacenter(dc)['name']
    weights = weights or {}
    return ['%s:%s:%d' % (dc_name, n, weights.get(n, 0)) for n in names]


def store_options(sim, datastores, **overrides):
    options = dict(
        vmware_server_host=sim.host,
        vmware_server_port=sim.port,
        vmware_server_username=sim.username,
        vmware_server_password=sim.password,
        vmware_ca_file=sim.ca_file,
        vmware_insecure=False,
        vmware_datastores=datastores,
        vmware_free_space_reserve_mb=0,
    )
    options.update(overrides)
    return options


def single_store(sim, datastores, **overrides):
    """``stores = vsphere`` loaded through glance_store.create_stores."""
    conf = cfg.ConfigOpts()
    glance_store.register_opts(conf)
    conf(args=[], default_config_files=[])
    conf.set_override('stores', ['vsphere'], group='glance_store')
    conf.set_override('default_store', 'vsphere', group='glance_store')
    for name, value in store_options(sim, datastores, **overrides).items():
        conf.set_override(name, value, group='glance_store')
    glance_store.create_stores(conf)
    return conf, backend.get_store_from_scheme('vsphere')


def multi_store(sim, backends):
    """``enabled_backends`` with one ``vsphere`` backend per entry.

    ``backends`` maps a backend id to ``(datastores, overrides)``.
    """
    conf = cfg.ConfigOpts()
    conf(args=[], default_config_files=[])
    conf.register_opt(cfg.DictOpt('enabled_backends'))
    conf.set_override('enabled_backends',
                      {name: 'vsphere' for name in backends})
    multi_backend.register_store_opts(conf)
    conf.set_override('default_backend', sorted(backends)[0],
                      group='glance_store')
    for name, (datastores, overrides) in backends.items():
        for opt, value in store_options(sim, datastores,
                                        **overrides).items():
            conf.set_override(opt, value, group=name)
    multi_backend.create_multi_stores(conf)
    # get_store_from_store_identifier() reads the global CONF; Glance's
    # lookup ends in this map.
    schemes = gs_location.SCHEME_TO_CLS_BACKEND_MAP['vsphere']
    return conf, {name: schemes[name]['store'] for name in backends}


def location_of(conf, uri, backend=None):
    if backend:
        return gs_location.get_location_from_uri_and_backend(uri, backend,
                                                             conf=conf)
    return gs_location.get_location_from_uri(uri, conf=conf)
