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

"""Finding datacenters, datastores and datastore clusters, and their state.

Lookups by name are cached until vCenter says a reference is gone
(``errors.StaleReference``: vCenter restarted, inventory rebuilt, a
datastore removed and added again); then ``forget`` drops them all and the
next lookup asks again.  States (free space, accessibility, maintenance
mode) are always fetched fresh, for many datastores in one
property-collector call.
"""

import dataclasses
import threading

from oslo_vmware import vim_util

from glance_store_vmware.vsphere import errors

DATASTORE_STATE_PROPERTIES = ('name', 'summary.freeSpace',
                              'summary.capacity', 'summary.accessible',
                              'summary.maintenanceMode', 'summary.type')


@dataclasses.dataclass(frozen=True)
class DatastoreState:
    datacenter: str
    name: str
    ref: object
    free_space: int
    capacity: int
    accessible: bool
    maintenance_mode: str

    @property
    def usable(self):
        return self.accessible and self.maintenance_mode in ('normal', None)


class Inventory:
    """Read-only lookups in one vCenter's inventory."""

    def __init__(self, session):
        self._session = session
        self._lock = threading.Lock()
        self._datacenters = {}
        self._datastores = {}

    def forget(self):
        """Drop every cached reference; the next lookups ask vCenter."""
        with self._lock:
            self._datacenters.clear()
            self._datastores.clear()

    def refreshing(self, call):
        """``call()``, repeated once with fresh lookups if a cached
        reference turned out stale."""
        try:
            return call()
        except errors.StaleReference as e:
            self._session.log.info('looking up the inventory again: %s', e)
            self.forget()
            return call()

    def datacenter(self, dc_path):
        """The managed object reference of a datacenter inventory path."""
        with self._lock:
            ref = self._datacenters.get(dc_path)
        if ref is None:
            ref = self._session.invoke(
                'FindByInventoryPath',
                self._session.service_content.searchIndex,
                inventoryPath=dc_path)
            if ref is None or vim_util.get_moref_type(ref) != 'Datacenter':
                raise errors.NotFound('datacenter %r does not exist in '
                                      'vCenter %s' % (dc_path,
                                                      self._session.host))
            with self._lock:
                self._datacenters[dc_path] = ref
        return ref

    def datastores(self, dc_path):
        """``{name: ref}`` of the datastores of a datacenter."""
        with self._lock:
            found = self._datastores.get(dc_path)
        if found is None:
            dc_ref = self.datacenter(dc_path)
            refs = self._session.invoke_util(
                vim_util, 'get_object_property', dc_ref, 'datastore')
            refs = list(getattr(refs, 'ManagedObjectReference', []) or [])
            names = self._properties('Datastore', refs, ['name'])
            found = {props['name']: ref for ref, props in names}
            with self._lock:
                self._datastores[dc_path] = found
        return found

    def resolve(self, dc_path, name):
        """Datastore refs for a datastore or datastore cluster name.

        A datastore cluster (StoragePod) stands for its member datastores.
        """
        stores = self.datastores(dc_path)
        if name in stores:
            return {name: stores[name]}
        members = self._storage_pod_members(dc_path, name)
        if members is None:
            raise errors.NotFound(
                'datacenter %r has no datastore or datastore cluster %r'
                % (dc_path, name))
        by_value = {vim_util.get_moref_value(r): n for n, r in stores.items()}
        return {by_value[vim_util.get_moref_value(r)]: r for r in members
                if vim_util.get_moref_value(r) in by_value}

    def _storage_pod_members(self, dc_path, pod_name):
        # Datastore clusters may sit in sub-folders of the datastore folder.
        dc_ref = self.datacenter(dc_path)
        folder = self._session.invoke_util(
            vim_util, 'get_object_property', dc_ref, 'datastoreFolder')
        pending = [folder]
        while pending:
            children = self._session.invoke_util(
                vim_util, 'get_object_property', pending.pop(), 'childEntity')
            for child in getattr(children, 'ManagedObjectReference', []) or []:
                kind = vim_util.get_moref_type(child)
                if kind == 'Folder':
                    pending.append(child)
                elif kind == 'StoragePod':
                    name = self._session.invoke_util(
                        vim_util, 'get_object_property', child, 'name')
                    if name == pod_name:
                        members = self._session.invoke_util(
                            vim_util, 'get_object_property', child,
                            'childEntity')
                        return list(getattr(members,
                                            'ManagedObjectReference', [])
                                    or [])
        return None

    def states(self, candidates):
        """Fresh states of ``[(dc_path, name, ref)]`` in one call."""
        refs = [ref for _dc, _name, ref in candidates]
        found = {vim_util.get_moref_value(ref): props
                 for ref, props in self._properties(
                     'Datastore', refs, list(DATASTORE_STATE_PROPERTIES))}
        result = []
        for dc_path, name, ref in candidates:
            props = found.get(vim_util.get_moref_value(ref))
            if props is None:
                continue
            result.append(DatastoreState(
                datacenter=dc_path, name=name, ref=ref,
                free_space=int(props.get('summary.freeSpace') or 0),
                capacity=int(props.get('summary.capacity') or 0),
                accessible=bool(props.get('summary.accessible', True)),
                maintenance_mode=props.get('summary.maintenanceMode')))
        return result

    def cluster_datastores(self, name):
        """``{name: ref}`` of the datastores of the compute cluster
        ``name``; NotFound if vCenter has no such cluster."""
        clusters = self._collect(self._session.invoke_util(
            vim_util, 'get_objects', 'ClusterComputeResource', 100,
            ['name', 'datastore']))
        for _ref, props in clusters:
            if props.get('name') == name:
                refs = list(getattr(props.get('datastore'),
                                    'ManagedObjectReference', []) or [])
                return {p['name']: ref for ref, p in self._properties(
                    'Datastore', refs, ['name'])}
        raise errors.NotFound('vCenter %s has no cluster %r'
                              % (self._session.host, name))

    def _properties(self, type_, refs, properties):
        """``[(ref, {property: value})]`` for many objects in one call."""
        if not refs:
            return []
        return self._collect(self._session.invoke_util(
            vim_util, 'get_properties_for_a_collection_of_objects', type_,
            refs, properties))

    def _collect(self, result):
        """Every object of a property collector answer, page by page."""
        found = []
        while result:
            for obj in getattr(result, 'objects', []) or []:
                found.append((obj.obj,
                              vim_util.propset_dict(getattr(obj, 'propSet',
                                                            None))))
            if not getattr(result, 'token', None):
                break
            result = self._session.invoke_util(
                vim_util, 'continue_retrieval', result)
        return found
