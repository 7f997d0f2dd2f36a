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

"""What Nova and Cinder share to make disks from images inside vSphere.

``image`` describes a Glance image; ``policy`` decides which of its
``vsphere://`` locations may be copied; ``discovery`` asks Glance for the
locations; ``engine`` copies datastore files, size-checked, leaving nothing
behind on failure; ``pull`` has the ESXi host fill an import lease from
the location (streamOptimized and OVA images; ``ova`` finds an OVA's
disk); they work on ``vsphere.connection.VCenter.sharing``, a session
another component (Nova, Cinder) already logged in.  Nothing here
imports Nova or Cinder.
"""
