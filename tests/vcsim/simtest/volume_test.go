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
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// The calls Cinder's VMDK driver (volumeops.py) makes on volume backings:
// patches 0018-0020 and 0022.

// oneDiskVM completes spec for a VM with one 1 MiB disk on LocalDS_0 and
// returns the pool and folder to create it in.
func (e *env) oneDiskVM(name string, spec *types.VirtualMachineConfigSpec) (*object.ResourcePool, *object.Folder) {
	e.t.Helper()
	finder := find.NewFinder(e.client.Client, false)
	finder.SetDatacenter(e.dc)
	pool, err := finder.DefaultResourcePool(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	folders, _ := e.dc.Folders(e.ctx)

	var devices object.VirtualDeviceList
	scsi, _ := devices.CreateSCSIController("lsilogic")
	devices = append(devices, scsi)
	disk := devices.CreateDisk(scsi.(types.BaseVirtualController), e.ds.Reference(), "")
	disk.CapacityInKB = 1024
	devices = append(devices, disk)
	spec.DeviceChange, _ = devices.ConfigSpec(types.VirtualDeviceConfigSpecOperationAdd)
	spec.Name = name
	spec.GuestId = "otherGuest"
	spec.Files = &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"}
	return pool, folders.VmFolder
}

// createBacking creates a VM like a Cinder volume backing: one 1 MiB disk on
// LocalDS_0 whose -flat extent holds data and whose text descriptor names it.
func (e *env) createBacking(name string, spec types.VirtualMachineConfigSpec, data []byte) (*object.VirtualMachine, *types.VirtualDisk) {
	e.t.Helper()
	pool, folder := e.oneDiskVM(name, &spec)
	tk, err := folder.CreateVM(e.ctx, spec, pool, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := tk.WaitForResult(e.ctx, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	vm := object.NewVirtualMachine(e.client.Client, info.Result.(types.ManagedObjectReference))
	d := e.disk(vm)
	b := d.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
	if data != nil {
		desc, flat := e.localPath(b.FileName), e.localPath(strings.Replace(b.FileName, ".vmdk", "-flat.vmdk", 1))
		text := "# Disk DescriptorFile\nversion=1\ncreateType=\"vmfs\"\n\nRW 2048 VMFS \"" + filepath.Base(flat) + "\"\n"
		if err = os.WriteFile(desc, []byte(text), 0600); err != nil {
			e.t.Fatal(err)
		}
		if err = os.WriteFile(flat, data, 0600); err != nil {
			e.t.Fatal(err)
		}
	}
	return vm, d
}

// disk returns the (only) virtual disk of vm, as a client reads it.
func (e *env) disk(vm *object.VirtualMachine) *types.VirtualDisk {
	e.t.Helper()
	var o mo.VirtualMachine
	if err := vm.Properties(e.ctx, vm.Reference(), []string{"config.hardware.device"}, &o); err != nil {
		e.t.Fatal(err)
	}
	disks := object.VirtualDeviceList(o.Config.Hardware.Device).SelectByType((*types.VirtualDisk)(nil))
	if len(disks) != 1 {
		e.t.Fatalf("%s has %d disks", vm.Reference(), len(disks))
	}
	return disks[0].(*types.VirtualDisk)
}

// localPath maps "[LocalDS_n] dir/file" to the simulator's file.
func (e *env) localPath(dsPath string) string {
	var p object.DatastorePath
	if !p.FromString(dsPath) {
		e.t.Fatalf("bad datastore path %q", dsPath)
	}
	finder := find.NewFinder(e.client.Client, false)
	finder.SetDatacenter(e.dc)
	ds, err := finder.Datastore(e.ctx, p.Datastore)
	if err != nil {
		e.t.Fatal(err)
	}
	dir := simulator.Map.Get(ds.Reference()).(*simulator.Datastore).Info.GetDatastoreInfo().Url
	return filepath.Join(dir, p.Path)
}

func (e *env) findAllByUuid(uuid string, vmSearch, instanceUuid bool) []string {
	e.t.Helper()
	c := e.client.Client
	res, err := methods.FindAllByUuid(e.ctx, c, &types.FindAllByUuid{This: *c.ServiceContent.SearchIndex,
		Uuid: uuid, VmSearch: vmSearch, InstanceUuid: types.NewBool(instanceUuid)})
	if err != nil {
		e.t.Fatal(err)
	}
	var refs []string
	for _, ref := range res.Returnval {
		refs = append(refs, ref.Value)
	}
	sort.Strings(refs)
	return refs
}

// 0018: SearchIndex.FindAllByUuid, as volumeops.get_backing_by_uuid calls it.
func TestFindAllByUuid(t *testing.T) {
	e := setup(t)
	const bios = "11111111-2222-3333-4444-555555555555"
	a, _ := e.createBacking("vol-a", types.VirtualMachineConfigSpec{Uuid: bios, InstanceUuid: "aaaaaaaa-0000-0000-0000-000000000001"}, nil)
	b, _ := e.createBacking("vol-b", types.VirtualMachineConfigSpec{Uuid: bios, InstanceUuid: "bbbbbbbb-0000-0000-0000-000000000002"}, nil)

	if got := e.findAllByUuid("bbbbbbbb-0000-0000-0000-000000000002", true, true); len(got) != 1 || got[0] != b.Reference().Value {
		t.Errorf("by instance uuid: %v, want [%s]", got, b.Reference().Value)
	}
	want := []string{a.Reference().Value, b.Reference().Value}
	sort.Strings(want)
	if got := e.findAllByUuid(bios, true, false); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("by BIOS uuid: %v, want %v", got, want)
	}
	if got := e.findAllByUuid(bios, true, true); len(got) != 0 {
		t.Errorf("a BIOS uuid matched as instance uuid: %v", got)
	}
	if got := e.findAllByUuid("no-such-uuid", true, true); len(got) != 0 {
		t.Errorf("unknown uuid: %v", got)
	}
	finder := find.NewFinder(e.client.Client, false)
	finder.SetDatacenter(e.dc)
	hosts, err := finder.HostSystemList(e.ctx, "*/*")
	if err != nil {
		t.Fatal(err)
	}
	var h mo.HostSystem
	if err = hosts[0].Properties(e.ctx, hosts[0].Reference(), []string{"summary.hardware"}, &h); err != nil {
		t.Fatal(err)
	}
	if got := e.findAllByUuid(h.Summary.Hardware.Uuid, false, false); len(got) != 1 || got[0] != hosts[0].Reference().Value {
		t.Errorf("host by uuid: %v, want [%s]", got, hosts[0].Reference().Value)
	}
	// FindByUuid still answers one of them.
	c := e.client.Client
	one, err := methods.FindByUuid(e.ctx, c, &types.FindByUuid{This: *c.ServiceContent.SearchIndex, Uuid: bios, VmSearch: true})
	if err != nil || one.Returnval == nil {
		t.Fatalf("FindByUuid: %v %v", one, err)
	}
}

// 0019: CloneVM_Task copies the source disks, honouring the relocate spec's
// datastore and disk locator (volumeops.clone_backing with a disk type).
func TestCloneCopiesDisks(t *testing.T) {
	e := setup(t)
	data := bytes.Repeat([]byte("volume data "), 1000)
	data = append(data, make([]byte, 2<<20)...) // a zero tail: stays a hole
	data = append(data, "end"...)
	src, srcDisk := e.createBacking("vol-src", types.VirtualMachineConfigSpec{}, data)
	srcName := srcDisk.Backing.(*types.VirtualDiskFlatVer2BackingInfo).FileName

	finder := find.NewFinder(e.client.Client, false)
	finder.SetDatacenter(e.dc)
	ds1, err := finder.Datastore(e.ctx, "LocalDS_1")
	if err != nil {
		t.Fatal(err)
	}
	folders, _ := e.dc.Folders(e.ctx)
	clone := func(name string, spec types.VirtualMachineCloneSpec) *object.VirtualMachine {
		t.Helper()
		tk, err := src.Clone(e.ctx, folders.VmFolder, name, spec)
		if err != nil {
			t.Fatal(err)
		}
		info, err := tk.WaitForResult(e.ctx, nil)
		if err != nil {
			t.Fatalf("clone %s: %v", name, err)
		}
		return object.NewVirtualMachine(e.client.Client, info.Result.(types.ManagedObjectReference))
	}
	check := func(vm *object.VirtualMachine, ds string, thin, eager bool) {
		t.Helper()
		d := e.disk(vm)
		b := d.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
		if !strings.HasPrefix(b.FileName, "["+ds+"] ") || b.FileName == srcName {
			t.Errorf("clone disk %q, want a new file on %s", b.FileName, ds)
		}
		if b.ThinProvisioned == nil || *b.ThinProvisioned != thin || b.EagerlyScrub == nil || *b.EagerlyScrub != eager {
			t.Errorf("clone disk thinProvisioned %v eagerlyScrub %v, want %v %v", b.ThinProvisioned, b.EagerlyScrub, thin, eager)
		}
		if d.CapacityInKB != srcDisk.CapacityInKB {
			t.Errorf("clone capacity %d KB, want %d", d.CapacityInKB, srcDisk.CapacityInKB)
		}
		flat := e.localPath(strings.Replace(b.FileName, ".vmdk", "-flat.vmdk", 1))
		if got, _ := os.ReadFile(flat); !bytes.Equal(got, data) {
			t.Errorf("clone extent holds %d bytes, not the source's %d", len(got), len(data))
		}
		desc, _ := os.ReadFile(e.localPath(b.FileName))
		if !strings.Contains(string(desc), `RW 2048 VMFS "`+filepath.Base(flat)+`"`) {
			t.Errorf("clone descriptor does not name its own extent:\n%s", desc)
		}
	}

	// Full clone on the source datastore, no conversion: thin as the source.
	if b := srcDisk.Backing.(*types.VirtualDiskFlatVer2BackingInfo); !*b.ThinProvisioned || *b.EagerlyScrub {
		t.Fatalf("source disk is not thin: %v %v", *b.ThinProvisioned, *b.EagerlyScrub)
	}
	plain := clone("vol-plain", types.VirtualMachineCloneSpec{})
	check(plain, "LocalDS_0", true, false)

	// Full clone to another datastore, converted to eagerZeroedThick
	// (Cinder's disk type change: the locator's backing says the type).
	dsRef := ds1.Reference()
	thick := clone("vol-thick", types.VirtualMachineCloneSpec{Location: types.VirtualMachineRelocateSpec{
		Datastore:    &dsRef,
		DiskMoveType: string(types.VirtualMachineRelocateDiskMoveOptionsMoveAllDiskBackingsAndDisallowSharing),
		Disk: []types.VirtualMachineRelocateSpecDiskLocator{{
			DiskId:          srcDisk.Key,
			Datastore:       dsRef,
			DiskBackingInfo: &types.VirtualDiskFlatVer2BackingInfo{EagerlyScrub: types.NewBool(true), DiskMode: "persistent"},
		}},
	}})
	check(thick, "LocalDS_1", false, true)

	// The source keeps its disk and bytes.
	d := e.disk(src)
	if name := d.Backing.(*types.VirtualDiskFlatVer2BackingInfo).FileName; name != srcName {
		t.Errorf("source disk renamed to %q by the clone", name)
	}
	if got, _ := os.ReadFile(e.localPath(strings.Replace(srcName, ".vmdk", "-flat.vmdk", 1))); !bytes.Equal(got, data) {
		t.Error("source extent changed by the clone")
	}
	// The zero tail stayed sparse.
	var st syscall.Stat_t
	flat := strings.Replace(e.disk(thick).Backing.(*types.VirtualDiskFlatVer2BackingInfo).FileName, ".vmdk", "-flat.vmdk", 1)
	if err = syscall.Stat(e.localPath(flat), &st); err != nil || st.Blocks*512 >= int64(len(data)) {
		t.Errorf("clone extent fully allocated (%d bytes for %d): %v", st.Blocks*512, len(data), err)
	}
}

// 0020: ExtendVirtualDisk_Task grows the device of the VM using the disk
// (volumeops.extend_virtual_disk, then get_disk_size reads capacityInKB).
func TestExtendGrowsDevice(t *testing.T) {
	e := setup(t)
	vm, d := e.createBacking("vol-x", types.VirtualMachineConfigSpec{}, []byte("data"))
	other, _ := e.createBacking("vol-y", types.VirtualMachineConfigSpec{}, []byte("data"))
	c := e.client.Client
	dcRef := e.dc.Reference()
	name := d.Backing.(*types.VirtualDiskFlatVer2BackingInfo).FileName
	res, err := methods.ExtendVirtualDisk_Task(e.ctx, c, &types.ExtendVirtualDisk_Task{This: *c.ServiceContent.VirtualDiskManager,
		Name: name, Datacenter: &dcRef, NewCapacityKb: 4096})
	if _, err = e.wait(res.Returnval, err); err != nil {
		t.Fatal(err)
	}
	if got := e.disk(vm); got.CapacityInKB != 4096 || got.CapacityInBytes != 4096*1024 {
		t.Errorf("device after extend: %d KB, %d bytes; want 4096 KB", got.CapacityInKB, got.CapacityInBytes)
	}
	if got := e.disk(other); got.CapacityInKB != 1024 {
		t.Errorf("another VM's disk grew to %d KB", got.CapacityInKB)
	}
	if st, err := os.Stat(e.localPath(strings.Replace(name, ".vmdk", "-flat.vmdk", 1))); err != nil || st.Size() != 4096*1024 {
		t.Errorf("extent after extend: %v %v", st, err)
	}
	// A failed extend (shrink) leaves the device alone.
	res, err = methods.ExtendVirtualDisk_Task(e.ctx, c, &types.ExtendVirtualDisk_Task{This: *c.ServiceContent.VirtualDiskManager,
		Name: name, Datacenter: &dcRef, NewCapacityKb: 2048})
	if _, err = e.wait(res.Returnval, err); err == nil {
		t.Fatal("shrinking a disk succeeded")
	}
	if got := e.disk(vm); got.CapacityInKB != 4096 {
		t.Errorf("device after a failed extend: %d KB", got.CapacityInKB)
	}
}

// 0022: DeleteVirtualDisk_Task of a single-file hosted sparse disk deletes
// that file (Cinder's temporary disk of a sparse image); a flat disk whose
// -flat extent is missing still fails.
func TestDeleteSparseDisk(t *testing.T) {
	e := setup(t)
	c := e.client.Client
	dcRef := e.dc.Reference()
	vdm := *c.ServiceContent.VirtualDiskManager
	if err := os.MkdirAll(filepath.Join(e.dsDir, "tmp"), 0700); err != nil {
		t.Fatal(err)
	}
	sparse := filepath.Join(e.dsDir, "tmp", "sparse.vmdk")
	if err := os.WriteFile(sparse, append([]byte("KDMV"), make([]byte, 508)...), 0600); err != nil {
		t.Fatal(err)
	}
	desc := filepath.Join(e.dsDir, "tmp", "flat.vmdk")
	text := "# Disk DescriptorFile\nversion=1\ncreateType=\"vmfs\"\n\nRW 2048 VMFS \"flat-flat.vmdk\"\n"
	if err := os.WriteFile(desc, []byte(text), 0600); err != nil {
		t.Fatal(err)
	}
	del := func(name string) error {
		res, err := methods.DeleteVirtualDisk_Task(e.ctx, c, &types.DeleteVirtualDisk_Task{This: vdm, Name: name, Datacenter: &dcRef})
		_, err = e.wait(res.Returnval, err)
		return err
	}

	if err := del("[LocalDS_0] tmp/sparse.vmdk"); err != nil {
		t.Fatalf("deleting a sparse disk: %v", err)
	}
	if _, err := os.Stat(sparse); !os.IsNotExist(err) {
		t.Errorf("the sparse disk is still there: %v", err)
	}
	if err := del("[LocalDS_0] tmp/flat.vmdk"); err == nil {
		t.Error("deleting a flat disk without its extent succeeded")
	}
}
