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

"""``glance-store-vmware``: the operator's command.

Sub-commands, one module each: ``check`` (a glance-api.conf or nova.conf
against vCenter), ``orphans`` (what failed uploads and lost images leave
in the image directories) and ``locations`` (Glance's ``vsphere://``
locations as the configured store would read them).  ``main`` parses the
command line the way glance-manage and nova-manage do (oslo.config
sub-commands); ``commands`` holds what ``--help`` shows
(light to import); ``deployment`` reads the services' own configuration
files; ``glance_api`` asks Glance; ``output`` prints tables or JSON.
"""
