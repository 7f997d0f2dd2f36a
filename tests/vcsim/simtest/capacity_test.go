// Licensed under the Apache License, Version 2.0 (the "License"); you may
// not use this file except in compliance with the License. You may obtain
// a copy of the License at
//
//      http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
// WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
// License for the specific language governing permissions and limitations
// under the License.

package simtest

import (
	"testing"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// 0025: an imported disk has the capacity of what was imported.

// leaseVM is the VM of an import lease (read while the lease exists).
func (e *env) leaseVM(lease types.ManagedObjectReference) types.ManagedObjectReference {
	e.t.Helper()
	var l mo.HttpNfcLease
	pc := property.DefaultCollector(e.client.Client)
	if err := pc.RetrieveOne(e.ctx, lease, []string{"info"}, &l); err != nil {
		e.t.Fatal(err)
	}
	return l.Info.Entity
}

// diskCapacity is the capacity of the VM's one disk, in bytes and in KB.
func (e *env) diskCapacity(vm types.ManagedObjectReference) (int64, int64) {
	e.t.Helper()
	var m mo.VirtualMachine
	pc := property.DefaultCollector(e.client.Client)
	if err := pc.RetrieveOne(e.ctx, vm, []string{"config.hardware.device"}, &m); err != nil {
		e.t.Fatal(err)
	}
	for _, d := range m.Config.Hardware.Device {
		if disk, ok := d.(*types.VirtualDisk); ok {
			return disk.CapacityInBytes, disk.CapacityInKB
		}
	}
	e.t.Fatal("no disk")
	return 0, 0
}

func TestImportedDiskCapacity(t *testing.T) {
	e := setup(t)
	stream, disk := streamVector(t), streamDisk()
	sectors := int64(len(disk)+511) / 512

	lease, _ := e.importLease("sized")
	vm := e.leaseVM(lease)
	if status := upload(t, e.nfcURL(lease), stream, len(stream)); status != 200 {
		t.Fatalf("upload: %d", status)
	}
	if got, _ := e.diskCapacity(vm); got == sectors*512 {
		t.Fatalf("capacity %d before HttpNfcLeaseComplete", got)
	}
	e.complete(lease)
	if inBytes, inKB := e.diskCapacity(vm); inBytes != sectors*512 || inKB != sectors/2 {
		t.Errorf("capacity %d bytes, %d KB; want %d, %d", inBytes, inKB, sectors*512, sectors/2)
	}

	// An aborted import keeps the spec's.
	lease, _ = e.importLease("unsized")
	vm = e.leaseVM(lease)
	before, _ := e.diskCapacity(vm)
	if status := upload(t, e.nfcURL(lease), stream, len(stream)); status != 200 {
		t.Fatalf("upload: %d", status)
	}
	e.abort(lease)
	if after, _ := e.diskCapacity(vm); after != before {
		t.Errorf("aborted import: capacity %d, was %d", after, before)
	}
}
