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

"""A vCenter session with the objects every user of it builds on it:
the inventory, datastore file operations and ``/folder`` HTTP access.

The store and the command line make their own session; Nova and Cinder
each keep one logged-in oslo.vmware session, which the copies share
instead of opening a second one (``VCenter.sharing``).
"""

import dataclasses

from glance_store_vmware.vsphere import files as files_mod
from glance_store_vmware.vsphere import inventory as inventory_mod
from glance_store_vmware.vsphere import session as session_mod
from glance_store_vmware.vsphere import transfer


@dataclasses.dataclass(frozen=True)
class VCenter:
    """A session with its inventory, file operations and HTTP access."""

    session: object
    inventory: object
    files: object
    http: object

    @classmethod
    def on(cls, session, *, poll_interval, pool_size=10, http_timeout=120):
        """Bound to ``session``; ``poll_interval`` bounds the back-off
        between two polls of a task, ``pool_size`` and ``http_timeout``
        are the ``/folder`` connection pool and body stall limit."""
        inventory = inventory_mod.Inventory(session)
        files = files_mod.DatastoreFiles(session, inventory,
                                         max_poll_interval=poll_interval)
        return cls(session, inventory, files, transfer.DatastoreHTTP(
            session, pool_size=pool_size, timeout=http_timeout))

    @classmethod
    def sharing(cls, api_session, host, *, port, ca_file, insecure,
                timeout, poll_interval):
        """Bound to ``api_session`` (oslo.vmware's ``VMwareAPISession``).

        ``timeout`` bounds each SOAP call of a session that has no limit
        (oslo.vmware's default); ``poll_interval`` bounds the back-off
        between two polls of a task, so that a copy is seen finished as
        soon as the owner would see any task finished.
        """
        session = session_mod.Session.from_api(
            api_session, host, port=port, ca_file=ca_file,
            insecure=insecure, timeout=timeout)
        return cls.on(session, poll_interval=poll_interval)

    def close(self):
        self.http.close()
